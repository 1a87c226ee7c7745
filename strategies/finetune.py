"""Finetune (naive): SGD on each experience in turn, no protection against forgetting.

The lower bound of every continual-learning table; the base class does all the work.
No paper, no settings of its own. Notes: docs/strategies/finetune.md.
"""

from strategies.base import Strategy


class Finetune(Strategy):
    pass

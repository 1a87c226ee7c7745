"""Source model, no adaptation: the reference of continual test-time adaptation (CTTA).

The model is trained on the scenario's clean, labelled source data before the stream (or
loaded from `backbone.checkpoint` with `train.epochs=0`) and then predicts every corruption
domain unchanged. Every CTTA method (e.g. CoTTA, VDP) is measured against it.
"""

from scenarios.base import Experience
from strategies.base import Strategy


class Source(Strategy):
    def train_epochs(self, exp: Experience) -> int:
        return 0  # never adapts to the stream

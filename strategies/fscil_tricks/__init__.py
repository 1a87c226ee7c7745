"""FSCIL bag of tricks (see strategies/fscil_tricks/strategy.py)."""

from strategies.fscil_tricks.strategy import (
    TRICKS,
    FscilTricks,
    FscilTricksParams,
    pseudo_mix,
    rotation_batch,
    simplex_etf,
    sparse_masks,
    supcon_loss,
)

__all__ = [
    "TRICKS",
    "FscilTricks",
    "FscilTricksParams",
    "pseudo_mix",
    "rotation_batch",
    "simplex_etf",
    "sparse_masks",
    "supcon_loss",
]

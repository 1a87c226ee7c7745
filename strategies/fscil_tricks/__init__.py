"""A bag of tricks for FSCIL (Roy, Park, Fahrezi, Etemad, "A Bag of Tricks for Few-Shot
Class-Incremental Learning", arXiv 2403.14392, TMLR 2024). No public code, and only the
abstract and the trick names could be read: section numbers are not cited, and every loss
weight and schedule is our choice unless it is the cited source method's default.

Baseline (the paper's "incremental-frozen", all switches off): train the encoder on the base
session with a cosine classifier, freeze it, classify by the cosine to class-mean prototypes.
Each trick is a switch `strategy.<trick>=true|false` (the paper's names; our realisations):
- `supcon`: SupCon (Khosla et al. 2020, Eq. 2) on a projection head; one view: our choice;
- `etf`: fixed simplex-ETF classifier rows in base training;
- `pseudo_classes`: extra classes of 50/50 input mixes of class pairs (our choice);
- `subnet`: incremental tuning of the smallest-magnitude weights only (our choice);
- `rotation`: a 4-way rotation pretext head (our choice of weight and labels).
Self-supervised pre-training is not implemented. Files: losses.py (pure functions),
strategy.py (the class). Notes: docs/strategies/fscil-tricks.md.
"""

from strategies.fscil_tricks.losses import (
    pseudo_mix,
    rotation_batch,
    simplex_etf,
    sparse_masks,
    supcon_loss,
)
from strategies.fscil_tricks.strategy import TRICKS, FscilTricks, FscilTricksParams

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

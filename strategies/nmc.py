"""NMC: nearest class mean on a frozen backbone (Janson, Zhang, Aljundi, Elhoseiny, "A Simple
Baseline that Questions the Use of Pretrained-Models in Continual Learning", NeurIPS 2022
workshop, arXiv 2210.04428, Sec. 3: the baseline; code: Pauljanson002/pretrained-cl).

The backbone is never trained (`backbone.checkpoint` gives its weights). Each sample's
feature is L2-normalised (the paper's code); per class the running feature sums and counts
accumulate across experiences, and the class mean is not re-normalised. Prediction: the
nearest class mean in Euclidean distance over the classes seen so far (the paper;
`strategy.metric=cosine`, our option: highest cosine similarity). No exemplars, no training
steps (0 epochs: the runner skips the fit), a single head. DDP: strategies/prototypes.py.
The paper's ViT-B/16: backbone.name=vit_base_patch16_224.augreg_in21k backbone.pretrained=true.
Notes: docs/strategies/nmc.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.prototypes import (
    FeatureCache,
    PrototypeTable,
    encode_class_sums,
    nearest_cosine,
    nearest_euclidean,
)

METRICS = {"euclidean": nearest_euclidean, "cosine": nearest_cosine}


@dataclass
class NMCParams(StrategyParams):
    metric: str = "euclidean"  # euclidean (the paper) | cosine
    normalize: bool = True  # L2-normalise each feature before averaging (the paper's code)
    encode_batch_size: int = 256
    cache_features: bool = True  # memoise test features (the backbone never changes)


class NMC(Strategy):
    Params = NMCParams
    search_space = {}  # nothing is trained: nothing to tune
    defaults = {"train": {"epochs": 0}}  # nothing to train: shown as such in the record

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.metric not in METRICS:
            raise ClbenchError(
                f"unknown strategy.metric '{self.params.metric}'; valid: {', '.join(METRICS)}"
            )
        self.head = nn.Identity()  # no linear head: the class means classify
        self.requires_grad_(False)
        self.table = PrototypeTable(self.num_classes, self.feature_dim)
        self.cache = FeatureCache(self.encode, self.params.cache_features)

    def train(self, mode: bool = True) -> NMC:
        super().train(mode)
        self.backbone.eval()  # frozen: batch-norm statistics never move
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        return F.normalize(f, dim=1) if self.params.normalize else f

    def train_epochs(self, exp: Experience) -> int:
        return 0

    def get_extra_state(self) -> dict[str, Any]:  # the class sums survive a resume
        return {"sums": self.table.sums, "counts": self.table.counts}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.table.sums = state["sums"].to(torch.float64).clone()
        self.table.counts = state["counts"].to(torch.float64).clone()

    def after_experience(self, exp: Experience) -> None:
        x, y = exp.train.tensors[0], exp.train.tensors[1]
        self.backbone.eval()
        sums, counts = encode_class_sums(
            self.encode,
            x,
            y,
            self.num_classes,
            self.feature_dim,
            self.params.encode_batch_size,
            self.device,
            self.inputs,
        )
        self.table.add_sums(sums, counts)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        nearest = METRICS[self.params.metric]
        return nearest(self.cache(x), self.table.means(), self.table.seen)

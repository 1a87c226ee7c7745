"""iCaRL (Rebuffi, Kolesnikov, Sperl, Lampert, CVPR 2017, Sec. 2, Algorithms 1-5).

A memory of K exemplars, m = K / (classes seen) per class (Alg. 2): after training on an
experience, each old class keeps the first m of its exemplars (Alg. 5) and each new class gets
m chosen by herding (Alg. 4) on L2-normalised features. Training (Alg. 3) is on the
experience's data together with the exemplars, with binary cross-entropy on sigmoid outputs:
one-hot targets, except on the classes of earlier experiences, where the targets are the
sigmoid outputs of the network before this experience (`frozen_copy`). Classification
(Alg. 1): the nearest mean of exemplars, features and means L2-normalised (Sec. 2.1).
Our choices: m = floor(K / classes seen), so the memory never exceeds K (the authors' code
and Avalanche round up); herding picks each sample at most once; the BCE covers all outputs
of the single head (the authors' code), summed over them as in Alg. 3 (the code averages);
no flipped exemplars in the means (the paper's flip suits natural images, not digits); under
DDP every process encodes the whole experience, so herding and means agree everywhere.
Notes: docs/strategies/icarl.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset, TensorDataset

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.prototypes import class_sums, nearest_euclidean


def herding_order(features: torch.Tensor, m: int) -> torch.Tensor:
    """Alg. 4: indices of min(m, n) rows of `features` [n, d] in the order herding picks them.

    With mu the mean of the rows, the k-th pick is the row not yet picked that minimises
    ||mu - (f + sum of the k-1 rows picked) / k||; ties go to the lowest index.
    """
    f = features.detach().to("cpu", torch.float64)
    mu, total = f.mean(0), torch.zeros(f.shape[1], dtype=torch.float64)
    free = torch.ones(len(f), dtype=torch.bool)
    picked: list[int] = []
    for k in range(1, min(m, len(f)) + 1):
        gap = ((mu - (total + f) / k) ** 2).sum(1).masked_fill(~free, float("inf"))
        i = int(gap.argmin())  # the first minimum
        picked.append(i)
        free[i] = False
        total += f[i]
    return torch.tensor(picked, dtype=torch.long)


def icarl_targets(
    y: torch.Tensor, num_classes: int, old_probs: torch.Tensor | None, old: list[int]
) -> torch.Tensor:
    """Alg. 3's targets: one-hot of `y`, with the columns of the old classes replaced by
    the previous network's sigmoid outputs `old_probs` [N, num_classes]."""
    t = F.one_hot(y, num_classes).float()
    if old_probs is not None and old:
        t[:, old] = old_probs[:, old].to(t)
    return t


def icarl_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of sigmoid(logits) against `targets`: summed over the outputs
    (Alg. 3's sum over classes), mean over the samples."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return bce.sum(dim=1).mean()


class ExemplarMemory:
    """Exemplars (x, y); the rows of a class are contiguous and in herding order."""

    def __init__(self) -> None:
        self.x: torch.Tensor | None = None
        self.y = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def reduce(self, m: int) -> None:
        """Alg. 5: keep the first m exemplars of every class."""
        if self.x is None:
            return
        keep = torch.zeros(len(self.y), dtype=torch.bool)
        for c in self.y.unique().tolist():
            keep[(self.y == c).nonzero().squeeze(1)[:m]] = True
        self.x, self.y = self.x[keep], self.y[keep]

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x = x.clone() if self.x is None else torch.cat([self.x, x])
        self.y = torch.cat([self.y, y.to(torch.long)])

    def state(self) -> dict[str, torch.Tensor]:
        return {"x": torch.empty(0) if self.x is None else self.x, "y": self.y}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        self.x = None if state["x"].numel() == 0 else state["x"]
        self.y = state["y"]


class _Planned(Dataset):
    """Stands in for a later experience's training data when the step plan asks ahead of the
    stream: it has the length the data will have; reading it is an error."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        raise RuntimeError("icarl: the exemplars of this experience are not chosen yet")


@dataclass
class ICaRLParams(StrategyParams):
    buffer_size: int = 200  # K, the exemplars in all (the name and default of replay's buffer)
    encode_batch_size: int = 256


class ICaRL(Strategy):
    Params = ICaRLParams
    fidelity: ClassVar[dict[str, str]] = {
        "exemplars": "paper Alg. 2, 4, 5: herding on normalised features; m = floor(K/t) ours",
        "training": "paper Alg. 3: BCE, old-class targets from the previous network",
        "bce_scope": "all outputs of one head (authors' code), summed (Alg. 3), batch mean",
        "classifier": "paper Alg. 1: nearest mean of exemplars; no flipped copies (ours)",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.buffer_size < 1 or self.params.encode_batch_size < 1:
            raise ClbenchError("strategy.buffer_size and strategy.encode_batch_size must be >= 1")
        self.old = self.frozen_copy()  # the network at the end of the previous experience
        self.memory = ExemplarMemory()
        self.memory_experiences = 0  # the memory holds the classes of this many experiences
        self.register_buffer("class_means", torch.zeros(self.num_classes, self.feature_dim))
        self.register_buffer("seen", torch.zeros(self.num_classes, dtype=torch.bool))

    def get_extra_state(self) -> dict[str, Any]:
        return {"memory": self.memory.state(), "experiences": self.memory_experiences}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.memory.load(state["memory"])
        self.memory_experiences = int(state["experiences"])

    def classes_before(self, index: int) -> list[int]:
        return sorted({c for e in self.stream[:index] for c in e.classes})

    def planned_memory(self, index: int) -> int:
        """Exemplars in the memory after the experiences before `index`: min(m, n_c) each."""
        old = self.classes_before(index)
        if not old:
            return 0
        m = self.params.buffer_size // len(old)
        labels = torch.cat([e.train.tensors[1] for e in self.stream[:index]])
        counts = torch.bincount(labels.long(), minlength=self.num_classes)
        return sum(min(m, int(counts[c])) for c in old)

    def train_dataset(self, exp: Experience) -> Dataset:
        if self.memory_experiences != exp.index:  # asked ahead (step plan): the length only
            return _Planned(len(exp.train) + self.planned_memory(exp.index))
        if len(self.memory) != self.planned_memory(exp.index):  # the plan would be wrong
            raise ClbenchError("icarl: the memory does not hold the exemplars it should")
        if not len(self.memory):
            return exp.train
        assert self.memory.x is not None
        return ConcatDataset([exp.train, TensorDataset(self.memory.x, self.memory.y)])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)

    @torch.no_grad()
    def encode_all(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised features of every row of `x` (on the CPU), in eval mode."""
        b = self.params.encode_batch_size
        parts = [self.encode(self.inputs(x[s : s + b])).cpu() for s in range(0, len(x), b)]
        return torch.cat(parts)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.augment(x)
        old = self.classes_before(self.experience_index or 0)
        probs = torch.sigmoid(self.old(x)) if old and bool(self.old.ready) else None
        return icarl_loss(self(x), icarl_targets(y, self.num_classes, probs, old))

    def after_experience(self, exp: Experience) -> None:
        old = self.classes_before(exp.index)
        if set(old) & set(exp.classes):
            raise ClbenchError("icarl needs every class in one experience only (class-il)")
        m = self.params.buffer_size // (len(old) + len(exp.classes))
        was_training = self.training
        self.eval()
        self.memory.reduce(m)
        x, y = exp.train.tensors[0], exp.train.tensors[1]
        features = self.encode_all(x)  # every process encodes all of it: the same herding
        for c in sorted(exp.classes):
            rows = (y == c).nonzero().squeeze(1)
            if len(rows) and m:
                chosen = rows[herding_order(features[rows], m)]
                self.memory.add(x[chosen], y[chosen])
        self.memory_experiences = exp.index + 1
        self.update_means()
        self.train(was_training)
        self.old.refresh(self.backbone, self.head)

    @torch.no_grad()
    def update_means(self) -> None:
        """Alg. 1: each class's mean of its exemplars' normalised features, re-normalised."""
        if self.memory.x is None:
            return
        sums, counts = class_sums(self.encode_all(self.memory.x), self.memory.y, self.num_classes)
        means = F.normalize((sums / counts.clamp(min=1).unsqueeze(1)).float(), dim=1)
        self.class_means.copy_(means)
        self.seen.copy_(counts > 0)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return nearest_euclidean(self.encode(x), self.class_means, self.seen)

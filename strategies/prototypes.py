"""Prototype machinery shared by prototype-based strategies (NMC, TEEN).

- `PrototypeTable`: per-class feature sums and counts, updated incrementally as data arrive.
- `nearest_euclidean`, `nearest_cosine`, `cosine_logits`: nearest-prototype classifiers as
  pure functions.
- `FeatureCache`: features of a frozen encoder memoised per input sample, so each sample is
  encoded once however many sessions evaluate it.
- `encode_class_sums`: the per-class sums and counts of one experience, the same with 1 or N
  DDP processes.

Our choice for DDP: each process encodes a disjoint shard (positions rank, rank+W, ...) and
the float64 sums and counts are all-reduced. The table is then the same on every process and
equals the single-process table up to float64 rounding (the order of additions differs),
far below float32 resolution of the means; encoding is split N ways, which matters for the
large frozen backbones these methods are meant for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from clbench.distributed import all_reduce_sum, world_rank

if TYPE_CHECKING:  # the strategies import this module
    from clbench.stream import Experience
    from strategies.base import Strategy


class PrototypeTable:
    """Per-class running feature sums and counts (float64); means on demand.

    Sums accumulate across sessions, so the means do not depend on how a class's samples
    are split into batches or sessions, nor on their order (up to float64 rounding).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        self.sums = torch.zeros(num_classes, dim, dtype=torch.float64)
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def add(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch of features with their class labels."""
        sums, counts = class_sums(features, labels, len(self.counts))
        self.add_sums(sums, counts)

    def add_sums(self, sums: torch.Tensor, counts: torch.Tensor) -> None:
        self.sums += sums.to(self.sums)
        self.counts += counts.to(self.counts)

    @property
    def seen(self) -> torch.Tensor:
        """Boolean mask of the classes with at least one sample."""
        return self.counts > 0

    def means(self) -> torch.Tensor:
        """Class means, float32, [C, d]; rows of unseen classes are zero."""
        return (self.sums / self.counts.clamp(min=1).unsqueeze(1)).float()


def class_sums(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class feature sums [C, d] and counts [C], float64, on the CPU."""
    f = features.detach().to("cpu", torch.float64)
    y = labels.to("cpu", torch.long)
    sums = torch.zeros(num_classes, f.shape[1], dtype=torch.float64).index_add_(0, y, f)
    counts = torch.bincount(y, minlength=num_classes).to(torch.float64)
    return sums, counts


@torch.no_grad()
def encode_class_sums(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    dim: int,
    batch_size: int,
    device: torch.device,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums [C, dim] and counts [C] of `encode(x)` over all DDP processes; `prepare`
    turns a raw batch into model input on `device` (default: moved there; `Strategy.inputs`).

    Every process must call this (it all-reduces); each encodes its shard x[rank::world],
    which may be empty when a session has fewer samples than processes.
    """
    world, rank = world_rank()
    prepare = prepare or (lambda t: t.to(device))
    x, y = x[rank::world], y[rank::world]
    sums = torch.zeros(num_classes, dim, dtype=torch.float64)
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for s in range(0, len(x), batch_size):
        bs, bc = class_sums(
            encode(prepare(x[s : s + batch_size])), y[s : s + batch_size], num_classes
        )
        sums += bs
        counts += bc
    return all_reduce_sum(sums), all_reduce_sum(counts)


def experience_class_means(model: Strategy, exp: Experience, batch_size: int) -> torch.Tensor:
    """Float32 means [len(exp.classes), dim] of the model's backbone features of each class
    of `exp`'s training data, in eval mode, exact over all DDP processes."""
    model.backbone.eval()
    x, y = exp.train.tensors[0], exp.train.tensors[1]
    sums, counts = encode_class_sums(
        model.backbone,
        x,
        y,
        model.num_classes,
        model.feature_dim,
        batch_size,
        model.device,
        model.inputs,
    )
    return (sums[exp.classes] / counts[exp.classes].clamp(min=1).unsqueeze(1)).float()


def _masked(scores: torch.Tensor, valid: torch.Tensor | None, fill: float) -> torch.Tensor:
    if valid is None:
        return scores
    return scores.masked_fill(~valid.to(scores.device).unsqueeze(0), fill)


def nearest_euclidean(
    features: torch.Tensor, protos: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Index of the prototype nearest in Euclidean distance; `valid` masks the candidates."""
    d = torch.cdist(features.float(), protos.to(features.device).float())
    return _masked(d, valid, float("inf")).argmin(dim=1)


def cosine_logits(
    features: torch.Tensor,
    protos: torch.Tensor,
    temperature: float = 1.0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """temperature * cos(feature, prototype) [N, C]; masked classes get -inf."""
    cos = (
        F.normalize(features.float(), dim=1)
        @ F.normalize(protos.to(features.device).float(), dim=1).T
    )
    return _masked(temperature * cos, valid, float("-inf"))


def nearest_cosine(
    features: torch.Tensor, protos: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Index of the prototype of highest cosine similarity; `valid` masks the candidates."""
    return cosine_logits(features, protos, 1.0, valid).argmax(dim=1)


class FeatureCache:
    """Features of a frozen encoder, memoised per input sample (keyed by a digest of its bytes).

    Only valid while the encoder does not change: a strategy enables it once its backbone
    is frozen. Features are kept on the CPU; `encoded` counts the samples actually encoded.
    `enabled=False` encodes every input every time (the reference code's pattern; for
    benchmarks, or when the test features would not fit in memory).
    """

    def __init__(
        self, encode: Callable[[torch.Tensor], torch.Tensor], enabled: bool = True
    ) -> None:
        self.encode = encode
        self.enabled = enabled
        self._store: dict[bytes, torch.Tensor] = {}
        self.encoded = 0

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def keys(x: torch.Tensor) -> list[bytes]:
        rows = x.detach().cpu().contiguous().view(len(x), -1).numpy()
        head = f"{x.dtype}{tuple(x.shape[1:])}".encode()
        return [hashlib.blake2b(head + r.tobytes(), digest_size=16).digest() for r in rows]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            self.encoded += len(x)
            return self.encode(x)
        keys = self.keys(x)
        missing = [i for i, k in enumerate(keys) if k not in self._store]
        if missing:
            new = self.encode(x[missing]).detach().cpu()
            self.encoded += len(missing)
            for i, f in zip(missing, new, strict=True):
                self._store.setdefault(keys[i], f)
        return torch.stack([self._store[k] for k in keys]).to(x.device)

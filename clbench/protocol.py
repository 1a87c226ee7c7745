"""The training protocol of a run, decided once from the config and the scenario.

One place answers what the runner and the strategies must agree on: the global batch size of
the training loader, whether the stream is online (every sample seen once, in small batches:
`scenario.online=true`), whether batches keep the stored order (CTTA domains), the accuracy
target of time-to-result, and the labelled source data trained on before the stream (CTTA).
`epochs()` turns what a strategy asks to train into what is trained, and `steps()` counts the
optimizer steps of it, so the LR schedule's step plan and the training loop cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Protocol:
    batch_size: int  # global: split evenly across DDP processes
    online: bool = False  # one pass over each experience (OnPro's protocol)
    online_epochs: int = 1
    shuffle: bool = True  # False: batches in the stored order (CTTA: CoTTA's protocol)
    target: float | None = None  # scenario.target_accuracy (time-to-result)
    source: Callable[[], Any] | None = None  # labelled source data before the stream (CTTA)

    @classmethod
    def of(cls, cfg: Any, info: dict[str, Any]) -> Protocol:
        """The protocol of a run's config and its scenario's `info`."""
        online = info.get("online")
        return cls(
            batch_size=int(online["batch_size"]) if online else int(cfg.train.batch_size),
            online=bool(online),
            online_epochs=int(online["epochs"]) if online else 1,
            shuffle=not bool(info.get("keep_order", False)),
            target=cfg.scenario.get("target_accuracy"),
            source=info.get("source_train"),
        )

    def epochs(self, requested: int) -> int:
        """Epochs trained on an experience for which a strategy asks `requested` (0: skip)."""
        if self.online and requested > 0:
            return self.online_epochs
        return requested

    def steps(self, n_samples: int, epochs: int) -> int:
        """Optimizer steps of `epochs` passes over `n_samples` in global batches. Under DDP
        each of W processes takes ceil(n / W) samples in batches of batch_size / W, which is
        the same count: ceil(ceil(n / W) / (b / W)) = ceil(n / b)."""
        return epochs * math.ceil(n_samples / self.batch_size)

"""ER-ACE: experience replay with the asymmetric cross-entropy (Caccia et al., ICLR 2022, "New
Insights on Reducing Abrupt Representation Change in Online Continual Learning", Sec. 4).

The paper's: the incoming batch's cross-entropy sees only the logits of the classes present
in it, so new classes do not push the old ones down; the replayed batch's sees every class
seen so far. Buffer and replay draws are `replay`'s (strategies/replay.py).
Our choices: plain cross-entropy on the first experience (as the authors' code and
Avalanche); "present" is of the global batch under DDP; "seen" is the classes of the
experiences so far, the current one included; the loss is the mean over the joint batch
(Avalanche's average of the two terms; the authors sum them); each experience enters the
reservoir before training on it (as Avalanche's ER_ACE); under `scenario.online=true` each
batch enters after its step instead (the paper's stream buffer). Class-incremental only: in domain-incremental streams every class is in
every experience, so there are no new classes to shield the old ones from.
Notes: docs/strategies/er-ace.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from clbench.distributed import gather_interleaved
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.replay import Replay


def masked_cross_entropy(logits: torch.Tensor, y: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each row over its kept columns only (`keep`: bool, the shape of
    `logits` or broadcast to it); every label must be kept in its row."""
    keep = keep.expand_as(logits)
    return F.cross_entropy(logits.masked_fill(~keep, torch.finfo(logits.dtype).min), y)


def ace_keep(
    present: torch.Tensor, seen: torch.Tensor, n_current: int, n_replayed: int
) -> torch.Tensor:
    """The kept logits of a joint batch: `present` classes (bool, one per class) for the first
    `n_current` rows, `seen` ones for the `n_replayed` rows after them."""
    rows = [present.expand(n_current, -1), seen.expand(n_replayed, -1)]
    return torch.cat(rows)


class ERACE(Replay):
    fidelity: ClassVar[dict[str, str]] = {
        "incoming": "paper: cross-entropy over the classes present in the incoming batch",
        "replayed": "paper: cross-entropy over every class seen so far",
        "first_experience": "our choice (authors' code, Avalanche): plain cross-entropy",
        "buffer": "our choice (as Avalanche): reservoir, each experience added before it",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.buffer_policy != "reservoir":
            raise ClbenchError("er-ace replays from a reservoir: strategy.buffer_policy=reservoir")

    def classes_mask(self, classes: torch.Tensor | list[int], device: torch.device) -> torch.Tensor:
        mask = torch.zeros(self.num_classes, dtype=torch.bool, device=device)
        mask[torch.as_tensor(classes, dtype=torch.long, device=device)] = True
        return mask

    def seen_classes(self) -> list[int]:
        """Classes of the experiences so far, the current one included."""
        so_far = self.stream[: (self.experience_index or 0) + 1]
        return sorted({c for e in so_far for c in e.classes})

    def online(self) -> bool:
        protocol = getattr(self, "protocol", None)  # set by plan_stream
        return bool(protocol is not None and protocol.online)

    def before_experience(self, exp: Experience) -> None:
        # The current experience enters the buffer before training on it (as in Avalanche's
        # ER_ACE): the replayed CE is the only term that ranks new classes against old ones.
        # Online, that would replay samples not streamed yet: each batch enters after its step.
        if not self.online():
            super().after_experience(exp)

    def after_experience(self, exp: Experience) -> None:
        pass  # the buffer already holds exp

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gy = gather_interleaved(y)  # the global batch's labels
        if not self.experience_index:  # the first experience: nothing to shield, no replay
            loss = F.cross_entropy(self(self.augment(x)), y)
        else:
            n = len(y)
            present = self.classes_mask(gy.unique(), y.device)
            seen = self.classes_mask(self.seen_classes(), y.device)
            xj, yj = self.with_replayed(x, y)
            logits = self(self.augment(xj))  # replayed samples augmented too, as in replay
            loss = masked_cross_entropy(logits, yj, ace_keep(present, seen, n, len(yj) - n))
        if self.online():  # the paper's stream buffer: this batch, after its replay draw
            self.buffer.add(gather_interleaved(x).cpu(), gy.cpu(), self.rng("buffer-order"))
        return loss

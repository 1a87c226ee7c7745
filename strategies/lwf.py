"""Learning without Forgetting (Li and Hoiem, ECCV 2016 / TPAMI 2018, Sec. 3).

After every experience the model is copied and frozen (`frozen_copy`, in the state_dict).
While training on a later experience, the loss is the cross-entropy on the new labels plus
alpha times a distillation term that keeps the new model's outputs on the classes of earlier
experiences close to the frozen copy's, on the same (augmented) inputs (Sec. 3, Eq. 2-4):
both logits are softened with temperature T and compared by KL divergence (the paper writes
a cross-entropy to the softened old outputs: the same gradient). The paper's lambda_o = 1
and T = 2 are the defaults. Our choice, as Avalanche's LwF: one head over all classes
(class- or domain-incremental), and "old outputs" are the classes seen before the current
experience; no warm-up of new head rows (the paper's optional step).
Notes: docs/strategies/lwf.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Scenario
from strategies.base import Strategy


def distillation(new: torch.Tensor, old: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(old / T) || softmax(new / T)), summed over classes, mean over samples."""
    log_p = F.log_softmax(new / temperature, dim=1)
    q = F.softmax(old / temperature, dim=1)
    return F.kl_div(log_p, q, reduction="batchmean")


@dataclass
class LwFParams(StrategyParams):
    alpha: float = 1.0  # lambda_o: weight of the distillation term (the paper's 1)
    temperature: float = 2.0  # T (the paper's 2)


class LwF(Strategy):
    Params = LwFParams

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.alpha < 0 or self.params.temperature <= 0:
            raise ClbenchError("strategy.alpha must be >= 0 and strategy.temperature > 0")
        self.old = self.frozen_copy()  # the model at the end of the previous experience

    def old_classes(self) -> list[int]:
        """Classes of the experiences before the current one."""
        earlier = self.stream[: self.experience_index or 0]
        return sorted({c for e in earlier for c in e.classes})

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.augment(x)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        old = self.old_classes()
        if bool(self.old.ready) and old and self.params.alpha > 0:
            target = self.old(x)[:, old]
            loss = loss + self.params.alpha * distillation(
                logits[:, old], target, self.params.temperature
            )
        return loss

    def after_experience(self, exp: Any) -> None:
        self.old.refresh(self.backbone, self.head)

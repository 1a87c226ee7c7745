"""OCM: Online Continual Learning through Mutual Information Maximization (Guo, Liu, Zhao,
ICML 2022; code gydpku/OCM at 7be9dfe). Online class-incremental (`scenario.online=true
scenario.batch_size=10`), one step per stream batch, on OnPro's shared part
(strategies/onpro/contrast.py: projection, reservoir buffer, view A, L_INS over rotation
pseudo-classes, exact DDP). Per step, as the code's test_<dataset>.py: experience 1: CE on
A(x) + L_INS(x); later: CE on A(memory batch) + L_INS(x) + L_INS(memory batch) + the contrast
of the current against the previous experience's model on the rotated memory batch
(`previous_model_contrast`, the paper's knowledge preservation) + (CIFAR scripts only) the MSE
between the two models' logits of the old classes. Reservoir update after the step; one Adam
(lr 1e-3, betas (0.9, 0.99), wd 1e-4). `strategy.script` picks the MNIST or the CIFAR-10
script's weights and view (auto: by channels). Our choices: the previous model in eval mode,
"old" classes by experience, exact DDP. Notes: docs/strategies/ocm.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clbench.stream import Experience, Scenario
from strategies.frozen import FrozenCopy
from strategies.onpro.contrast import InstanceContrast
from strategies.onpro.ddp import gather_global_batch
from strategies.onpro.losses import rotation_views
from strategies.onpro.params import ContrastParams

# The authors' per-dataset scripts: L_INS similarity scale on experience 1 and after it, the
# weight of the old-class logit MSE, and the view A (test_mnist.py, test_cifar10.py)
SCRIPTS: dict[str, dict[str, Any]] = {
    "mnist": dict(ins_lambda_first=0.5, ins_lambda=0.5, logit_distill=0.0, augment="mnist"),
    "cifar10": dict(ins_lambda_first=1.0, ins_lambda=0.5, logit_distill=1.0, augment="paper"),
}


def previous_model_contrast(
    current: torch.Tensor, previous: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """OCM's Supervised_NT_xent_pre: rows z_i of the current model, columns z'_j of the previous
    one (both (n, d), normalised), S = −log softmax_row(z z'ᵀ / T); the mean over rows of the
    mean of S over the columns with the row's label (the same image included)."""
    s = -torch.log_softmax(current @ previous.t() / temperature, dim=1)
    same = (labels.unsqueeze(0) == labels.unsqueeze(1)).to(s.dtype)
    return ((same / same.sum(1, keepdim=True)) * s).sum(1).mean()


@dataclass
class OCMParams(ContrastParams):
    script: str = "auto"  # mnist | cifar10 | auto (mnist for 1-channel images): SCRIPTS
    ins_lambda_first: float | None = None  # None: the script's
    ins_lambda: float | None = None
    logit_distill: float | None = None


class OCM(InstanceContrast):
    Params = OCMParams
    rng_name = "ocm"
    defaults = {
        "train": {
            "optimizer": "adam",
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "betas": [0.9, 0.99],
            "optimizer_state": "keep",
        }
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        channels = tuple(scenario.input_shape)[0]
        name = cfg.strategy.script
        name = ("mnist" if channels == 1 else "cifar10") if name == "auto" else name
        self.script = {**SCRIPTS.get(name, {}), "name": name}
        for key in ("ins_lambda_first", "ins_lambda", "logit_distill"):
            if getattr(cfg.strategy, key) is not None:
                self.script[key] = float(getattr(cfg.strategy, key))
        super().__init__(cfg, scenario)
        self.previous = self.frozen_copy()  # backbone + head of the previous experience
        self.previous_projector = FrozenCopy(self.projector, nn.Identity())  # its projection
        self.seen_before = torch.zeros(self.num_classes, dtype=torch.bool)

    def checks(self) -> list[tuple[str, bool, str]]:
        s = self.script
        return [
            ("script", s["name"] in SCRIPTS, f"auto or one of {', '.join(SCRIPTS)}"),
            *super().checks(),
            ("buffer_size", self.params.buffer_size >= 1, ">= 1"),
            ("ins_lambda", s.get("ins_lambda", 0) > 0 and s.get("ins_lambda_first", 0) > 0, "> 0"),
            ("logit_distill", s.get("logit_distill", 0) >= 0, ">= 0"),
        ]

    def augment_preset(self, shape: tuple[int, ...]) -> str:
        return self.script["augment"] if self.params.augment == "auto" else self.params.augment

    def before_experience(self, exp: Experience) -> None:
        super().before_experience(exp)
        self.seen_before = self.seen.clone()  # the old classes of this experience

    def after_experience(self, exp: Experience) -> None:
        # the code: Previous_model = deepcopy(Basic_model) after every experience
        self.previous.refresh(self.backbone, self.head)
        self.previous_projector.refresh(self.projector, nn.Identity())

    # -- the step ----------------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = gather_global_batch(x, y)
        dev, p, s = x.device, self.params, self.script
        self.seen[y.cpu()] = True
        if self._exp_index == 0 or not bool(self.previous.ready):
            ins, _ = self._ins(x, y, s["ins_lambda_first"], exclude_self=True)
            loss = F.cross_entropy(self(self._view(x)), y) + ins
        else:
            b = min(p.mem_batch_size, p.mem_per_class * int(self.seen.sum()))
            mx, my = self._sample(b)
            mx, my = mx.to(dev), my.to(dev)
            ins_s, _ = self._ins(x, y, s["ins_lambda"], exclude_self=True)
            ins_m, z = self._ins(mx, my, s["ins_lambda"], exclude_self=False)
            loss = ins_s + ins_m + self._preserve(mx, my, z[: len(z) // 2])
            logits = self(self._view(mx))
            loss = loss + F.cross_entropy(logits, my)
            old = self.seen_before.nonzero().flatten().to(dev)
            if s["logit_distill"] > 0 and len(old):
                before = self.previous(self._view(mx))  # its own draw of A, as the code
                mse = F.mse_loss(before[:, old], logits[:, old])
                loss = loss + s["logit_distill"] * mse
        # the reservoir update after the step, from the global batch: the same on every process
        self.buffer.add(x.detach().cpu(), y.cpu(), self._gen)
        self._step += 1
        return loss

    def _preserve(self, mx: torch.Tensor, my: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """`previous_model_contrast` on the rotated memory batch; z: the current model's
        projections of those rotations (unaugmented, `_ins`'s first half)."""
        v = max(self.params.ins_views, 1)
        with torch.no_grad():
            f = self.previous.backbone(rotation_views(mx, v))
            before = F.normalize(self.previous_projector(f), dim=1)
        pseudo = torch.cat([my + self.num_classes * i for i in range(v)])
        return previous_model_contrast(z, before, pseudo, self.params.ins_temperature)

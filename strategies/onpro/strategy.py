"""The OnPro strategy: OPE + APF + OCM's L_INS over a reservoir buffer, one step per stream
batch (summary: strategies/onpro/__init__.py; pure functions: losses.py, apf.py, ddp.py;
settings: params.py; notes and every choice: docs/strategies/onpro.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from clbench.stream import Scenario
from strategies.onpro.apf import allocate_pairs, inbatch_mixup_lambdas, mix, pair_probabilities
from strategies.onpro.contrast import InstanceContrast
from strategies.onpro.ddp import gather_global_batch
from strategies.onpro.losses import (
    class_prototypes,
    mixup_cross_entropy,
    prototype_contrast_loss,
)
from strategies.onpro.params import OnProParams


class OnPro(InstanceContrast):
    """OnPro (Wei et al., ICCV 2023): OPE + APF + OCM's L_INS over a reservoir buffer."""

    Params = OnProParams
    rng_name = "onpro"
    # the code: one Adam for the whole stream, betas (0.9, 0.99), not torch's default 0.999
    defaults = {
        "train": {
            "optimizer": "adam",
            "lr": 5e-4,
            "weight_decay": 1e-4,
            "betas": [0.9, 0.99],
            "optimizer_state": "keep",
        }
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        # (classes, μ) of the latest memory batch; recomputed every step, so not saved
        self._mu: tuple[torch.Tensor, torch.Tensor] | None = None

    def checks(self) -> list[tuple[str, bool, str]]:
        p = self.params
        return [
            *super().checks(),
            ("mixup_base_rate", 0 <= p.mixup_base_rate <= 1, "in [0, 1]"),
            ("mixup_p", 0 <= p.mixup_p <= 1, "in [0, 1]"),
            ("mixup_upper", 0 <= p.mixup_lower <= p.mixup_upper <= 1, ">= mixup_lower, <= 1"),
            ("mixup_alpha", p.mixup_alpha > 0, "> 0"),
            ("proto_temperature", p.proto_temperature > 0, "> 0"),
        ]

    # -- pieces ------------------------------------------------------------------------
    def _ope(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor | None = None):
        """L_pro of a batch over (x, A(x)), and the raw prototypes (classes, p, p̂).
        `z` (2n, d): projections of [x; A(x)] already computed."""
        if z is None:
            z = self._embed(torch.cat([x, self._view(x)]))[1]
        n = len(x)
        classes, p1 = class_prototypes(z[:n], y)
        _, p2 = class_prototypes(z[n:], y)
        return prototype_contrast_loss(p1, p2, self.params.proto_temperature), classes, p1, p2

    def _apf(
        self, mx: torch.Tensor, my: torch.Tensor, classes: torch.Tensor, mu: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """APF memory batch (x, ya, yb, λ) from the memory batch and the prototypes μ."""
        p, g = self.params, self._gen
        assert self.buffer.y is not None and self.buffer.x is not None
        b = len(mx)
        buf_y = self.buffer.y[: len(self.buffer)]
        # buffer rows of each class of μ; μ comes from the previous step's memory batch, and
        # the reservoir update since may have removed a class from the buffer
        members = [(buf_y == c).nonzero().flatten() for c in classes.tolist()]
        present = [k for k, m in enumerate(members) if len(m)]
        n_base = b if len(classes) < 2 or not present else int(b * p.mixup_base_rate)
        # in-batch mixup of n_base memory samples (the code's kornia RandomMixUpV2)
        pick = torch.randperm(b, generator=g)[:n_base]
        bx, by = mx[pick], my[pick]
        partner, lam = inbatch_mixup_lambdas(n_base, p.mixup_p, p.mixup_lower, p.mixup_upper, g)
        xs, yas, ybs, lams = [mix(bx, bx[partner], lam)], [by], [by[partner]], [lam]
        n_pairs = b - n_base
        if n_pairs:
            pairs, probs = pair_probabilities(mu.detach().double().cpu())
            counts = allocate_pairs(probs, n_pairs, g)
            rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=g)))
            for pair, c in zip(pairs.tolist(), counts.tolist(), strict=True):
                if c == 0:
                    continue
                # a class no longer in the buffer is replaced by a random class of μ that is
                # (the code: APF.make_mix_pair), labels included
                i, j = (
                    k
                    if len(members[k])
                    else present[int(torch.randint(len(present), (), generator=g))]
                    for k in pair
                )
                sel = [
                    members[k][torch.randint(len(members[k]), (c,), generator=g)] for k in (i, j)
                ]
                if float(torch.rand((), generator=g)) < p.mixup_p:  # one draw per pair
                    lam = torch.from_numpy(rng.beta(p.mixup_alpha, p.mixup_alpha, c)).float()
                else:
                    lam = torch.zeros(c)
                xs.append(mix(self.buffer.x[sel[0]], self.buffer.x[sel[1]], lam))
                yas.append(torch.full((c,), int(classes[i])))
                ybs.append(torch.full((c,), int(classes[j])))
                lams.append(lam)
        return torch.cat(xs), torch.cat(yas), torch.cat(ybs), torch.cat(lams)

    # -- the step ----------------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = gather_global_batch(x, y)
        dev, p = x.device, self.params
        self.seen[y.cpu()] = True
        first_step = self._step == 0
        if self._exp_index == 0:
            # experience 1 (code's train_task0): CE on A(x) + L_INS + L_OPE
            ins, z = self._ins(x, y, 1.0, exclude_self=True)
            ope = self._ope(x, y, self.unrotated(z, len(x)))[0]
            if len(self.buffer):
                n = p.mem_batch_size  # the code: whole buffer or 64, no per-class cap here
                mx, my = self._sample(n)
                ope = ope + self._ope(mx.to(dev), my.to(dev))[0]
            ce = F.cross_entropy(self(self._view(x)), y)
        else:
            b = min(p.mem_batch_size, p.mem_per_class * int(self.seen.sum()))
            mx, my = self._sample(b)
            mx, my = mx.to(dev), my.to(dev)
            if first_step or self._mu is None:  # the code: no APF on an experience's 1st step
                ax, ya, yb, lam = mx, my, my, torch.zeros(len(my))
                ins_labels = my.float()
            else:
                ax, ya, yb, lam = self._apf(mx.cpu(), my.cpu(), *self._mu)
                ax, ya, yb = ax.to(dev), ya.to(dev), yb.to(dev)
                # the code's contrastive labels of mixed samples: (1 − λ) ya + λ yb
                ins_labels = ((1 - lam) * ya.cpu() + lam * yb.cpu()).to(dev)
            lam = lam.to(dev)
            ins_s, z = self._ins(x, y, p.ins_lambda, exclude_self=True)
            ins_m, _ = self._ins(ax, ins_labels, p.ins_lambda, exclude_self=False)
            ce = mixup_cross_entropy(self(self._view(ax)), ya, yb, lam)
            ope_m, classes, p1, p2 = self._ope(mx, my)
            self._mu = (classes.cpu(), ((p1 + p2) / 2).detach().cpu())
            ope = self._ope(x, y, self.unrotated(z, len(x)))[0] + ope_m
            ins = ins_s + ins_m
        # the reservoir update after the step, from the global batch: the same on every process
        self.buffer.add(x.detach().cpu(), y.cpu(), self._gen)
        self._step += 1
        return ce + ins + ope

"""A bag of tricks for FSCIL (Roy, Park, Fahrezi, Etemad, "A Bag of Tricks for Few-Shot
Class-Incremental Learning", arXiv 2403.14392, published in TMLR 2024; v2 counts six tricks in
three groups, v1 eight). No public code. Only the abstract and the trick names (v2) could be
read here, not the method sections (searched again on 2026-11-29: arXiv HTML v1/v2, ar5iv,
aggregators and reviews; only the first page of each is stored), so section numbers are not
cited and every loss weight and schedule below is our choice unless it is the cited source
method's default. What else could be checked, none of it a default: a reproducibility
checklist quoting the paper (acmrep2026.k117.org) confirms the CEC protocol (CIFAR-100 and
miniImageNet 60 base classes then 5-way 5-shot sessions, CUB-200 100 base classes then 10-way
5-shot) and says the losses and the SubNet masks are given as equations, without pseudocode;
third-party summaries of v2 (sciencestack.ai, themoonlight.io; not the paper) call the
pre-assigned prototypes an ETF and the pre-training contrastive self-supervised learning, which
agrees with the choices below but is no source for their details. v1's two extra tricks are
not named anywhere we could read.

Baseline ("incremental-frozen", the paper's starting point; all switches off): train the encoder on
the base session with a cosine classifier (logits T * cos, T = 16 as in TEEN's CIFAR setting),
freeze it, and classify every class by the cosine to its prototype, the mean raw feature of
its training data (base: all data; novel: the shots). Each trick is a switch,
`strategy.<trick>=true|false`, so a sweep can ablate them one at a time:

Stability tricks (base session)
- `supcon`: + supcon_weight * SupCon (Khosla et al. 2020, Eq. 2, "L_out") on the normalised
  output of a 2-layer projection head, temperature supcon_tau (0.1, Khosla's default). Our
  choices: one view per sample (positives = other samples of the class in the batch), weight
  1.0, local batch under DDP (no all-gather).
- `etf`: pre-assigned prototypes: the classifier rows of all classes (and pseudo-classes) are
  a fixed simplex ETF (`simplex_etf`, pairwise cosine -1/(K-1)), never trained, so base
  training pulls features towards targets that leave room for the novel classes. Prediction
  still uses class-mean prototypes (our choice: novel features are not trained to their
  targets unless `subnet` tunes the encoder).
- `pseudo_classes`: n_pseudo extra classifier rows; in each base batch, inputs of two
  different classes are mixed 50/50 (`pseudo_mix`) and labelled with the pseudo-class of that
  class pair. Our choice (FACT-style virtual classes by input mixup), weight 1.0.

Adaptability trick (incremental sessions)
- `subnet`: incremental SubNet tuning: in each incremental session only a sparse subnetwork of
  the encoder trains, for subnet_epochs at subnet_lr (plain SGD, so weights outside the mask
  stay bit-identical): the subnet_ratio fraction of smallest-magnitude entries of every
  weight matrix or kernel, chosen once after the base session (`sparse_masks`; our choice,
  after SoftNet's "minor" subnetwork: the large weights that carry base knowledge stay fixed).
  Loss: cosine cross-entropy against the fixed prototypes of all seen classes (novel ones from
  their shots before tuning); after tuning, the novel prototypes are recomputed. Batch-norm
  statistics stay frozen; earlier prototypes are never recomputed (no old data).

Training tricks
- `rotation`: rotation pretext task in base training: every image is also seen rotated by
  90, 180 and 270 degrees (`rotation_batch`) and an auxiliary head predicts the joint label
  4y + r (rotation_weight 1.0, our choice). Needs square images.
- self-supervised pre-training of the encoder: NOT implemented (no switch); the closest
  substitute is `backbone.checkpoint` with weights pre-trained elsewhere.

All switches on is the paper's full method, less self-supervised pre-training. Per-trick gains
of the paper are not reproduced here (its tables could not be read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from scenarios.base import Experience, Scenario
from strategies.base import Strategy
from strategies.prototypes import (
    FeatureCache,
    cosine_logits,
    experience_class_means,
)

# -- pure math ----------------------------------------------------------------------------


def simplex_etf(k: int, d: int, seed: int = 0) -> torch.Tensor:
    """K unit vectors in R^d [k, d] with pairwise cosine -1/(k-1) (a simplex equiangular
    tight frame): sqrt(k/(k-1)) * U (I - 11^T/k), U a seeded random [d, k] orthonormal basis."""
    if k < 2 or d < k:
        raise ClbenchError(
            f"strategy.etf needs at least 2 classes and a feature dimension >= the number of "
            f"classes and pseudo-classes ({k}); the backbone gives {d}"
        )
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    centred = torch.eye(k, dtype=torch.float64) - 1.0 / k
    m = (k / (k - 1)) ** 0.5 * u @ centred
    return m.T.float().contiguous()


def supcon_loss(z: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, Eq. 2) of L2-normalised rows `z`.

    For anchor i with positives P(i) (other samples of its class):
    -1/|P(i)| sum_p log(exp(z_i.z_p/tau) / sum_{a != i} exp(z_i.z_a/tau)); the mean over the
    anchors that have a positive (0 when none has).
    """
    n = len(z)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.T / tau).masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y.unsqueeze(0) == y.unsqueeze(1)) & ~self_mask
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1)[has] / n_pos[has]
    return per_anchor.mean()


def rotation_batch(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch rotated by 0, 90, 180, 270 degrees (r = 0..3, in that order, each a block of
    len(x)) with the joint labels 4y + r."""
    if x.shape[-1] != x.shape[-2]:
        raise ClbenchError("strategy.rotation needs square images")
    xs = torch.cat([torch.rot90(x, r, dims=(-2, -1)) for r in range(4)])
    ys = torch.cat([4 * y + r for r in range(4)])
    return xs, ys


def pseudo_mix(
    x: torch.Tensor,
    y: torch.Tensor,
    perm: torch.Tensor,
    num_real: int,
    n_pseudo: int,
    lam: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-class samples: lam * x_i + (1 - lam) * x_perm[i] for the pairs of different
    classes, labelled num_real + (min(y) * num_real + max(y)) mod n_pseudo (one pseudo-class
    per unordered class pair, shared when there are more pairs than pseudo-classes)."""
    a, b = y, y[perm]
    keep = a != b
    lo, hi = torch.minimum(a, b)[keep], torch.maximum(a, b)[keep]
    xm = lam * x[keep] + (1 - lam) * x[perm][keep]
    return xm, num_real + (lo * num_real + hi) % n_pseudo


def sparse_masks(weights: list[torch.Tensor], ratio: float) -> list[torch.Tensor]:
    """Per tensor, a boolean mask of its round(ratio * numel) smallest-magnitude entries (ties
    by position): the sparse subnetwork tuned in incremental sessions."""
    out = []
    for w in weights:
        flat = w.detach().abs().flatten()
        k = int(round(ratio * flat.numel()))
        mask = torch.zeros(flat.numel(), dtype=torch.bool)
        if k > 0:
            order = torch.sort(flat.cpu(), stable=True).indices
            mask[order[:k]] = True
        out.append(mask.view_as(w.detach().cpu()))
    return out


# -- strategy -----------------------------------------------------------------------------

TRICKS = ("supcon", "etf", "pseudo_classes", "subnet", "rotation")


@dataclass
class FscilTricksParams(StrategyParams):
    # switches (all off: the incremental-frozen baseline)
    supcon: bool = False
    etf: bool = False
    pseudo_classes: bool = False
    subnet: bool = False
    rotation: bool = False
    # settings (our choices unless noted)
    temperature: float = 16.0  # T of the cosine classifier (TEEN's CIFAR-100 value)
    supcon_weight: float = 1.0
    supcon_tau: float = 0.1  # Khosla et al.'s default
    proj_dim: int = 128
    etf_seed: int = 0
    n_pseudo: int = 10
    pseudo_weight: float = 1.0
    rotation_weight: float = 1.0
    subnet_ratio: float = 0.1  # fraction of each weight tensor tuned in incremental sessions
    subnet_epochs: int = 10
    subnet_lr: float = 0.01
    encode_batch_size: int = 256


class FscilTricks(Strategy):
    Params = FscilTricksParams
    fidelity: ClassVar[dict[str, str]] = {
        "source": "arXiv 2403.14392 (v1/v2); no public code; paper's weights not read",
        "baseline": "paper: base training, frozen encoder, class-mean prototypes",
        "supcon": "standard SupCon (Khosla 2020); one view, weight 1.0: our choice",
        "etf": "fixed simplex-ETF classifier rows in base training; mean prototypes: our choice",
        "pseudo_classes": "our choice: 50/50 input mixup of class pairs as extra classes",
        "subnet": "our choice: smallest-magnitude 10% of each weight tensor, plain SGD",
        "rotation": "4-way rotation, joint 4y+r head, weight 1.0: our choice",
        "ssl_pretraining": "not implemented",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.temperature <= 0 or p.supcon_tau <= 0 or not 0.0 <= p.subnet_ratio <= 1.0:
            raise ClbenchError(
                "strategy.temperature and strategy.supcon_tau must be > 0, "
                "strategy.subnet_ratio in [0, 1]"
            )
        if p.pseudo_classes and p.n_pseudo < 1:
            raise ClbenchError("strategy.n_pseudo must be >= 1 with strategy.pseudo_classes")
        d, c = self.feature_dim, self.num_classes
        self.n_rows = c + (p.n_pseudo if p.pseudo_classes else 0)
        self.head = nn.Linear(d, self.n_rows, bias=False)
        if p.etf:  # pre-assigned, never trained
            self.head.weight.data.copy_(simplex_etf(self.n_rows, d, p.etf_seed))
            self.head.weight.requires_grad_(False)
        self.proj = (
            nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p.proj_dim))
            if p.supcon
            else None
        )
        self.rot_head = nn.Linear(d, 4 * c) if p.rotation else None
        self.register_buffer("protos", torch.zeros(c, d))
        self.register_buffer("seen", torch.zeros(c, dtype=torch.bool))
        self.register_buffer("sessions", torch.zeros((), dtype=torch.long))
        # The subnetwork: one mask per weight matrix/kernel, chosen after the base session.
        self._tunable = [w for w in self.backbone.parameters() if w.dim() >= 2]
        self.masks = nn.Module()
        if p.subnet:
            for i, w in enumerate(self._tunable):
                self.masks.register_buffer(f"m{i}", torch.zeros_like(w, dtype=torch.bool))
        self.cache = FeatureCache(self.backbone)

    # -- state ----------------------------------------------------------------------------
    @property
    def base_done(self) -> bool:
        return int(self.sessions) > 0

    def _mask_list(self) -> list[torch.Tensor]:
        return [getattr(self.masks, f"m{i}") for i in range(len(self._tunable))]

    def _freeze(self) -> None:
        """After the base session: everything frozen but the subnetwork's tensors."""
        self.requires_grad_(False)
        if self.params.subnet:
            for w in self._tunable:
                w.requires_grad_(True)

    def restore(self, finished: list[Experience]) -> None:
        if self.base_done:
            self._freeze()

    def train(self, mode: bool = True) -> FscilTricks:
        super().train(mode)
        if self.base_done:
            self.backbone.eval()  # batch-norm statistics frozen after the base session
        return self

    # -- runner hooks ---------------------------------------------------------------------
    def train_epochs(self, exp: Experience) -> int:
        if exp.index == 0:  # the base session
            return int(self.cfg.train.epochs)
        return int(self.params.subnet_epochs) if self.params.subnet else 0

    @torch.no_grad()
    def before_experience(self, exp: Experience) -> None:
        self.seen[exp.classes] = True
        if self.base_done and self.params.subnet:  # the tuning targets of the novel classes
            self.protos[exp.classes] = experience_class_means(
                self, exp, self.params.encode_batch_size
            ).to(self.protos)

    @torch.no_grad()
    def after_experience(self, exp: Experience) -> None:
        self.protos[exp.classes] = experience_class_means(
            self, exp, self.params.encode_batch_size
        ).to(self.protos)
        if not self.base_done:
            if self.params.subnet:
                for m, w in zip(
                    self._mask_list(),
                    sparse_masks(self._tunable, self.params.subnet_ratio),
                    strict=True,
                ):
                    m.copy_(w)
            self._freeze()
        self.sessions += 1

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        frozen = self.base_done and not self.params.subnet
        f = self.cache(x) if frozen else self.backbone(x)
        return cosine_logits(f, self.protos, self.params.temperature, self.seen).argmax(1)

    # -- training -------------------------------------------------------------------------
    def _row_mask(self) -> torch.Tensor:
        """Classifier rows that take part in base training: seen classes and pseudo-classes."""
        valid = torch.ones(self.n_rows, dtype=torch.bool, device=self.seen.device)
        valid[: self.num_classes] = self.seen
        return valid

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = self.params
        x = self.augment(x)
        if self.base_done:  # incremental SubNet tuning against the fixed prototypes
            f = self.backbone(x)
            return F.cross_entropy(cosine_logits(f, self.protos, p.temperature, self.seen), y)
        n = len(x)
        if p.rotation:
            xr, yr = rotation_batch(x, y)
            f_all = self.backbone(xr)
            f = f_all[:n]  # r = 0: the batch itself
        else:
            f = self.backbone(x)
        valid = self._row_mask()
        loss = F.cross_entropy(cosine_logits(f, self.head.weight, p.temperature, valid), y)
        if p.supcon:
            z = F.normalize(self.proj(f), dim=1)
            loss = loss + p.supcon_weight * supcon_loss(z, y, p.supcon_tau)
        if p.rotation:
            loss = loss + p.rotation_weight * F.cross_entropy(self.rot_head(f_all), yr)
        if p.pseudo_classes:
            perm = torch.randperm(n, device=x.device)
            xm, ym = pseudo_mix(x, y, perm, self.num_classes, p.n_pseudo)
            if len(xm):
                logits = cosine_logits(self.backbone(xm), self.head.weight, p.temperature, valid)
                loss = loss + p.pseudo_weight * F.cross_entropy(logits, ym)
        return loss

    def on_after_backward(self) -> None:
        if self.base_done and self.params.subnet:  # only the subnetwork moves
            for w, m in zip(self._tunable, self._mask_list(), strict=True):
                if w.grad is not None:
                    w.grad.mul_(m)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self._tunable}] if self.base_done else super().param_groups()

    def optimizer_settings(self) -> dict[str, Any]:
        if self.base_done:
            # plain SGD: no momentum or weight decay that could move masked-out entries
            return {"name": "sgd", "lr": self.params.subnet_lr}
        return super().optimizer_settings()

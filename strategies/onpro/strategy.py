"""OnPro: Online Prototype Learning for Online Continual Learning (Wei et al., ICCV 2023).

Online class-incremental learning, one pass over the stream in small batches (run it with
`scenario.online=true scenario.batch_size=10`). Per stream batch (Sec. 3-4 of the paper, and
the authors' code, weilllllls/OnPro, read at commit a92f8ae; paths below are in that repo):

- Online prototypes (Sec. 4.1; modules/OPE.py): z = normalize(g(f(x))) with a linear
  projection g; for each class k present in a batch, p_k is the mean of z over class k, and
  p̂_k the same for an augmented view. Nothing is carried across steps.
- Online prototype equilibrium, OPE (Sec. 4.1, Eq. 3-5): a SimCLR-style contrast over the
  2K L2-normalised prototypes of the two views (`prototype_contrast_loss`), on the stream
  batch (the unrotated views of the L_INS pass) and on a memory batch, summed.
- Adaptive prototypical feedback, APF (Sec. 4.2, Eq. 6; modules/APF.py): μ_k = ½(p_k + p̂_k)
  of the previous step's memory batch; π_ij = softmax over pairs of 1/‖μ_i − μ_j‖
  (`pair_probabilities`). Of the memory batch of size b, ⌊b·r⌋ samples get in-batch mixup
  (`inbatch_mixup_lambdas`: the code's kornia 0.6.8 RandomMixUpV2, which mixes a batch at all
  with probability p and then each sample with probability p), the other slots are shared
  among class pairs by π (`allocate_pairs`) and filled with mixes of buffer samples of the two
  classes (`mix`; one mix-or-not draw with probability p per pair, λ ~ Beta(α, α)); a class of
  μ that has left the buffer since is replaced by a random one of μ still there, as the code.
  No APF on an experience's first step (train.py:146-160).
- Loss (Sec. 4.3; train.py:64-123 and 130-224): experience 1: CE on the augmented stream
  batch + L_INS + L_OPE (memory OPE from the second step); afterwards CE on the augmented APF
  memory batch only (mixed labels, train.py:200 and 213-216; the stream batch gets no CE)
  + L_INS (stream and memory) + L_OPE. L_INS is OCM's instance-wise contrast (Guo et al.,
  ICML 2022) over rotation pseudo-classes, as in the code (`supervised_nt_xent`,
  `rotation_views`; losses/loss.py:248-304, utils/rotation_transform.py).
- One optimizer step per stream batch (no repeated memory iterations), then the reservoir
  update of `buffer_size` samples with the raw stream batch (train.py:119-123, 220-224);
  memory batches of min(64, 7 x seen classes) samples drawn without replacement (seen
  classes include the current batch's), whole buffer if smaller (train.py:143-145).
- Adam, lr 5e-4, betas (0.9, 0.99), weight decay 1e-4 (multi_runs.py:28, main.py:23).
- Prediction: the linear head's argmax over all classes (train.py:251-263).

Augmentation A (code, train.py:49-57, utils/my_transform.py: random horizontal flip, random
grayscale p=0.25, random resized crop with scale 0.3-1, aspect 3/4-4/3, its size by rejection
over 10 trials, as affine resampling with reflection padding; `clbench.augment.onpro_view`):
`strategy.augment=paper` does these as batch tensor ops (grayscale only for 3-channel input;
sizes not rounded to whole pixels). Our choice, `augment=auto` (default): `paper` for colour
images, `digits` for 1-channel images: a random resized crop with scale 0.6-1 and no flip (a
mirrored digit is another shape; grayscale is a no-op on one channel; 0.3 of a 28x28 digit
often loses the digit). The code has no MNIST setting (experiment/dataset.py:9-15 knows
CIFAR-10/100 and TinyImageNet only). All random draws come from one seeded generator (below).

Our choices, for exactness under DDP (the runner compares every process's state): every
process all-gathers the stream batch (back into the single-process order) and computes the
loss of the whole global step, with all randomness (memory batches, augmentations, APF,
reservoir) drawn from one generator seeded identically on every process from (seed,
experience). The gradients are then the same on every process, DDP's average leaves them
unchanged, every process applies the same reservoir update, and N processes train exactly
like one; DDP brings exactness, not speed, for OnPro (its steps are tiny). The buffer and the
seen classes are in `get_extra_state`, and the generator is reseeded per experience, so a
resumed run (which restarts at an experience boundary) repeats an uninterrupted one.

Other choices, labelled: the scenario's own train_transform is not applied (OnPro has its own
A and stores raw samples, as the code does); `ins_views` can reduce the 16 rotation
pseudo-classes of the code to 4 (rotations only), 1 (two views only) or 0 (no L_INS) for
speed; `ins_lambda` (the code's λ_s) defaults to 1.0 (the code: 0.5 on CIFAR-10, 1.0
otherwise); with fewer than two classes in the memory batch (or none of μ's left in the
buffer) every slot gets in-batch mixup (the code would fail there); a memory batch smaller
than b (small buffer) is used as it is; the stream and memory views of L_INS go through the
network in separate forward passes (the code concatenates them; this only matters for
BatchNorm backbones); full precision (the code uses CUDA autocast); the reservoir is
Vitter's algorithm R per sample (`ReservoirBuffer`; the code draws one slot per sample from
[0, n_seen before the batch), a negligible difference).

Measured (split-mnist-5k, online, batch 10, M=200, seeds 0-2): OnPro does not beat replay
there: the newest classes enter CE only through the reservoir (a fifth to a quarter of the
buffer by the end of a late experience) and with 80 steps per experience (CIFAR-10 in the
paper: 1,000) their logits do not catch up with the old ones before the experience ends (see
tests/test_onpro_behaviour.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from clbench.augment import onpro_view
from clbench.config import StrategyParams
from clbench.distributed import world_rank as dist_info
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.replay import ReservoirBuffer

# -- pure math -----------------------------------------------------------------------------


def class_prototypes(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, means): the sorted classes present in `y` and the mean row of `z` for each."""
    classes, inverse = torch.unique(y, sorted=True, return_inverse=True)
    onehot = F.one_hot(inverse, len(classes)).to(z.dtype)  # (n, K)
    means = onehot.t() @ z / onehot.sum(0).unsqueeze(1)
    return classes, means


def prototype_contrast_loss(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """L_pro (Eq. 3-4): contrast over the 2K normalised prototypes of two views.

    The positive of prototype k of one view is prototype k of the other view; every other
    prototype (both views, self excluded) is in the denominator. Mean over the 2K anchors.
    """
    k = len(p1)
    p = F.normalize(torch.cat([p1, p2]), dim=1)
    logits = p @ p.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * k, dtype=torch.bool, device=p.device), -math.inf)
    target = torch.cat([torch.arange(k, 2 * k), torch.arange(k)]).to(p.device)
    return F.cross_entropy(logits, target)


def pair_probabilities(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """APF (Eq. 6): the class pairs (i < j, in `itertools.combinations` order) as index rows
    and π_ij = softmax over pairs of 1 / ‖μ_i − μ_j‖₂. Very peaked by design.

    Our choice: distances are floored at 1e-8 so identical prototypes give a finite logit.
    """
    k = len(mu)
    pairs = torch.tensor(list(combinations(range(k), 2)), dtype=torch.long).view(-1, 2)
    dist_ = (mu[pairs[:, 0]] - mu[pairs[:, 1]]).norm(dim=1).clamp_min(1e-8)
    return pairs, torch.softmax(1.0 / dist_, dim=0)


def allocate_pairs(probs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Integer sample counts per pair: round(π · n), then fixed up to sum to exactly n (as the
    code does: +1 on random pairs if short, −1 on random non-empty pairs if over)."""
    counts = (probs.double() * n).round().long()
    diff = n - int(counts.sum())
    if diff > 0:
        # more missing than pairs cannot happen after rounding (each pair loses < 0.5)
        counts[torch.randperm(len(counts), generator=generator)[:diff]] += 1
    elif diff < 0:
        nonzero = counts.nonzero().flatten()
        counts[nonzero[torch.randperm(len(nonzero), generator=generator)[:-diff]]] -= 1
    return counts


def mix(x1: torch.Tensor, x2: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Mixup of inputs: (1 − λ) x1 + λ x2, one λ per sample."""
    lam = lam.to(x1).view(-1, *([1] * (x1.dim() - 1)))
    return (1 - lam) * x1 + lam * x2


def mixup_cross_entropy(
    logits: torch.Tensor, ya: torch.Tensor, yb: torch.Tensor, lam: torch.Tensor
) -> torch.Tensor:
    """Mean over samples of (1 − λ) CE(·, ya) + λ CE(·, yb)."""
    la = F.cross_entropy(logits, ya, reduction="none")
    lb = F.cross_entropy(logits, yb, reduction="none")
    return ((1 - lam) * la + lam * lb).mean()


def supervised_nt_xent(
    sim: torch.Tensor, labels: torch.Tensor, temperature: float, exclude_self: bool
) -> torch.Tensor:
    """OCM's supervised NT-Xent, as OnPro's code assembles it (L_INS).

    `sim` is (2B, 2B) over [view 1; view 2] of B samples with `labels` (B,). With
    S = −log softmax_row(sim / T) (self excluded from the row when `exclude_self`), the loss is
    Σ_rows mean_{j: same label} S_ij, divided by B when `exclude_self` (self counted among the
    positives, a constant there) and by 2B otherwise, plus, when `exclude_self`, the mean of S
    over the cross-view pairs (i, i+B) and (i+B, i).
    The code's 1e-8 guards are dropped; only the constant self terms differ.
    """
    n = sim.shape[0]
    b = n // 2
    logits = sim / temperature
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    if exclude_self:
        logits = logits.masked_fill(eye, -math.inf)
    s = -torch.log_softmax(logits, dim=1)
    lab = labels.repeat(2)
    same = (lab.unsqueeze(0) == lab.unsqueeze(1)).to(sim.dtype)
    if exclude_self:
        s = s.masked_fill(eye, 0.0)  # the code's constant −log(1e-8) there carries no gradient
    weights = same / same.sum(1, keepdim=True)
    # the code divides by B with self excluded and by 2B without (its two variants)
    loss = (weights * s).sum() / (b if exclude_self else n)
    if exclude_self:
        idx = torch.arange(b, device=sim.device)
        loss = loss + (s[idx, idx + b].sum() + s[idx + b, idx].sum()) / n
    return loss


def rotation_views(x: torch.Tensor, n_views: int) -> torch.Tensor:
    """OCM's rotation pseudo-classes: (n_views · N, C, H, W), block v holds view v of all N.

    16 views: 4 half-flips (none; left half turned 180°; both halves; right half) times the
    rotations 0°, 180°, 90°, 270°, as in the code; 4: the rotations only; 1: `x` itself.
    Square images only (90° rotations).
    """
    if n_views == 1:
        return x
    if n_views == 16:
        w = x.shape[-1] // 2
        left, right = x[..., :w], x[..., w:]

        def turn(t: torch.Tensor) -> torch.Tensor:
            return t.flip(-2, -1)

        inner = [
            x,
            torch.cat([turn(left), right], -1),
            torch.cat([turn(left), turn(right)], -1),
            torch.cat([left, turn(right)], -1),
        ]
        x = torch.cat(inner)
    return torch.cat([x, x.rot90(2, (2, 3)), x.rot90(1, (2, 3)), x.rot90(3, (2, 3))])


def inbatch_mixup_lambdas(
    n: int, p: float, lower: float, upper: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(partner, λ) of the code's in-batch mixup (kornia 0.6.8 RandomMixUpV2(p, (lower, upper)),
    the version its requirements.txt pins): sample i is mixed with sample partner[i] (a random
    permutation) as (1 − λ_i) x_i + λ_i x_partner[i]. kornia passes p twice: as the probability
    of mixing the batch at all (one draw per batch) and as the per-sample probability inside
    it, so λ_i ~ U[lower, upper] with probability p² per sample, else 0, and with probability
    1 − p no sample of the batch is mixed."""
    partner = torch.randperm(n, generator=generator)
    batch_on = float(torch.rand((), generator=generator)) < p
    lam = lower + (upper - lower) * torch.rand(n, generator=generator)
    on = (torch.rand(n, generator=generator) < p) & batch_on
    return partner, torch.where(on, lam, torch.zeros(()))


def gather_global_batch(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of this step on every process, in the single-process order.

    The runner's loader gives process r positions r, r+W, ... of the global batch, all local
    batches of a step having the same size; stacking the gathered shards on dim 1 and
    flattening restores positions 0, 1, 2, ...
    """
    world, _ = dist_info()
    if world == 1:
        return x, y
    out = []
    for t in (x, y):
        parts = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(parts, t.contiguous())
        out.append(torch.stack(parts, 1).flatten(0, 1))
    return out[0], out[1]


# -- the strategy ----------------------------------------------------------------------------


@dataclass
class OnProParams(StrategyParams):
    buffer_size: int = 200  # M (code: 200 on CIFAR-10, 500/1000 on CIFAR-100/Tiny)
    mem_batch_size: int = 64  # memory batch, capped at mem_per_class x seen classes
    mem_per_class: int = 7
    # projection g: feature_dim -> proj_dim, one linear layer (code: 128); None: 128, or the
    # feature dimension if smaller (our choice, e.g. split-digits' 100-wide MLP)
    proj_dim: int | None = None
    proto_temperature: float = 0.5  # OPE
    ins_temperature: float = 0.07  # L_INS
    ins_views: int = 16  # rotation pseudo-classes of L_INS: 16 (code), 4, 1, or 0 (off)
    ins_lambda: float = 1.0  # λ_s scaling L_INS similarities from experience 2 (0.5 on C10)
    mixup_base_rate: float = 0.75  # r: share of the memory batch with in-batch mixup
    mixup_p: float = 0.6  # p: probability of mixing (per sample in-batch, per pair in APF)
    mixup_lower: float = 0.0  # in-batch mixup λ ~ U[lower, upper]
    mixup_upper: float = 0.6
    mixup_alpha: float = 0.4  # APF pair mixup λ ~ Beta(alpha, alpha)
    augment: str = "auto"  # auto | paper | digits (module docstring)


AUGMENTS = {
    "paper": {"scale": (0.3, 1.0), "hflip": True, "gray_p": 0.25},
    "digits": {"scale": (0.6, 1.0), "hflip": False, "gray_p": 0.0},  # our choice
}


class OnPro(Strategy):
    """OnPro (Wei et al., ICCV 2023): OPE + APF + OCM's L_INS over a reservoir buffer."""

    Params = OnProParams
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
        p = self.params
        self.proj_dim = p.proj_dim if p.proj_dim is not None else min(128, self.feature_dim)
        checks = [
            ("buffer_size", p.buffer_size >= 0, ">= 0"),
            ("mem_batch_size", p.mem_batch_size >= 1, ">= 1"),
            ("mem_per_class", p.mem_per_class >= 1, ">= 1"),
            ("proj_dim", 1 <= self.proj_dim <= self.feature_dim, f"in [1, {self.feature_dim}]"),
            ("ins_views", p.ins_views in (0, 1, 4, 16), "one of 0, 1, 4, 16"),
            ("mixup_base_rate", 0 <= p.mixup_base_rate <= 1, "in [0, 1]"),
            ("mixup_p", 0 <= p.mixup_p <= 1, "in [0, 1]"),
            ("mixup_upper", 0 <= p.mixup_lower <= p.mixup_upper <= 1, ">= mixup_lower, <= 1"),
            ("mixup_alpha", p.mixup_alpha > 0, "> 0"),
            ("proto_temperature", p.proto_temperature > 0, "> 0"),
            ("ins_temperature", p.ins_temperature > 0, "> 0"),
        ]
        for key, ok, must in checks:
            if not ok:
                raise ClbenchError(f"strategy.{key} must be {must}, got {getattr(p, key)}")
        shape = tuple(scenario.input_shape)
        if p.ins_views > 1 and (len(shape) != 3 or shape[1] != shape[2]):
            raise ClbenchError(
                f"strategy.ins_views={p.ins_views} rotates images, which needs square "
                f"images; input shape is {shape}: use strategy.ins_views=1 or 0"
            )
        name = p.augment
        if name == "auto":
            name = "digits" if shape[0] == 1 else "paper"
        if name not in AUGMENTS:
            raise ClbenchError(f"strategy.augment must be auto, paper or digits, got '{name}'")
        self._aug = AUGMENTS[name]
        self.projector = nn.Linear(self.feature_dim, self.proj_dim)
        self.buffer = ReservoirBuffer(p.buffer_size)
        self.seen = torch.zeros(self.num_classes, dtype=torch.bool)
        self._exp_index = 0
        self._step = 0  # stream batches so far in this experience
        # (classes, μ) of the latest memory batch; recomputed every step, so not saved
        self._mu: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- state -------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state(), "seen": self.seen.clone()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load(state["buffer"])
        self.seen = state["seen"].clone()

    def before_experience(self, exp: Experience) -> None:
        self._exp_index, self._step = exp.index, 0

    @property
    def _gen(self) -> torch.Generator:
        # one stream, the same on every process and on resume: every random draw agrees
        return self.rng("onpro")

    # -- pieces ------------------------------------------------------------------------
    def _view(self, x: torch.Tensor) -> torch.Tensor:
        return onpro_view(x, self._gen, **self._aug)

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised features, normalised projections)."""
        f = self.backbone(x)
        return F.normalize(f, dim=1), F.normalize(self.projector(f), dim=1)

    def _sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n buffer samples without replacement (all of them if fewer)."""
        assert self.buffer.x is not None and self.buffer.y is not None
        idx = torch.randperm(len(self.buffer), generator=self._gen)[:n]
        return self.buffer.x[idx], self.buffer.y[idx]

    def _ope(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor | None = None):
        """L_pro of a batch over (x, A(x)), and the raw prototypes (classes, p, p̂).
        `z` (2n, d): projections of [x; A(x)] already computed."""
        if z is None:
            z = self._embed(torch.cat([x, self._view(x)]))[1]
        n = len(x)
        classes, p1 = class_prototypes(z[:n], y)
        _, p2 = class_prototypes(z[n:], y)
        return prototype_contrast_loss(p1, p2, self.params.proto_temperature), classes, p1, p2

    def _ins(self, x: torch.Tensor, labels: torch.Tensor, scale: float, exclude_self: bool):
        """L_INS on [rot(x); A(rot(x))] with pseudo-labels label + C·view; also returns the
        projections of the unrotated views (for OPE)."""
        v = max(self.params.ins_views, 1)
        rx = rotation_views(x, v)
        f, z = self._embed(torch.cat([rx, self._view(rx)]))
        if self.params.ins_views == 0:
            n = len(x)
            return torch.zeros((), device=x.device), torch.cat([z[:n], z[len(rx) : len(rx) + n]])
        d = self.proj_dim
        spare = self.feature_dim - d
        start = int(torch.randint(spare, (1,), generator=self._gen)) if spare > 0 else 0
        sim = scale * (z @ f[:, start : start + d].t() + z @ z.t())
        pseudo = torch.cat([labels + self.num_classes * i for i in range(v)])
        loss = supervised_nt_xent(sim, pseudo, self.params.ins_temperature, exclude_self)
        n = len(x)
        return loss, torch.cat([z[:n], z[len(rx) : len(rx) + n]])

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
            ope = self._ope(x, y, z)[0]
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
            ope = self._ope(x, y, z)[0] + ope_m
            ins = ins_s + ins_m
        # the reservoir update after the step, from the global batch: the same on every process
        self.buffer.add(x.detach().cpu(), y.cpu(), self._gen)
        self._step += 1
        return ce + ins + ope

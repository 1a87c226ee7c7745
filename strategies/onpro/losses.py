"""OnPro's losses as pure functions: online prototypes and their contrast (OPE, Sec. 4.1,
Eq. 3-5), the mixup cross-entropy, and OCM's instance-wise contrast L_INS with its rotation
pseudo-classes (the code's losses/loss.py, utils/rotation_transform.py). Notes:
docs/strategies/onpro.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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

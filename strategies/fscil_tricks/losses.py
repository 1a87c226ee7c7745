"""fscil-tricks' pure functions: the simplex ETF, SupCon (Khosla et al. 2020, Eq. 2), the
rotation batch, pseudo-class mixing and the SubNet masks (each trick's choices:
docs/strategies/fscil-tricks.md).
"""

from __future__ import annotations

import torch

from clbench.errors import ClbenchError


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

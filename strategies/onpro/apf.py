"""OnPro's adaptive prototypical feedback, APF (Sec. 4.2, Eq. 6; the code's modules/APF.py):
the pair probabilities, their integer allocation, mixup of inputs, and the code's in-batch
mixup draws (kornia 0.6.8 RandomMixUpV2). Notes: docs/strategies/onpro.md.
"""

from __future__ import annotations

from itertools import combinations

import torch


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

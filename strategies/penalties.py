"""EWC-style quadratic penalties in one place: the diagonal empirical Fisher, anchors, and the
penalty sum F * (theta - theta*)^2 (Kirkpatrick et al., PNAS 2017, Eq. 3; online EWC,
Schwarz et al., ICML 2018, Sec. 4: Fishers accumulated with a decay).

`Anchors` is a submodule holding, for a fixed list of parameters, the anchor values theta*
and the accumulated Fisher F as buffers (so both are in the state_dict and survive a resume).
`estimate_fisher` computes the per-sample squared gradients on a process's shard of the data
and all-reduces the sums and the count, so every DDP process holds the same Fisher, equal to
the single-process one up to the order of float additions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from clbench.distributed import all_reduce_sum
from clbench.distributed import world_rank as dist_info


def ewc_penalty(
    params: Iterable[torch.Tensor],
    anchors: Iterable[torch.Tensor],
    fisher: Iterable[torch.Tensor],
) -> torch.Tensor:
    """sum over tensors of sum F * (theta - theta*)^2 (without the lambda / 2 weight)."""
    total = torch.zeros(())
    for p, a, f in zip(params, anchors, fisher, strict=True):
        total = total.to(p.device) + (f * (p - a) ** 2).sum()
    return total


def fisher_diag(
    model: nn.Module,
    names: list[str],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
) -> tuple[list[torch.Tensor], int]:
    """Empirical diagonal Fisher, unnormalised: for the parameters `names` of `model`, the sum
    over samples of the squared gradient of each sample's loss `loss_fn(model(x_i), y_i)`, and
    the number of samples (divide the all-reduced sums by the all-reduced count)."""
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters() if n in names}
    buffers = dict(model.named_buffers())

    def one(ps: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (ps, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    per_sample = vmap(grad(one), in_dims=(None, 0, 0))
    sums = [torch.zeros_like(params[n]) for n in names]
    for s in range(0, len(x), batch_size):
        g = per_sample(params, x[s : s + batch_size], y[s : s + batch_size])
        for acc, n in zip(sums, names, strict=True):
            acc += (g[n] ** 2).sum(0)
    return sums, len(x)


def estimate_fisher(
    model: nn.Module,
    names: list[str],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """The mean per-sample squared gradient over (x, y), each DDP process taking the shard
    rank, rank + W, ...; sums and count all-reduced. `model` is put in eval mode meanwhile.
    `prepare` turns the raw shard into model input on `device` (default: moved there)."""
    prepare = prepare or (lambda t: t.to(device))
    world, rank = dist_info()
    was = model.training
    model.eval()
    with torch.enable_grad():
        sums, n = fisher_diag(
            model, names, loss_fn, prepare(x[rank::world]), y[rank::world].to(device), batch_size
        )
    model.train(was)
    count = all_reduce_sum(torch.tensor(float(n), dtype=torch.float64))
    return [all_reduce_sum(s) / count.clamp(min=1).to(s) for s in sums]


class Anchors(nn.Module):
    """Anchor values and accumulated Fisher of a fixed list of parameters (buffers)."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.anchor = nn.Module()
        self.fisher = nn.Module()
        self.n = len(params)
        for i, w in enumerate(params):
            self.anchor.register_buffer(f"p{i}", w.detach().clone())
            self.fisher.register_buffer(f"p{i}", torch.zeros_like(w))

    def anchors(self) -> list[torch.Tensor]:
        return [getattr(self.anchor, f"p{i}") for i in range(self.n)]

    def fishers(self) -> list[torch.Tensor]:
        return [getattr(self.fisher, f"p{i}") for i in range(self.n)]

    @torch.no_grad()
    def consolidate(
        self, params: Sequence[torch.Tensor], fisher: Sequence[torch.Tensor], decay: float = 1.0
    ) -> None:
        """F <- decay * F + fisher (online EWC's gamma; 1: a plain sum), theta* <- params."""
        for f, nf in zip(self.fishers(), fisher, strict=True):
            if decay != 1.0:
                f.mul_(decay)
            f += nf
        for a, w in zip(self.anchors(), params, strict=True):
            a.copy_(w)

    def penalty(self, params: Sequence[torch.Tensor]) -> torch.Tensor:
        """sum F * (theta - theta*)^2 over the parameters."""
        return ewc_penalty(params, self.anchors(), self.fishers())

"""OnPro under DDP: every process computes the loss of the whole global step (our choice, for
exactness; docs/strategies/onpro.md).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from clbench.distributed import world_rank as dist_info


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

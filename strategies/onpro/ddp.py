"""OnPro under DDP: every process computes the loss of the whole global step (our choice, for
exactness; docs/strategies/onpro.md).
"""

from __future__ import annotations

import torch

from clbench.distributed import gather_interleaved


def gather_global_batch(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch (x, y) of this step on every process, in the single-process order
    (`clbench.distributed.gather_interleaved`)."""
    return gather_interleaved(x), gather_interleaved(y)

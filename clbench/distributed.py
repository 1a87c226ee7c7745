"""Distributed helpers of the runner: process rank, start-up, and the state check.

Under DDP every process runs the same loop over the stream. `world_rank` says where a
process stands; `start_processes` launches the workers and joins the process group before
the first fit (so an experience with nothing to train can skip fit on every process); and
`check_same_state_across_processes` compares a hash of every process's strategy state after
each experience, so a strategy whose state would depend on the number of processes fails
loudly instead of producing numbers that do.
"""

from __future__ import annotations

import hashlib
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from clbench.errors import ClbenchError


def world_rank() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def state_fingerprint(state: Any) -> str:
    """A hash of a (nested) state_dict: tensors by their bytes, other values by repr."""
    h = hashlib.sha256()

    def visit(key: str, value: Any) -> None:
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                visit(f"{key}.{k}", value[k])
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                visit(f"{key}[{i}]", v)
        else:
            h.update(repr(value).encode())

    visit("", dict(state))
    return h.hexdigest()


def check_same_state_across_processes(model: L.LightningModule, exp_index: int) -> None:
    """Under DDP, every process must hold the same strategy state (weights, buffers,
    prototypes); a strategy that accumulates per-process data without reducing it fails here
    instead of silently producing numbers that depend on the number of processes."""
    world, _ = world_rank()
    if world == 1:
        return
    prints: list[Any] = [None] * world
    dist.all_gather_object(prints, state_fingerprint(model.state_dict()))
    if len(set(prints)) != 1:
        raise ClbenchError(
            f"strategy state differs across the {world} processes after experience {exp_index + 1}: "
            f"'{model.cfg.strategy.name}' is not exact under DDP"
        )


def start_processes(trainer: L.Trainer) -> None:
    """Start the DDP worker processes and join the process group now, not in the first `fit`,
    so that an experience with nothing to train can skip `fit` on every process.

    Only for Lightning's `ddp` launcher, which re-runs this command in each worker: every
    process then runs this same loop. A later `fit` finds the processes and group in place.
    """
    launcher = trainer.strategy.launcher
    if isinstance(launcher, _SubprocessScriptLauncher):
        launcher.launch(trainer.strategy.setup_environment, trainer=trainer)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """`t` summed over DDP processes (itself outside DDP); returned on `t`'s device."""
    if world_rank()[0] == 1:
        return t
    on = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else t.device
    )
    out = t.to(on)
    dist.all_reduce(out)
    return out.to(t.device)


def gather_interleaved(t: torch.Tensor) -> torch.Tensor:
    """The global batch of a step on every process, in the single-process order (itself
    outside DDP). The runner's loader gives process r positions r, r+W, ... of each global
    batch, the local batches of a step all of one size; stacking the gathered shards on dim 1
    and flattening restores positions 0, 1, 2, ... The same holds for a local batch that
    concatenates such shards (a stream batch and a replayed one, each split alike)."""
    world, _ = world_rank()
    if world == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t.contiguous())
    return torch.stack(parts, 1).flatten(0, 1)

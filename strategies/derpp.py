"""DER++ (Buzzega et al., NeurIPS 2020, "Dark Experience for General Continual Learning",
Sec. 3-4): experience replay that also stores the network's logits.

The paper's: a reservoir buffer is filled during training, batch by batch, with the raw
inputs, their labels and the logits the network produced for them at that moment (Sec. 3.1,
Alg. 1); the loss of a step is the cross-entropy on the stream batch + alpha * MSE between
the logits of one buffer batch and their stored logits + beta * cross-entropy on the labels
of a second, independently drawn buffer batch (Eq. 6). Defaults alpha = 0.2, beta = 1.0:
Mammoth's best for seq-MNIST with a 200-sample buffer. Our choices: one forward pass over
the stream batch and both buffer batches (Mammoth: three); buffer batches drawn with
replacement (Mammoth: without), of `replay_batch_size` (default train.batch_size); exact
under DDP: every process inserts the gathered global batch and its logits with the same
generator, and each takes its rank's slice of the shared buffer draws.
Notes: docs/strategies/derpp.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from clbench.config import StrategyParams
from clbench.distributed import gather_interleaved, world_rank
from clbench.errors import ClbenchError
from clbench.stream import Scenario
from strategies.base import Strategy
from strategies.replay import ReservoirBuffer


def derpp_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    mse_logits: torch.Tensor | None = None,
    stored: torch.Tensor | None = None,
    ce_logits: torch.Tensor | None = None,
    ce_y: torch.Tensor | None = None,
    alpha: float = 0.2,
    beta: float = 1.0,
) -> torch.Tensor:
    """DER++'s loss (Eq. 6): CE(logits, y) + alpha * MSE(mse_logits, stored) (mean over every
    entry) + beta * CE(ce_logits, ce_y); the buffer terms are left out when not given."""
    loss = F.cross_entropy(logits, y)
    if mse_logits is not None and stored is not None:
        loss = loss + alpha * F.mse_loss(mse_logits, stored)
    if ce_logits is not None and ce_y is not None:
        loss = loss + beta * F.cross_entropy(ce_logits, ce_y)
    return loss


@dataclass
class DERppParams(StrategyParams):
    buffer_size: int = 200
    alpha: float = 0.2  # weight of the logit MSE (Mammoth's seq-MNIST, buffer 200)
    beta: float = 1.0  # weight of the replayed-label CE (the same); 0 gives DER
    replay_batch_size: int | None = None  # global, each of the two; None: train.batch_size


class DERpp(Strategy):
    Params = DERppParams
    fidelity: ClassVar[dict[str, str]] = {
        "buffer": "paper: reservoir, filled per batch with the logits of that step",
        "loss": "paper Eq. 6: CE + alpha MSE(logits) + beta CE(labels), two buffer batches",
        "forward": "our choice: one forward pass over stream and buffer batches together",
        "draws": "our choice: buffer batches with replacement, shared across DDP processes",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.buffer_size < 0 or p.alpha < 0 or p.beta < 0:
            raise ClbenchError(
                "strategy.buffer_size, strategy.alpha and strategy.beta must be >= 0"
            )
        self.replay_batch_size = p.replay_batch_size or cfg.train.batch_size
        if self.replay_batch_size < 1:
            raise ClbenchError("strategy.replay_batch_size must be >= 1")
        self.buffer = ReservoirBuffer(p.buffer_size)

    def get_extra_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load(state["buffer"])

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        world, rank = world_rank()
        n, m = len(x), 0
        parts, buf = [x], None
        if len(self.buffer):
            assert self.buffer.x is not None and self.buffer.y is not None
            # two independent draws, the same on every process; each takes its slice
            g = self.rng("derpp-batches")
            draws = [self.buffer.indices(self.replay_batch_size, g)[rank::world] for _ in "ab"]
            m = len(draws[0])
            idx = torch.cat(draws)
            buf = (self.buffer.y[idx], self.buffer.extra["logits"][idx])
            parts.append(self.inputs(self.buffer.x[idx]))
        out = self(self.augment(torch.cat(parts)))  # replayed samples augmented too
        p = self.params
        if buf is None:
            loss = derpp_loss(out[:n], y)
        else:
            by, bz = buf[0].to(y.device), buf[1].to(out.device)
            loss = derpp_loss(
                out[:n], y, out[n : n + m], bz[:m], out[n + m :], by[m:], p.alpha, p.beta
            )
        # the global stream batch enters the buffer with the logits of this step (before the
        # update), from one generator: the same buffer on every process
        logits = out[:n].detach()
        self.buffer.add(
            gather_interleaved(x).cpu(),
            gather_interleaved(y).cpu(),
            self.rng("derpp-buffer"),
            logits=gather_interleaved(logits).cpu(),
        )
        return loss

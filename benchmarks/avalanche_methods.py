"""The Avalanche side of `benchmarks/vs_avalanche.py`: one entry per clbench strategy.

An entry names Avalanche's strategy and builds it from clbench's resolved config of that
strategy (so both sides get the same hyperparameters) and the shared pieces the harness
makes: `model` (an `MLP` with `.backbone` and `.head`, the same network as clbench's `mlp`
backbone + linear head) and `common`, the keyword arguments every Avalanche strategy takes
(model, optimizer (SGD with clbench's lr and momentum), criterion, train_mb_size,
train_epochs, eval_mb_size, device, evaluator). To add a method: write `build_<name>` and add
`name: Method("AvalancheName", build_<name>)` to `METHODS`; keep any mismatch that cannot be
removed in its notes (docs/strategies/<name>.md) and in the `note` field, printed under the
table. The harness reads the final accuracy from the strategy's `model` after the last
experience (Avalanche strategies that replace the model, such as GDumb, keep it there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avalanche.training import ER_ACE, EWC, LwF, Naive, Replay
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ReservoirSamplingBuffer
from omegaconf import DictConfig
from torch import nn


class MLP(nn.Module):
    """clbench's `mlp` backbone followed by its linear head."""

    def __init__(self, hidden_dim: int, num_layers: int, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = 28 * 28
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
            width = hidden_dim
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Any) -> Any:
        return self.head(self.backbone(x))


Build = Callable[[DictConfig, MLP, dict[str, Any], dict[str, Any]], Any]


@dataclass
class Method:
    avalanche: str  # Avalanche's name, for the table
    build: Build  # (clbench cfg, model, common kwargs, harness options) -> Avalanche strategy
    note: str = ""  # a mismatch between the two sides that remains


def replay_batch(cfg: DictConfig) -> int:
    return int(cfg.strategy.replay_batch_size or cfg.train.batch_size)


def build_naive(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    return Naive(**common)


def build_replay(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    size = int(cfg.strategy.buffer_size)
    if opts.get("avalanche_buffer", "balanced") == "balanced":  # stock: ExperienceBalancedBuffer
        strategy = Replay(mem_size=size, **common)
        plugin = next(p for p in strategy.plugins if isinstance(p, ReplayPlugin))
        plugin.batch_size_mem = replay_batch(cfg)  # None would mean train_mb_size
        return strategy
    plugin = ReplayPlugin(
        mem_size=size,
        batch_size_mem=replay_batch(cfg),
        storage_policy=ReservoirSamplingBuffer(size),
    )
    return Naive(plugins=[plugin], **common)  # what Replay is, with another storage policy


def build_lwf(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    s = cfg.strategy
    return LwF(alpha=float(s.alpha), temperature=float(s.temperature), **common)


def build_ewc(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    # Avalanche's penalty is lambda * sum F (theta - theta*)^2 with F the mean over batches of
    # the squared gradient of each batch's mean loss, about 1/batch of clbench's per-sample
    # Fisher (independent per-sample gradients of mean ~0), and clbench's is lambda / 2 * ...:
    # the same penalty needs lambda * batch / 2 on Avalanche's side.
    s = cfg.strategy
    scale = int(cfg.train.batch_size) / 2
    return EWC(
        ewc_lambda=float(s.ewc_lambda) * scale,
        mode="online",
        decay_factor=float(s.decay),
        **common,
    )


def build_er_ace(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    return ER_ACE(
        mem_size=int(cfg.strategy.buffer_size), batch_size_mem=replay_batch(cfg), **common
    )


METHODS: dict[str, Method] = {
    "replay": Method(
        "Replay",
        build_replay,
        "buffer: Avalanche's experience-balanced vs clbench's reservoir (--avalanche-buffer); "
        "replay batches: cycled without replacement vs drawn with replacement",
    ),
    "finetune": Method("Naive", build_naive),
    "lwf": Method("LwF", build_lwf),
    "ewc": Method(
        "EWC",
        build_ewc,
        "mode online, same decay; Avalanche's lambda = clbench's * batch / 2 (its Fisher "
        "squares batch-mean gradients: about 1/batch of clbench's per-sample one)",
    ),
    "er-ace": Method(
        "ER_ACE",
        build_er_ace,
        "buffer: Avalanche's class-balanced vs clbench's reservoir, both taking each "
        "experience before training on it; replay batches cycled without replacement vs "
        "drawn with replacement",
    ),
}

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
from types import SimpleNamespace
from typing import Any

import torch
from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset
from avalanche.training import DER, ER_ACE, EWC, GDumb, ICaRL, LwF, Naive, Replay
from avalanche.training.plugins import ReplayPlugin, SupervisedPlugin
from avalanche.training.storage_policy import ReservoirSamplingBuffer
from omegaconf import DictConfig
from torch import nn

from scenarios.base import resolve_class_order, split_classes


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


class ClassInfo(SupervisedPlugin):
    """Gives the experiences the attributes of Avalanche's class-incremental benchmarks that
    its ICaRL reads and the harness's generic benchmark lacks: `benchmark` (the class order
    and the classes per experience; ICaRL's plugin comes after this one, so it sees it) and,
    for evaluation, `classes_in_this_experience` (read by `NCMClassifier.adaptation`)."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        s = cfg.scenario
        self.benchmark = SimpleNamespace(
            classes_order=resolve_class_order(s.class_order, 10, s.name),
            n_classes_per_exp=split_classes(10, s.n_experiences, s.name),
        )

    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        strategy.experience.benchmark = self.benchmark

    def after_train_dataset_adaptation(self, strategy: Any, **kwargs: Any) -> None:
        # ICaRL concatenates its exemplars as a tensor dataset whose labels are ints; the
        # harness's experiences give 0-d tensors, and a batch mixing both cannot be collated:
        # give the experience's samples in the exemplars' form (ICaRL's plugin runs next).
        data = strategy.adapted_dataset
        x = torch.stack([data[i][0] for i in range(len(data))])
        y = torch.tensor([int(data[i][1]) for i in range(len(data))])
        strategy.adapted_dataset = _make_taskaware_tensor_classification_dataset(x, y)

    def before_eval_dataset_adaptation(self, strategy: Any, **kwargs: Any) -> None:
        exp = strategy.experience
        exp.classes_in_this_experience = sorted(int(c) for c in exp.dataset.targets.uniques)


def build_icarl(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    # ICaRL builds its own model (feature extractor + head for training, nearest class mean
    # for evaluation) and its own loss (BCE): no `model`, no `criterion`.
    kwargs = {k: v for k, v in common.items() if k not in ("model", "criterion")}
    # Its BCE is the mean over the outputs, clbench's the sum (Alg. 3): with SGD (momentum,
    # no weight decay) the same steps are taken at an lr as many times larger as there are
    # outputs.
    for group in kwargs["optimizer"].param_groups:
        group["lr"] *= model.head.out_features
    return ICaRL(
        feature_extractor=model.backbone,
        classifier=model.head,
        memory_size=int(cfg.strategy.buffer_size),
        buffer_transform=None,
        fixed_memory=True,
        plugins=[ClassInfo(cfg)],
        **kwargs,
    )


def build_derpp(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    s = cfg.strategy
    return DER(
        mem_size=int(s.buffer_size),
        batch_size_mem=replay_batch(cfg),
        alpha=float(s.alpha),
        beta=float(s.beta),
        **common,
    )


def build_gdumb(cfg: DictConfig, model: MLP, common: dict[str, Any], opts: dict[str, Any]) -> Any:
    return GDumb(mem_size=int(cfg.strategy.buffer_size), **common)


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
    "icarl": Method(
        "ICaRL",
        build_icarl,
        "Avalanche: lr x 10 (its BCE averages the 10 outputs, clbench's sums them: the same "
        "steps); m = ceil(K/t) vs floor; herding may revisit a sample; class means average "
        "each exemplar with its horizontally flipped digit (clbench: no flip)",
    ),
    "derpp": Method(
        "DER",
        build_derpp,
        "Avalanche fills a class-balanced buffer after each experience with logits of the "
        "trained model (no replay in experience 1) and uses one buffer batch for both terms; "
        "clbench (the paper) a reservoir per batch with the logits of that step, two batches",
    ),
    "gdumb": Method(
        "GDumb",
        build_gdumb,
        "memory: Avalanche's class-balanced reservoirs vs the paper's greedy sampler "
        "(the same class counts here); clbench masks unseen classes (all seen at the end)",
    ),
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

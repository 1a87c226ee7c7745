"""Loop overhead: training samples/s of clbench's `finetune` vs a bare PyTorch loop doing the
same work, side by side in one process.

Run from the repository root:

    python benchmarks/loop_overhead.py                  # both workloads, 3 repeats
    python benchmarks/loop_overhead.py --workloads mlp --repeats 5
    python benchmarks/loop_overhead.py --workloads online --repeats 5

Workloads (each with the scenario's clbench defaults: batch size, optimizer, lr, epochs):

* mlp: clbench's default MLP (784-400-400, ReLU) + linear head on `split-mnist-5k` (4,000
  real digits of 28x28, five experiences), batch 32, SGD(0.01, momentum 0.9), 5 epochs.
* resnet18: timm ResNet-18 (random init) + linear head on `split-cifar10` with 32x32 images,
  batch 128, SGD(0.05, 0.9, wd 5e-4), with the scenario's batch augmentation (random crop
  with 4-pixel padding + flip) on both sides. The images are random pixels written in the
  CIFAR-10 python format to a temporary folder (speed does not depend on the pixels);
  `--cifar-per-class` sets their number.
* online: clbench's `replay` under the online protocol on `split-mnist-5k` (one pass, stream
  batches of 10, a replay batch of 32 from a reservoir buffer of 200 filled after each
  experience), the same MLP and SGD; the bare loop does the same replay with the same
  buffer class (issue #12's target: clbench >= 0.75x the bare loop).

The bare loop gets the same data as tensors in memory, the same model (built by the same
backbone function, same seed), the same batches (one seeded permutation per epoch), a fresh
optimizer per experience (as clbench's per-experience fit) and cross-entropy; it times only
its training loops. clbench's figure is its record's `train_samples_per_s`: stream samples
over the summed time of Lightning's `fit` calls (set-up, data loading, hooks, logging at
the log interval; no progress bar). Ratio = clbench / bare (target >= 0.9). A third side,
plain Lightning (a textbook LightningModule, a Trainer and a shuffled DataLoader per
experience, no logger), shows how much of the gap is Lightning's own per-step cost. Order
alternates per repeat; the median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from clbench.augment import batch_transform
from clbench.backbones import build_backbone
from clbench.compose import compose
from clbench.runner import run
from scenarios import SCENARIOS

# workload -> (strategy, scenario, extra overrides)
WORKLOADS: dict[str, tuple[str, str, list[str]]] = {
    "mlp": ("finetune", "split-mnist-5k", []),
    "resnet18": ("finetune", "split-cifar10", []),
    "online": (
        "replay",
        "split-mnist-5k",
        ["scenario.online=true", "scenario.batch_size=10", "strategy.buffer_size=200"],
    ),
}


def config(workload: str, results: str, data_root: str, epochs: int | None) -> Any:
    strategy, scenario, extra = WORKLOADS[workload]
    overrides = [
        *extra,
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        f"results.dir={results}",
        f"data.root={data_root}",
    ]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    return compose(strategy, scenario, None, overrides)


def clbench_rate(cfg: Any) -> float:
    return float(run(cfg).record["costs"]["train_samples_per_s"])


def bare_rate(cfg: Any) -> float:
    """The same training as clbench's finetune (or online replay), as a plain PyTorch loop."""
    from strategies.replay import ReservoirBuffer

    torch.manual_seed(cfg.seed)
    scenario = SCENARIOS.load(cfg.scenario.name).build(cfg.scenario, cfg.data)
    experiences = scenario.experiences()
    backbone, dim = build_backbone(cfg.backbone, scenario.input_shape)
    model = nn.Sequential(backbone, nn.Linear(dim, scenario.num_classes))
    augment = batch_transform(scenario.info.get("train_transform", "none"))
    t, bs, n, elapsed = cfg.train, cfg.train.batch_size, 0, 0.0
    epochs = t.epochs
    replay = cfg.strategy.name == "replay"
    buffer = ReservoirBuffer(cfg.strategy.buffer_size) if replay else None
    sampler = torch.Generator().manual_seed(1)
    if cfg.scenario.get("online"):
        bs, epochs = int(cfg.scenario.batch_size), 1
    for exp in experiences:
        x_all, y_all = exp.train.tensors[0], exp.train.tensors[1]
        t0 = time.perf_counter()
        opt = torch.optim.SGD(
            model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
        )
        model.train()
        for epoch in range(epochs):
            g = torch.Generator().manual_seed(cfg.seed * 1000 + exp.index + epoch)
            perm = torch.randperm(len(x_all), generator=g)
            for s in range(0, len(perm), bs):
                idx = perm[s : s + bs]
                x, y = x_all[idx], y_all[idx]
                if buffer is not None and len(buffer):
                    bx, by = buffer.sample(t.batch_size, sampler)
                    x, y = torch.cat([x, bx]), torch.cat([y, by])
                loss = F.cross_entropy(model(augment(x, None)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n += len(idx)
        if buffer is not None:  # as replay: the experience enters the buffer after it
            buffer.add(x_all, y_all, sampler)
        elapsed += time.perf_counter() - t0
    return n / elapsed


class _Plain(L.LightningModule):
    """The textbook LightningModule for the same training: model, cross-entropy, SGD."""

    def __init__(self, model: nn.Module, train: Any, augment: Any) -> None:
        super().__init__()
        self.model, self.train_cfg, self.augment = model, train, augment

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.model(self.augment(batch[0], None)), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        t = self.train_cfg
        return torch.optim.SGD(
            self.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
        )


def lightning_rate(cfg: Any) -> float:
    """The same training as a plain Lightning user writes it: a Trainer and a shuffled
    DataLoader (per-sample collation) per experience, no logger, no progress bar. Shows what
    Lightning itself costs per step, apart from clbench."""
    torch.manual_seed(cfg.seed)
    scenario = SCENARIOS.load(cfg.scenario.name).build(cfg.scenario, cfg.data)
    backbone, dim = build_backbone(cfg.backbone, scenario.input_shape)
    module = _Plain(
        nn.Sequential(backbone, nn.Linear(dim, scenario.num_classes)),
        cfg.train,
        batch_transform(scenario.info.get("train_transform", "none")),
    )
    n, elapsed = 0, 0.0
    for exp in scenario.experiences():
        trainer = L.Trainer(
            max_epochs=cfg.train.epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        loader = DataLoader(exp.train, batch_size=cfg.train.batch_size, shuffle=True)
        t0 = time.perf_counter()
        trainer.fit(module, loader)
        elapsed += time.perf_counter() - t0
        n += len(exp.train) * cfg.train.epochs
    return n / elapsed


def write_cifar10(root: Path, per_class: int) -> None:
    # the tests' writer of the exact on-disk format (tests/ is not an installed package)
    path = Path(__file__).resolve().parents[1] / "tests" / "fake_data.py"
    spec = importlib.util.spec_from_file_location("clbench_fake_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_cifar10(root, per_class_train=per_class, per_class_test=max(1, per_class // 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs on both sides")
    ap.add_argument("--cifar-per-class", type=int, default=100, help="training images per class")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp) / "data"
        if "resnet18" in args.workloads:
            write_cifar10(data_root, args.cifar_per_class)
        for workload in args.workloads:
            cfg = config(workload, str(Path(tmp) / "results"), str(data_root), args.epochs)
            clbench_rate(config(workload, str(Path(tmp) / "results"), str(data_root), 1))  # warm-up
            sides = {"clbench": clbench_rate, "bare": bare_rate, "lightning": lightning_rate}
            if workload == "online":  # the textbook module has no replay: not the same work
                del sides["lightning"]
            rates: dict[str, list[float]] = {side: [] for side in sides}
            for i in range(args.repeats):
                order = list(sides) if i % 2 == 0 else list(sides)[::-1]
                for side in order:
                    rates[side].append(sides[side](cfg))
            c, b = statistics.median(rates["clbench"]), statistics.median(rates["bare"])
            target = 0.75 if workload == "online" else 0.9
            if "lightning" not in sides:
                per_step = 1e3 * (1 / c - 1 / b) * (int(cfg.scenario.batch_size))
                print(
                    f"{workload:9} ({cfg.scenario.name}, online, stream batch "
                    f"{cfg.scenario.batch_size} + replay {cfg.train.batch_size}): clbench "
                    f"{c:,.0f} samples/s, bare loop {b:,.0f} samples/s, ratio {c / b:.2f} "
                    f"(target >= {target}); per step: clbench {per_step:+.2f} ms over the bare loop"
                )
                for side, values in rates.items():
                    print(f"    repeats {side}: {[round(r) for r in values]}")
                continue
            lt = statistics.median(rates["lightning"])
            print(
                f"{workload:9} ({cfg.scenario.name}, batch {cfg.train.batch_size}, "
                f"{cfg.train.epochs} epochs): clbench {c:,.0f} samples/s, bare loop {b:,.0f} "
                f"samples/s, ratio {c / b:.2f} (target >= 0.9); plain Lightning {lt:,.0f} "
                f"samples/s, ratio to bare {lt / b:.2f}; per step: clbench "
                f"{1e3 * cfg.train.batch_size * (1 / c - 1 / b):+.2f} ms, plain Lightning "
                f"{1e3 * cfg.train.batch_size * (1 / lt - 1 / b):+.2f} ms over the bare loop"
            )
            for side, values in rates.items():
                print(f"    repeats {side}: {[round(r) for r in values]}")
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""clbench vs. Avalanche: wall time and final accuracy, side by side in one process.

Run from the repository root:

    python benchmarks/vs_avalanche.py                 # one seed (0), clbench's defaults
    python benchmarks/vs_avalanche.py --seeds 0 1 2   # mean over three seeds
    python benchmarks/vs_avalanche.py --methods lwf --seeds 0 1 2   # some methods only

What is compared, on the `split-mnist-5k` scenario (4,000 train / 1,000 test real MNIST
digits, five experiences of two classes each, class order 0..9): each clbench strategy of
`benchmarks/avalanche_methods.py`'s registry (`METHODS`) against the Avalanche strategy it
names there, built with the hyperparameters of clbench's resolved config of that strategy.
The first two, whose wall times the speed table quotes:

* clbench `replay`   vs. Avalanche `avalanche.training.Replay` (same buffer size);
* clbench `finetune` vs. Avalanche `avalanche.training.Naive`.

Both sides get the same data tensors (`scenarios.mnist5k.load_mnist_5k`), the same
Avalanche benchmark builder (`scenarios.base.class_incremental`, the one clbench itself
uses), the same model (Flatten -> Linear(784,400) -> ReLU -> Linear(400,400) -> ReLU ->
Linear(400,10)), SGD with the same lr and momentum, a fresh optimizer state (no momentum
carried over) at each experience when clbench resets it (`train.optimizer_state`), the same
batch size, the same epochs per experience and, for replay, 32 current + 32 buffer samples
per step. Every default (epochs, batch size, lr, momentum, the strategy's own settings) is
read from clbench's resolved configuration of that strategy and scenario; `--epochs` and
`--buffer-size` override them for both sides.

Figures, per method and seed:

* wall time (s): `time.perf_counter` around everything one run does after all imports:
  loading the 5,000 digits, building the Avalanche benchmark, building the model, the
  strategy (and, for clbench, the Lightning Trainer), training on every experience and,
  after each experience, evaluating on the whole test stream (1,000 digits), as clbench's
  runner does. For clbench this is the `run(cfg)` call, which also reads the experiences
  back as tensors and writes a TensorBoard log and its JSON record (to a temporary
  directory); composing the config is not counted. Python import time is excluded: every
  module is imported, and a warm-up run of each method (1 epoch) is done, before any timing
  (`--no-warmup` skips the warm-up, so the first run also pays lazy imports and first-call
  costs).
* cpu (s): process CPU time (all threads) over the same span; printed per run, to help
  tell a slow library from a busy machine (the load average is printed at start and end).
* train (s): the training part only. clbench: its runner's summed `trainer.fit` time (the
  buffer update after each experience is outside it); Avalanche: summed `strategy.train`
  time, which includes its buffer update (`after_training_exp`).
* final accuracy: accuracy on all 1,000 test digits after the last experience, argmax over
  all 10 outputs. clbench's figure is its record's `final_accuracy`; Avalanche's is computed
  here from the trained model on the same test tensors (and checked against Avalanche's own
  stream accuracy).
* ratio: mean clbench wall time / mean Avalanche wall time (below 1: clbench is faster).

Differences that remain (they cannot be removed without changing either library):

* Buffer content. clbench fills its buffer by reservoir sampling over the whole stream
  after each experience (a uniform sample of everything seen). Avalanche's stock `Replay`
  uses `ExperienceBalancedBuffer`: an equal share of the buffer per experience seen so far,
  each share a random subset of its experience. The experiences here have equal sizes, so
  the expected composition is the same; `--avalanche-buffer reservoir` uses Avalanche's
  `ReservoirSamplingBuffer` instead (via `Naive` + `ReplayPlugin`, which is what `Replay` is).
* Replay batch draw. clbench draws each replay batch uniformly with replacement from the
  buffer. Avalanche's `ReplayDataLoader` goes through a shuffled buffer without replacement
  and cycles it; with a 200-sample buffer and batches of 32 every seventh buffer batch is the
  remainder of 8 (its `drop_last` also applies to the current data, so it cannot be set for
  the buffer alone). Per epoch of an 800-sample experience both sides take 25 steps of 32
  current samples; clbench adds 32 buffer samples to each (800 replayed), Avalanche 32 to
  22 of them and 8 to 3 (728 replayed). On the first experience neither side replays.
* Data path. clbench trains from in-memory tensors; Avalanche goes through its
  `AvalancheDataset` per-sample indexing and collation. This is part of what is measured.
* Random streams. Both sides are seeded with the same seed, but the libraries consume random
  numbers differently, so initial weights, shuffles and buffer picks differ: accuracies are
  comparable only statistically (use several seeds).
* Work per step is otherwise the same: the forward/backward pass of a 64-sample batch
  (32 for finetune/Naive) through the same MLP, one SGD step.

Threads: torch's default thread count is left alone (printed at the top) for both sides.
Warnings raised during the runs are collected (Avalanche re-emits a deprecation warning at
every buffer update) and their distinct messages listed once at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import numpy as np
import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin
from avalanche_methods import METHODS, MLP
from omegaconf import DictConfig, OmegaConf
from torch import nn

from clbench.compose import compose
from clbench.runner import run
from scenarios.base import class_incremental, resolve_class_order, split_classes
from scenarios.mnist5k import N_TEST, load_mnist_5k

SCENARIO = "split-mnist-5k"
STREAM_ACC_KEY = "Top1_Acc_Stream/eval_phase/test_stream"


@dataclass
class Measurement:
    framework: str  # "clbench" or "avalanche"
    method: str
    seed: int
    wall_s: float
    cpu_s: float  # process CPU time (all threads) over the same span as wall_s
    train_s: float
    final_accuracy: float
    experience_classes: list[list[int]]
    test_size: int


@dataclass
class Settings:
    """The training settings both sides use, taken from clbench's resolved config."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    lr: float
    momentum: float
    hidden_dim: int
    num_layers: int
    reset_optimizer: bool
    class_order: list[int]
    classes_per_exp: list[int]

    def experience_classes(self) -> list[list[int]]:
        out, start = [], 0
        for n in self.classes_per_exp:
            out.append(sorted(self.class_order[start : start + n]))
            start += n
        return out


# Warnings seen during the runs: message -> count.
CAUGHT: dict[str, int] = {}


@contextmanager
def collect_warnings() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message).splitlines()[0][:110]}"
        CAUGHT[key] = CAUGHT.get(key, 0) + 1


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """fn(), its wall time and its process CPU time."""
    w0, c0 = perf_counter(), process_time()
    with collect_warnings():
        out = fn()
    return out, perf_counter() - w0, process_time() - c0


# -- clbench -------------------------------------------------------------------------------


def clbench_config(
    strategy: str, seed: int, epochs: int | None, buffer_size: int | None, results_dir: Path
) -> DictConfig:
    overrides = [
        f"seed={seed}",
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
        f"results.dir={results_dir}",
    ]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    cfg = compose(strategy, SCENARIO, None, overrides)
    if buffer_size is not None and "buffer_size" in cfg.strategy:
        OmegaConf.update(cfg, "strategy.buffer_size", buffer_size)
    return cfg


def settings_from(cfg: DictConfig) -> Settings:
    """The shared training settings, from a composed clbench config."""
    t, b, s = cfg.train, cfg.backbone, cfg.scenario
    if t.optimizer != "sgd" or t.weight_decay != 0.0 or b.name != "mlp" or b.checkpoint:
        sys.exit("this comparison assumes SGD without weight decay and a fresh mlp backbone")
    return Settings(
        epochs=int(t.epochs),
        batch_size=int(t.batch_size),
        eval_batch_size=int(t.eval_batch_size),
        lr=float(t.lr),
        momentum=float(t.momentum),
        hidden_dim=int(b.hidden_dim),
        num_layers=int(b.num_layers),
        reset_optimizer=str(t.optimizer_state) == "reset",
        class_order=resolve_class_order(s.class_order, 10, s.name),
        classes_per_exp=split_classes(10, s.n_experiences, s.name),
    )


def run_clbench(cfg: DictConfig) -> Measurement:
    """One clbench run; the wall time is that of the whole `run(cfg)` call."""
    result, wall, cpu = timed(lambda: run(cfg))
    record = result.record
    return Measurement(
        framework="clbench",
        method=str(cfg.strategy.name),
        seed=int(cfg.seed),
        wall_s=wall,
        cpu_s=cpu,
        train_s=float(record["costs"]["train_time_s"]),
        final_accuracy=float(record["metrics"]["final_accuracy"]),
        experience_classes=[list(c) for c in record["experience_classes"]],
        test_size=int(sum(record["test_sizes"])),
    )


# -- Avalanche -----------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Top-1 accuracy, argmax over all outputs."""
    model.eval()
    correct = 0
    for s in range(0, len(x), batch_size):
        correct += int((model(x[s : s + batch_size]).argmax(dim=1) == y[s : s + batch_size]).sum())
    return correct / len(x)


def avalanche_strategy(
    method: str, cfg: DictConfig, model: MLP, st: Settings, opts: dict[str, Any]
) -> Any:
    common: dict[str, Any] = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=st.lr, momentum=st.momentum),
        "criterion": nn.CrossEntropyLoss(),
        "train_mb_size": st.batch_size,
        "train_epochs": st.epochs,
        "eval_mb_size": st.eval_batch_size,
        "device": "cpu",
        "evaluator": EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
    }
    return METHODS[method].build(cfg, model, common, opts)


def task_labelled(bench: Any) -> Any:
    """The benchmark with task label 0 on every sample, as Avalanche's own class-incremental
    benchmarks (SplitMNIST) have: LwF, EWC and others read the task labels of an experience."""
    from avalanche.benchmarks.scenarios.dataset_scenario import DatasetExperience
    from avalanche.benchmarks.scenarios.generic_scenario import CLScenario, EagerCLStream
    from avalanche.benchmarks.scenarios.task_aware import with_task_labels
    from avalanche.benchmarks.utils import ConstantSequence, TaskLabels
    from avalanche.benchmarks.utils.classification_dataset import (
        TaskAwareClassificationDataset,
    )

    streams = []
    for name, stream in bench.streams.items():
        exps = []
        for i, exp in enumerate(stream):
            labels = TaskLabels(ConstantSequence(0, len(exp.dataset)))
            data = TaskAwareClassificationDataset(
                [exp.dataset.update_data_attribute("targets_task_labels", labels)]
            )
            exps.append(DatasetExperience(dataset=data, current_experience=i))
        streams.append(EagerCLStream(name, exps))
    return with_task_labels(CLScenario(streams))


def avalanche_run(
    method: str, cfg: DictConfig, seed: int, st: Settings, opts: dict[str, Any]
) -> dict[str, Any]:
    """Avalanche's counterpart of clbench's `method` over the same stream, doing the same
    work as clbench's `run`."""
    train_x, train_y, test_x, test_y = load_mnist_5k()
    bench = task_labelled(
        class_incremental((train_x, train_y), (test_x, test_y), st.class_order, st.classes_per_exp)
    )
    seed_everything(seed)
    model = MLP(st.hidden_dim, st.num_layers)
    strategy = avalanche_strategy(method, cfg, model, st, opts)
    train_s = 0.0
    metrics: dict[str, Any] = {}
    for exp in bench.train_stream:
        t0 = perf_counter()
        # as clbench's train.optimizer_state: reset (the default) drops the momentum
        strategy.train(exp, eval_streams=[], reset_optimizer_state=st.reset_optimizer)
        train_s += perf_counter() - t0
        metrics = strategy.eval(bench.test_stream)
    return {
        "train_s": train_s,
        # strategy.model: some strategies (GDumb) replace the model they were given
        "final_accuracy": accuracy(strategy.model, test_x, test_y, st.eval_batch_size),
        "stream_accuracy": float(metrics.get(STREAM_ACC_KEY, float("nan"))),
        "classes": [sorted(int(c) for c in e.dataset.targets.uniques) for e in bench.train_stream],
        "test_size": sum(len(e.dataset) for e in bench.test_stream),
    }


def run_avalanche(
    method: str, cfg: DictConfig, seed: int, st: Settings, opts: dict[str, Any]
) -> Measurement:
    """Avalanche's counterpart of clbench's `method`, reported under clbench's name."""
    out, wall, cpu = timed(lambda: avalanche_run(method, cfg, seed, st, opts))
    if abs(out["stream_accuracy"] - out["final_accuracy"]) > 1e-9:
        print(
            f"  note: Avalanche's own stream accuracy {out['stream_accuracy']:.4f} differs "
            f"from the one computed here, {out['final_accuracy']:.4f}"
        )
    return Measurement(
        framework="avalanche",
        method=method,
        seed=seed,
        wall_s=wall,
        cpu_s=cpu,
        train_s=out["train_s"],
        final_accuracy=out["final_accuracy"],
        experience_classes=out["classes"],
        test_size=out["test_size"],
    )


# -- reporting -----------------------------------------------------------------------------


def versions() -> str:
    out = []
    for dist in ("torch", "lightning", "avalanche-lib", "numpy", "clbench"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} absent")
    return ", ".join(out)


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def mean_sd(values: list[float], fmt: str) -> str:
    m = format(statistics.fmean(values), fmt)
    return m if len(values) < 2 else f"{m}±{format(statistics.stdev(values), fmt)}"


def table(results: list[Measurement], methods: list[str], n_seeds: int) -> str:
    def pick(framework: str, method: str) -> list[Measurement]:
        return [r for r in results if r.framework == framework and r.method == method]

    head = (
        f"{'clbench / avalanche':<22}{'wall s clb':>12}{'wall s avl':>12}{'ratio':>7}"
        f"{'train s clb':>13}{'train s avl':>13}{'final acc clb':>16}{'final acc avl':>16}"
    )
    lines = [head, "-" * len(head)]
    for ours in methods:
        theirs = METHODS[ours].avalanche
        a, b = pick("clbench", ours), pick("avalanche", ours)
        ratio = statistics.fmean(r.wall_s for r in a) / statistics.fmean(r.wall_s for r in b)
        lines.append(
            f"{ours + ' / ' + theirs:<22}"
            f"{mean_sd([r.wall_s for r in a], '.1f'):>12}{mean_sd([r.wall_s for r in b], '.1f'):>12}"
            f"{ratio:>7.2f}"
            f"{mean_sd([r.train_s for r in a], '.1f'):>13}"
            f"{mean_sd([r.train_s for r in b], '.1f'):>13}"
            f"{mean_sd([r.final_accuracy for r in a], '.4f'):>16}"
            f"{mean_sd([r.final_accuracy for r in b], '.4f'):>16}"
        )
    sd = " (± sample sd)" if n_seeds > 1 else ""
    lines.append(
        f"mean over {n_seeds} seed(s){sd}; ratio = mean clbench wall / mean Avalanche wall"
    )
    lines += [f"{m}: {METHODS[m].note}" for m in methods if METHODS[m].note]
    return "\n".join(lines)


def quiet() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=["replay", "finetune"],
        help="clbench strategies to compare (default: replay finetune)",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: clbench's train.epochs")
    p.add_argument(
        "--buffer-size", type=int, default=None, help="default: clbench's strategy.buffer_size"
    )
    p.add_argument(
        "--avalanche-buffer",
        choices=["balanced", "reservoir"],
        default="balanced",
        help="balanced: stock Replay (ExperienceBalancedBuffer, the default); "
        "reservoir: ReplayPlugin with ReservoirSamplingBuffer",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up runs")
    args = p.parse_args(argv)
    quiet()

    with tempfile.TemporaryDirectory(prefix="clbench-vs-avalanche-") as tmp:
        results_dir = Path(tmp)  # clbench's records and TensorBoard logs; deleted at the end

        def cfg(strategy: str, seed: int, epochs: int | None = args.epochs) -> DictConfig:
            return clbench_config(strategy, seed, epochs, args.buffer_size, results_dir)

        methods = list(dict.fromkeys(args.methods))
        settings = {m: settings_from(cfg(m, 0)) for m in methods}
        opts = {"avalanche_buffer": args.avalanche_buffer}
        st = settings[methods[0]]
        if any(
            replace(s, reset_optimizer=True) != replace(st, reset_optimizer=True)
            for s in settings.values()
        ):
            print("note: the methods' clbench defaults differ in training settings:")
            for m, s in settings.items():
                print(f"  {m}: {s}")
        print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cpus")
        print(f"python {platform.python_version()}; {versions()}")
        print(f"torch threads: {torch.get_num_threads()} (default, both sides); {load()}")
        print(
            f"{SCENARIO}: classes per experience {st.experience_classes()}; {st.epochs} epoch(s) per experience, "
            f"batch {st.batch_size}, SGD lr {st.lr} momentum {st.momentum}, mlp "
            f"{st.num_layers}x{st.hidden_dim}; Avalanche replay buffer: {args.avalanche_buffer}"
        )

        if not args.no_warmup:
            t0 = perf_counter()
            for m in methods:
                run_clbench(cfg(m, 0, epochs=1))
                run_avalanche(m, cfg(m, 0, 1), 0, replace(settings[m], epochs=1), opts)
            print(f"warm-up: each method once with 1 epoch, untimed ({perf_counter() - t0:.1f} s)")

        print(
            f"\n{'seed':>4}  {'framework':<10}{'method':<10}"
            f"{'wall s':>8}{'cpu s':>8}{'train s':>9}{'final acc':>11}"
        )
        results: list[Measurement] = []
        for i, seed in enumerate(args.seeds):
            jobs: list[tuple[str, str]] = []
            for m in methods:
                jobs += [("clbench", m), ("avalanche", m)]
            if i % 2:  # alternate the order, so that neither side always runs first
                jobs.reverse()
            for framework, method in jobs:
                if framework == "clbench":
                    m = run_clbench(cfg(method, seed))
                else:
                    m = run_avalanche(method, cfg(method, seed), seed, settings[method], opts)
                if m.experience_classes != st.experience_classes() or m.test_size != N_TEST:
                    print(
                        f"  WARNING: {framework} saw another stream: classes "
                        f"{m.experience_classes}, {m.test_size} test samples"
                    )
                results.append(m)
                print(
                    f"{seed:>4}  {framework:<10}{method:<10}{m.wall_s:>8.1f}{m.cpu_s:>8.1f}"
                    f"{m.train_s:>9.1f}{m.final_accuracy:>11.4f}"
                )

    print(f"\n{load()}; torch threads now: {torch.get_num_threads()}")
    if CAUGHT:
        print("warnings raised during the runs (not shown inline):")
        for msg, n in CAUGHT.items():
            print(f"  {n:>3}x {msg}")
    print()
    print(table(results, methods, len(args.seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

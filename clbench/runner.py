"""The runner: the one loop that every strategy and scenario goes through.

Per training experience: `before_experience`, a Lightning `fit` on the strategy's training
data for `train_epochs(exp)` epochs (skipped when 0: nothing to train), `after_experience`,
then evaluation on every test experience (one row of the accuracy matrix). The runner owns
seeding, the Trainer, logging, timing, per-experience state and the record; it never looks
at a strategy's name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from clbench import batching, checkpoint, records
from clbench import metrics as M
from clbench.config import to_dict
from clbench.errors import ClbenchError, RunInterrupted
from clbench.stream import Experience
from scenarios import SCENARIOS
from strategies import STRATEGIES
from strategies.base import Strategy

RUN_ID_ENV = "CLBENCH_RUN_ID"  # handed to DDP worker processes, which re-run the command


@dataclass
class RunResult:
    record: dict[str, Any]
    path: Path | None  # None on processes other than rank 0


def check_compatible(strategy: str, scenario: str) -> str:
    """The scenario's kind, or an error when the strategy does not support it."""
    kind = SCENARIOS.get(scenario).meta["kind"]
    kinds = STRATEGIES.get(strategy).meta["kinds"]
    if kind not in kinds:
        raise ClbenchError(
            f"strategy '{strategy}' does not support {kind} scenarios such as '{scenario}'; "
            f"it supports: {', '.join(kinds)}"
        )
    return kind


class ExperienceSampler(DistributedSampler):
    """Shuffles by (seed, epoch within the experience), whatever Lightning's global epoch
    count is, so a resumed run draws the same batches as an uninterrupted one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
        super().set_epoch(epoch - self._first_epoch)


def train_loader(
    data: Dataset, batch_size: int, world: int, rank: int, seed: int, shuffle: bool = True
) -> DataLoader:
    """A shuffled loader whose global batches do not depend on the number of processes.

    Process r takes positions r, r+W, ... of one seeded permutation (of the stored order when
    `shuffle` is off), so the W local batches of step k together are exactly the
    single-process batch k.
    """
    if batch_size % world:
        raise ClbenchError(
            f"train.batch_size={batch_size} must be divisible by the {world} processes"
        )
    sampler = ExperienceSampler(data, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
    fast = batching.batched(data)  # in-memory tensors: gather each batch in one index
    if fast is not None:
        return DataLoader(
            fast, batch_size=batch_size // world, sampler=sampler, collate_fn=batching.pass_batch
        )
    return DataLoader(data, batch_size=batch_size // world, sampler=sampler)


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


@torch.no_grad()
def evaluate(
    model: Strategy, experiences: list[Experience], device: torch.device, batch_size: int
) -> tuple[list[float], list[int]]:
    """Accuracy on each test experience, and its size. Under DDP each process scores a
    disjoint shard and the counts are summed, so every test sample counts exactly once.
    Experiences that share one test set (e.g. CORe50's) are scored once."""
    world, rank = _dist()
    was_training = model.training
    model.eval()
    model.to(device)
    counts = torch.zeros(2, len(experiences), dtype=torch.float64)
    scored: dict[int, int] = {}  # id of a test set -> the column that scored it
    for j, exp in enumerate(experiences):
        first = scored.setdefault(id(exp.test), j)
        if first != j:
            counts[:, j] = counts[:, first]
            continue
        x, y = exp.test.tensors[0][rank::world], exp.test.tensors[1][rank::world]
        for s in range(0, len(x), batch_size):
            pred = model.predict(x[s : s + batch_size].to(device)).cpu()
            counts[0, j] += (pred == y[s : s + batch_size]).sum().item()
        counts[1, j] += len(y)
    if world > 1:
        on = device if dist.get_backend() == "nccl" else torch.device("cpu")
        reduced = counts.to(on)
        dist.all_reduce(reduced)
        counts = reduced.cpu()
    model.train(was_training)
    return (counts[0] / counts[1].clamp(min=1)).tolist(), [int(n) for n in counts[1].tolist()]


@torch.no_grad()
def online_accuracy(model: Strategy, exp: Experience, device: torch.device) -> float | None:
    """Accuracy of the predictions the strategy made on `exp` while training on it (each
    batch predicted before the update on it; `Strategy.online_predictions`), scored against
    `exp.test`'s labels; None when the strategy makes none. Under DDP each process holds the
    predictions of its own batches (-1 elsewhere): the maximum over processes joins them."""
    pred = model.online_predictions(exp)
    if pred is None:
        return None
    y = exp.test.tensors[1]
    pred = pred.to(torch.int64).reshape(-1)
    if len(pred) != len(y):
        raise ValueError(f"online_predictions gave {len(pred)} predictions for {len(y)} samples")
    world, _ = _dist()
    if world > 1:
        on = device if dist.get_backend() == "nccl" else torch.device("cpu")
        joined = pred.to(on)
        dist.all_reduce(joined, op=dist.ReduceOp.MAX)
        pred = joined.cpu()
    return float((pred.cpu() == y).double().mean())  # an unpredicted sample (-1) is an error


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


def check_same_state_across_processes(model: Strategy, exp_index: int) -> None:
    """Under DDP, every process must hold the same strategy state (weights, buffers,
    prototypes); a strategy that accumulates per-process data without reducing it fails here
    instead of silently producing numbers that depend on the number of processes."""
    world, _ = _dist()
    if world == 1:
        return
    prints: list[Any] = [None] * world
    dist.all_gather_object(prints, state_fingerprint(model.state_dict()))
    if len(set(prints)) != 1:
        raise ClbenchError(
            f"strategy state differs across the {world} processes after experience {exp_index + 1}: "
            f"'{model.cfg.strategy.name}' is not exact under DDP"
        )


def _make_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    t = cfg.trainer
    devices = OmegaConf.to_container(t.devices) if OmegaConf.is_config(t.devices) else t.devices
    try:
        return L.Trainer(
            accelerator=t.accelerator,
            devices=devices,
            strategy=t.strategy,
            num_nodes=t.num_nodes,
            precision=t.precision,
            max_epochs=cfg.train.epochs,
            logger=TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""),
            enable_checkpointing=False,
            enable_progress_bar=t.progress_bar,
            enable_model_summary=False,
            use_distributed_sampler=False,  # train_loader shards the data itself
            num_sanity_val_steps=0,
            log_every_n_steps=t.log_every_n_steps,
            default_root_dir=str(run_dir),
        )
    except (MisconfigurationException, ValueError, RuntimeError, ImportError) as e:
        raise ClbenchError(f"bad trainer settings: {str(e).strip().splitlines()[0]}") from None


def _start_processes(trainer: L.Trainer) -> None:
    """Start the DDP worker processes and join the process group now, not in the first `fit`,
    so that an experience with nothing to train can skip `fit` on every process.

    Only for Lightning's `ddp` launcher, which re-runs this command in each worker: every
    process then runs this same loop. A later `fit` finds the processes and group in place.
    """
    launcher = trainer.strategy.launcher
    if isinstance(launcher, _SubprocessScriptLauncher):
        launcher.launch(trainer.strategy.setup_environment, trainer=trainer)


class TargetCheck(Callback):
    """Time-to-result: during the last experience, evaluate the accuracy on seen data at the
    end of every training epoch (the end-of-experience evaluation counts too), so a run that
    reaches `scenario.target_accuracy` early in its last experience is timed when it does.
    Only the last experience counts: before it, a continual run has not produced a model of
    the whole stream (and accuracy on the few classes seen first is no result)."""

    def __init__(self, check: Callable[[], None]) -> None:
        self.check = check
        self.enabled = False

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            self.check()


def _peak_memory_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _resident_memory_mb() -> float:
    """Current resident memory (Linux /proc); elsewhere the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return _peak_memory_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _quiet_lightning() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")


def run_dir_for(cfg: DictConfig, run_id: str) -> Path:
    """The working folder of a run: TensorBoard logs, saved config, per-experience state."""
    return Path(cfg.results.dir) / "work" / cfg.scenario.name / cfg.strategy.name / run_id


def run(
    cfg: DictConfig, echo: Callable[[str], None] | None = None, resume: Path | None = None
) -> RunResult:
    """Run `cfg.strategy` over `cfg.scenario`; write the record on rank 0.

    After every experience the state (model and strategy state, RNG states, accuracy rows)
    is saved in the run folder; `resume` (a run folder) continues after its last finished
    experience and gives the same record as an uninterrupted run on CPU.
    """
    t_start = perf_counter()
    _quiet_lightning()
    kind = check_compatible(cfg.strategy.name, cfg.scenario.name)
    results_dir = Path(cfg.results.dir)
    records.check_writable(results_dir)

    if resume is not None:
        done = records.record_path(results_dir, cfg.scenario.name, cfg.strategy.name, resume.name)
        if done.exists():
            raise ClbenchError(f"run {resume.name} is already complete: its record is {done}")
    inherited = os.environ.get(RUN_ID_ENV)
    run_id = resume.name if resume is not None else (inherited or records.new_run_id(cfg.seed))
    os.environ[RUN_ID_ENV] = run_id
    run_dir = resume if resume is not None else run_dir_for(cfg, run_id)
    try:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        scenario = SCENARIOS.load(cfg.scenario.name).build(cfg.scenario, cfg.data)
        experiences = scenario.experiences()
        model: Strategy = STRATEGIES.load(cfg.strategy.name)(cfg, scenario)
        stream = _Stream(cfg, kind, scenario, experiences, model)
        return _Run(stream, run_id, run_dir, t_start, echo, resumed=resume is not None).run()
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    finally:
        if inherited is None:
            os.environ.pop(RUN_ID_ENV, None)


@dataclass
class _Stream:
    """What one run trains and scores: its config, the scenario and the strategy."""

    cfg: DictConfig
    kind: str
    scenario: Any
    experiences: list[Experience]
    model: Strategy


@dataclass
class Progress:
    """Everything the record needs that accumulates over the stream; saved after every
    experience with the model, so a resumed run carries on from it."""

    rows: list[list[float]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    fit_time: float = 0.0
    n_trained: int = 0
    elapsed: float = 0.0  # wall time of earlier attempts (resumed runs)
    resumes: int = 0
    eval_time: float = 0.0  # evaluation is paused out of the time-to-result clock
    time_to_target: float | None = None
    experience_time: list[float] = field(default_factory=list)  # hooks, training, evaluation
    experience_memory_mb: list[float] = field(default_factory=list)  # resident, after each
    online_accuracy: list[float | None] = field(default_factory=list)  # `online_accuracy`

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> Progress:
        """The progress in a checkpoint (fields it predates keep their defaults)."""
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


class _Run:
    """One run: the Trainer, the loop over experiences, checkpoints, and the record."""

    def __init__(
        self,
        stream: _Stream,
        run_id: str,
        run_dir: Path,
        t_start: float,
        echo: Callable[[str], None] | None,
        resumed: bool,
    ) -> None:
        self.s, self.cfg, self.model = stream, stream.cfg, stream.model
        self.run_id, self.run_dir, self.t_start = run_id, run_dir, t_start
        self.trainer = _make_trainer(self.cfg, run_dir)
        _start_processes(self.trainer)
        self.device = self.trainer.strategy.root_device
        self.say = echo if (echo and self.trainer.is_global_zero) else (lambda _: None)
        self.progress = Progress()
        if resumed:
            self._restore()
        elif self.trainer.is_global_zero:
            run_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.cfg, run_dir / checkpoint.CONFIG_FILE, resolve=True)
        info = stream.scenario.info
        # Online protocol (scenario.online=true): one pass over each experience in small batches.
        self.online = info.get("online")
        self.batch_size = (
            int(self.online["batch_size"]) if self.online else self.cfg.train.batch_size
        )
        # e.g. CTTA: a domain's images are adapted on in their stored order (CoTTA's protocol)
        self.shuffle = not bool(info.get("keep_order", False))
        self.target = self.cfg.scenario.get("target_accuracy")
        self.target_check = TargetCheck(self._check_during_training)

    def _restore(self) -> None:
        saved = checkpoint.load(self.run_dir)
        if saved is None:
            return
        if saved["run_id"] != self.run_id:
            raise ClbenchError(
                f"checkpoint in {self.run_dir} belongs to run {saved['run_id']}, not {self.run_id}"
            )
        self.model.load_state_dict(saved["model"])
        self.model.restore(self.s.experiences[: len(saved["rows"])])
        checkpoint.set_rng_state(saved["rng"])
        self.progress = Progress.from_saved(saved)
        self.progress.resumes += 1
        n, total = len(self.progress.rows), len(self.s.experiences)
        self.say(f"resuming {self.run_id} after experience {n}/{total}")

    # -- time-to-result -----------------------------------------------------------------
    def _wall(self) -> float:
        return self.progress.elapsed + perf_counter() - self.t_start

    def _evaluate(self) -> list[float]:
        """One row of the accuracy matrix; its time is kept off the time-to-result clock."""
        t0 = perf_counter()
        row, self.progress.sizes = evaluate(
            self.model, self.s.experiences, self.device, self.cfg.train.eval_batch_size
        )
        self.progress.eval_time += perf_counter() - t0
        return row

    def _check_target(self, row: list[float], n_seen: int) -> None:
        p = self.progress
        seen = M.pooled_accuracy(row[:n_seen], p.sizes[:n_seen])
        if self.target is not None and p.time_to_target is None and seen >= self.target:
            p.time_to_target = self._wall() - p.eval_time

    def _check_during_training(self) -> None:
        rng = checkpoint.rng_state()  # training draws the same random numbers as without it
        self._check_target(self._evaluate(), len(self.s.experiences))
        checkpoint.set_rng_state(rng)

    # -- the loop -----------------------------------------------------------------------
    def fit(self, data: Dataset, epochs: int, seed: int, shuffle: bool = True) -> None:
        trainer = self.trainer
        loader = train_loader(
            data, self.batch_size, trainer.world_size, trainer.global_rank, seed, shuffle
        )
        trainer.fit_loop.max_epochs = trainer.current_epoch + epochs
        t0 = perf_counter()
        try:
            trainer.fit(self.model, train_dataloaders=loader)
        except SystemExit:
            # Lightning turns Ctrl-C inside fit into sys.exit(1); keep it an interrupt
            if trainer.interrupted:
                raise KeyboardInterrupt from None
            raise
        self.progress.fit_time += perf_counter() - t0
        self.progress.n_trained += len(data) * epochs

    def run(self) -> RunResult:
        cfg, model, experiences = self.cfg, self.model, self.s.experiences
        # LR schedules over the stream need every experience's steps before it starts.
        epochs = int(self.online["epochs"]) if self.online else cfg.train.epochs
        model.plan_stream(experiences, self.batch_size, epochs)
        source = self.s.scenario.info.get("source_train")  # e.g. CTTA: the source model first
        if source is not None and not self.progress.rows and model.source_epochs() > 0:
            self.say("training the source model on the clean source data")
            self.fit(source(), model.source_epochs(), cfg.seed * 1000 + 999)
        for exp in experiences[len(self.progress.rows) :]:
            self.experience(exp)
        if self.trainer.logger is not None:
            self.trainer.logger.finalize("success")
        record = self.record()
        write = self.trainer.is_global_zero
        path = records.write_record(record, Path(cfg.results.dir)) if write else None
        return RunResult(record, path)

    def experience(self, exp: Experience) -> None:
        """Hooks, training, online scores, evaluation and the checkpoint of one experience."""
        model, p, t0 = self.model, self.progress, perf_counter()
        last = exp.index == len(self.s.experiences) - 1
        self.target_check.enabled = last
        if last and self.target is not None:
            # attached for the last experience only: Lightning calls every hook of every
            # callback on every step
            self.trainer.callbacks.append(self.target_check)
        model.start_experience(exp.index)
        model.before_experience(exp)
        epochs = model.train_epochs(exp)
        if self.online and epochs > 0:
            epochs = int(self.online["epochs"])
        if epochs > 0:  # a strategy with nothing to train here skips fit
            seed = self.cfg.seed * 1000 + exp.index
            self.fit(model.train_dataset(exp), epochs, seed, self.shuffle)
        # fit hands the model back on the CPU; after_experience may encode data with it
        model.to(self.device)
        p.online_accuracy.append(online_accuracy(model, exp, self.device))
        model.after_experience(exp)
        check_same_state_across_processes(model, exp.index)
        row = self._evaluate()
        p.rows.append(row)
        p.experience_time.append(perf_counter() - t0)
        p.experience_memory_mb.append(_resident_memory_mb())
        if last:
            self._check_target(row, exp.index + 1)
        if self.trainer.is_global_zero:
            state = {**asdict(p), "elapsed": self._wall(), "run_id": self.run_id}
            state.update(model=model.state_dict(), rng=checkpoint.rng_state())
            checkpoint.save(self.run_dir, state)
        self._log_row(exp, row)

    def _log_row(self, exp: Experience, row: list[float]) -> None:
        n = exp.index + 1
        seen = M.pooled_accuracy(row[:n], self.progress.sizes[:n])
        if self.trainer.logger is not None:
            metrics = {"eval/seen_accuracy": seen}
            metrics.update({f"eval/accuracy_exp{j}": a for j, a in enumerate(row)})
            self.trainer.logger.log_metrics(metrics, step=self.trainer.global_step)
        self.say(f"experience {n}/{len(self.s.experiences)}: accuracy on seen data {seen:.4f}")

    # -- the record ---------------------------------------------------------------------
    def costs(self) -> dict[str, Any]:
        p, model = self.progress, self.model
        costs = {
            "wall_time_s": self._wall(),
            "train_time_s": p.fit_time,
            "train_samples": p.n_trained,
            "train_samples_per_s": p.n_trained / p.fit_time if p.fit_time > 0 else 0.0,
            "eval_time_s": p.eval_time,
            "experience_time_s": p.experience_time,
            "experience_memory_mb": p.experience_memory_mb,
            "target_accuracy": self.target,
            # training wall time (evaluation paused out) until the target was first reached on
            # the last experience; None: never reached, or no target
            "time_to_target_s": p.time_to_target,
            "peak_memory_mb": _peak_memory_mb(),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
        if torch.cuda.is_available() and self.device.type == "cuda":
            costs["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return costs

    def record(self) -> dict[str, Any]:
        cfg, kind, p = self.cfg, self.s.kind, self.progress
        rows, sizes = p.rows, p.sizes
        return {
            "schema_version": records.SCHEMA_VERSION,
            "run_id": self.run_id,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "strategy": cfg.strategy.name,
            "scenario": cfg.scenario.name,
            "kind": kind,
            "seed": cfg.seed,
            "config": to_dict(cfg),
            "versions": records.versions(),
            "git_commit": records.git_commit(),
            "command": records.command_line(),
            "world_size": self.trainer.world_size,
            # under DDP the runner compared every process's strategy state after each experience
            "ddp_state_checked": self.trainer.world_size > 1,
            "resumes": p.resumes,
            "class_order": self.s.scenario.class_order,
            "experience_classes": [e.classes for e in self.s.experiences],
            "test_sizes": sizes,
            "accuracy_matrix": rows,
            "seen_accuracy": M.seen_accuracy(rows, sizes),
            # per experience: accuracy of the predictions made while training on it; null
            # where the strategy makes none
            "online_accuracy": p.online_accuracy,
            "metrics": {
                **M.summarize(rows, sizes),
                **M.kind_metrics(kind, rows, sizes),
                **M.kind_online_metrics(kind, p.online_accuracy),
            },
            "costs": self.costs(),
            "fidelity": dict(self.model.fidelity),
        }

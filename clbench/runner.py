"""The runner: the one loop that every strategy and scenario goes through.

`run` builds the scenario and the strategy from the config and hands them to `_Run`, which
reads top-down: the Trainer and its processes, then per training experience
`start_experience` and `before_experience`, a Lightning `fit` on the strategy's training
data for the protocol's epochs (skipped when 0: nothing to train), the online scores,
`after_experience`, the DDP state check, one row of the accuracy matrix, and the checkpoint;
at the end the record. The protocol (batch size, online or not, stored order, target, CTTA
source phase) is decided once (clbench/protocol.py); evaluation, distributed helpers and the
record's assembly live in their own modules. The runner never looks at a strategy's name.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from clbench import checkpoint, precision, records, report
from clbench import metrics as M
from clbench.batching import ExperienceSampler, train_loader  # noqa: F401 (re-exported)
from clbench.distributed import (  # noqa: F401 (re-exported)
    check_same_state_across_processes,
    start_processes,
    state_fingerprint,
)
from clbench.errors import ClbenchError, RunInterrupted
from clbench.evaluation import evaluate, online_accuracy
from clbench.progress import progress_callbacks
from clbench.protocol import Protocol
from clbench.report import Progress
from clbench.runlock import RunLock
from clbench.stream import Experience
from clbench.validation import hold_out, validation_view
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


def _make_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    t = cfg.trainer
    devices = OmegaConf.to_container(t.devices) if OmegaConf.is_config(t.devices) else t.devices
    wanted = _check_precision(cfg)
    try:
        trainer = L.Trainer(
            accelerator=t.accelerator,
            devices=devices,
            strategy=t.strategy,
            num_nodes=t.num_nodes,
            precision=t.precision,
            max_epochs=cfg.train.epochs,
            logger=TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""),
            enable_checkpointing=False,
            enable_progress_bar=t.progress_bar,
            callbacks=progress_callbacks(t.progress_bar),  # plain lines when not a terminal
            enable_model_summary=False,
            use_distributed_sampler=False,  # train_loader shards the data itself
            num_sanity_val_steps=0,
            log_every_n_steps=t.log_every_n_steps,
            default_root_dir=str(run_dir),
        )
    except (MisconfigurationException, ValueError, RuntimeError, ImportError) as e:
        raise ClbenchError(f"bad trainer settings: {str(e).strip().splitlines()[0]}") from None
    if trainer.precision_plugin.precision != wanted:  # Lightning chose another: refuse
        on = type(trainer.accelerator).__name__
        raise ClbenchError(
            f"trainer.precision={t.precision} does not run on {on}; {precision.supported()}"
        )
    return trainer


def _check_precision(cfg: DictConfig) -> str:
    """The canonical `trainer.precision`, or a one-line error if it cannot run here."""
    t = cfg.trainer
    cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    return precision.check(t.precision, on_cpu=cpu, lr=cfg.train.lr)


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


def _quiet_lightning() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
    # frozen copies (strategies/frozen.py) stay in eval mode on purpose
    warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")


def run_dir_for(cfg: DictConfig, run_id: str) -> Path:
    """The working folder of a run: TensorBoard logs, saved config, per-experience state."""
    return Path(cfg.results.dir) / "work" / cfg.scenario.name / cfg.strategy.name / run_id


def results_home(run_dir: Path) -> Path | None:
    """The results folder a run folder was made in (`<results>/work/<scenario>/<strategy>/<id>`),
    as an absolute path, whatever the working directory; None for another layout."""
    p = run_dir.resolve()
    return p.parents[3] if len(p.parts) > 4 and p.parts[-4] == "work" else None


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
    _check_precision(cfg)  # before any data is read
    # a resumed run writes its record where it started, from any working directory
    home = results_home(resume) if resume is not None else None
    results_dir = home or Path(cfg.results.dir)
    records.check_writable(results_dir)

    if resume is not None:
        done = records.record_path(results_dir, cfg.scenario.name, cfg.strategy.name, resume.name)
        if done.exists():
            raise ClbenchError(f"run {resume.name} is already complete: its record is {done}")
    inherited = os.environ.get(RUN_ID_ENV)
    run_id = resume.name if resume is not None else (inherited or records.new_run_id(cfg.seed))
    os.environ[RUN_ID_ENV] = run_id
    run_dir = resume if resume is not None else run_dir_for(cfg, run_id)
    lock = RunLock(run_dir) if inherited is None else None  # DDP workers: the launcher's
    try:
        if resume is not None and lock is not None:
            lock.acquire()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        scenario = SCENARIOS.load(cfg.scenario.name).build(cfg.scenario, cfg.data)
        sc = cfg.scenario  # the validation stream, when asked for, is held out of training
        experiences = hold_out(
            scenario.experiences(),
            sc.get("validation_fraction"),
            sc.get("validation_seed"),
            sc.name,
        )
        model: Strategy = STRATEGIES.load(cfg.strategy.name)(cfg, scenario)
        stream = _Stream(cfg, kind, scenario, experiences, model, results_dir)
        return _Run(stream, run_id, run_dir, t_start, echo, resume is not None, lock).run()
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    finally:
        if lock is not None:
            lock.release()
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
    results_dir: Path  # where the record goes


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
        lock: RunLock | None = None,
    ) -> None:
        self.s, self.cfg, self.model = stream, stream.cfg, stream.model
        self.run_id, self.run_dir, self.t_start = run_id, run_dir, t_start
        self.trainer = _make_trainer(self.cfg, run_dir)
        start_processes(self.trainer)
        # the model in the precision's dtype from the start (fit would convert it only when
        # it trains), and every input of its backbone and head in that dtype
        self.trainer.precision_plugin.convert_module(self.model)
        precision.follow_model_dtype(self.model)
        self.device = self.trainer.strategy.root_device
        self.say = echo if (echo and self.trainer.is_global_zero) else (lambda _: None)
        self.progress = Progress()
        if resumed:
            self._restore()
        elif self.trainer.is_global_zero:
            run_dir.mkdir(parents=True, exist_ok=True)
            if lock is not None:
                lock.acquire()
            OmegaConf.save(self.cfg, run_dir / checkpoint.CONFIG_FILE, resolve=True)
        # batch size, online or not, stored order, target, source phase: decided once
        self.protocol = Protocol.of(self.cfg, stream.scenario.info)
        self.target = self.protocol.target
        self.target_check = TargetCheck(self._check_during_training)

    def _restore(self) -> None:
        saved = checkpoint.load(self.run_dir)
        if saved is None:
            return
        if saved["run_id"] != self.run_id:
            raise ClbenchError(
                f"checkpoint in {self.run_dir} belongs to run {saved['run_id']}, not {self.run_id}"
            )
        try:
            self.model.load_state_dict(saved["model"])
            self.model.load_optimizer_state(saved.get("optimizer", {}))
            self.model.restore(self.s.experiences[: len(saved["rows"])])
            checkpoint.set_rng_state(saved["rng"])
            self.progress = Progress.from_saved(saved)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ClbenchError(
                f"checkpoint {self.run_dir / checkpoint.STATE_FILE} does not fit this run "
                f"({type(e).__name__}: {first}); delete it to restart the run"
            ) from None
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
            data, self.protocol.batch_size, trainer.world_size, trainer.global_rank, seed, shuffle
        )
        if len(data) % trainer.world_size:  # the sampler pads every shard to one length
            extra = trainer.world_size - len(data) % trainer.world_size
            self.say(
                f"note: {len(data)} training samples do not divide among {trainer.world_size} "
                f"processes: the sampler repeats {extra} each epoch (unlike 1 process; "
                "docs/records.md)"
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
        model.plan_stream(experiences, self.protocol)
        source = self.protocol.source  # e.g. CTTA: the source model first
        if source is not None and not self.progress.rows and model.source_epochs() > 0:
            self.say("training the source model on the clean source data")
            self.fit(source(), model.source_epochs(), cfg.seed * 1000 + 999)
        for exp in experiences[len(self.progress.rows) :]:
            self.experience(exp)
        if self.trainer.logger is not None:
            self.trainer.logger.finalize("success")
        record = self.record()
        write = self.trainer.is_global_zero
        path = records.write_record(record, self.s.results_dir) if write else None
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
        epochs = self.protocol.epochs(model.train_epochs(exp))
        if epochs > 0:  # a strategy with nothing to train here skips fit
            seed = self.cfg.seed * 1000 + exp.index
            self.fit(model.train_dataset(exp), epochs, seed, self.protocol.shuffle)
        # fit hands the model back on the CPU; after_experience may encode data with it
        model.to(self.device)
        p.online_accuracy.append(online_accuracy(model, exp, self.device))
        model.after_experience(exp)
        check_same_state_across_processes(model, exp.index)
        row = self._evaluate()
        p.rows.append(row)
        validation = validation_view(self.s.experiences)
        if validation is not None:  # scored like the test data, off the time-to-result clock
            t_val = perf_counter()
            val_row, p.validation_sizes = evaluate(
                model, validation, self.device, self.cfg.train.eval_batch_size
            )
            p.validation_rows.append(val_row)
            p.eval_time += perf_counter() - t_val
        p.experience_time.append(perf_counter() - t0)
        p.experience_memory_mb.append(report.resident_memory_mb())
        if last:
            self._check_target(row, exp.index + 1)
        if self.trainer.is_global_zero:
            state = {**asdict(p), "elapsed": self._wall(), "run_id": self.run_id}
            state.update(
                model=model.state_dict(),
                optimizer=model.optimizer_state(),
                rng=checkpoint.rng_state(),
            )
            checkpoint.save(self.run_dir, state)
        self._log_row(exp, row)

    def record(self) -> dict[str, Any]:
        s, p = self.s, self.progress
        costs = report.costs(p, self.model, self.device, self.target, self._wall())
        return report.assemble(
            self.run_id,
            self.cfg,
            s.kind,
            s.scenario,
            s.experiences,
            p,
            self.trainer.world_size,
            costs,
            self.model.fidelity,
        )

    def _log_row(self, exp: Experience, row: list[float]) -> None:
        n = exp.index + 1
        seen = M.pooled_accuracy(row[:n], self.progress.sizes[:n])
        if self.trainer.logger is not None:
            metrics = {"eval/seen_accuracy": seen}
            metrics.update({f"eval/accuracy_exp{j}": a for j, a in enumerate(row)})
            self.trainer.logger.log_metrics(metrics, step=self.trainer.global_step)
        self.say(f"experience {n}/{len(self.s.experiences)}: accuracy on seen data {seen:.4f}")

    # -- the record ---------------------------------------------------------------------

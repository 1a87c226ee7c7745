"""Training progress that reads well in a log file (issue #14, part 6).

On a terminal Lightning's live bar stays. When stdout is not a terminal (a batch job's log,
a pipe) redraws would fill the file with carriage returns, so `LineProgress` prints plain
lines instead: one at the end of an epoch when `EVERY_S` seconds have passed since the last
line or the epoch ends the fit, and one in a long epoch every `EVERY_S` seconds, each with
the epoch, steps, loss and rate. Only the global-zero process prints.
"""

from __future__ import annotations

import sys
from time import perf_counter
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

EVERY_S = 10.0  # seconds between lines (the last epoch of a fit always prints)


class LineProgress(ProgressBar):
    """Plain-line progress for logs: no redraws, a bounded number of lines."""

    def __init__(self, every_s: float = EVERY_S) -> None:
        super().__init__()
        self.every_s = every_s
        self._enabled = True
        self._last = 0.0
        self._epoch_start = 0.0
        self._first = 0  # the trainer's epoch count when this fit started (it is reused)

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._first = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = perf_counter()
        if trainer.current_epoch == self._first:
            self._last = self._epoch_start

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if perf_counter() - self._last >= self.every_s:
            self._line(trainer, "")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        if last or perf_counter() - self._last >= self.every_s:
            self._line(trainer, " done")

    def _line(self, trainer: L.Trainer, what: str) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        now = perf_counter()
        self._last = now
        steps = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        loss = getattr(trainer.lightning_module, "_last_loss", None)
        loss_text = "" if loss is None else f", loss {float(loss):.4g}"
        rate = steps / max(now - self._epoch_start, 1e-9)
        epoch, epochs = trainer.current_epoch - self._first, (trainer.max_epochs or 0) - self._first
        print(
            f"  epoch {epoch + 1}/{epochs}{what}: {steps} steps"
            f"{loss_text}, {rate:.1f} steps/s",
            flush=True,
        )


def progress_callbacks(enabled: bool) -> list[ProgressBar]:
    """The progress display: Lightning's bar on a terminal, plain lines otherwise."""
    return [] if not enabled or sys.stdout.isatty() else [LineProgress()]

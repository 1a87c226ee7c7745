"""Optimizers by name, and the one place that decides when a strategy's optimizer is rebuilt.

A strategy describes its optimizer with two hooks (strategies/base.py): `optimizer_settings()`
(the optimizer's name and hyperparameters, from `train.*` by default) and `param_groups()`
(which parameters it trains, as torch param groups). `OptimizerKeeper` builds the optimizer
from them at every fit and keeps it across experiences under `train.optimizer_state=keep`, so
that Adam's moments or SGD's momentum carry over; `reset` rebuilds it at every experience.
Defaults (docs/optimizer-state.md): keep where the reference code keeps one optimizer (onpro,
tent, vdp); reset elsewhere, our choice, which keeps every earlier record. A change of settings or parameters (a strategy's new phase, e.g. CTTA's
adaptation after the source phase) always rebuilds it. Kept state is saved with the run's
checkpoint (`state()` / `load()`), so a resumed run continues with the same moments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from clbench.errors import ClbenchError, unknown

OPTIMIZER_STATES = ("keep", "reset")


def _sgd(groups: list[dict[str, Any]], s: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        groups, lr=s["lr"], momentum=s.get("momentum", 0.0), weight_decay=s.get("weight_decay", 0.0)
    )


def _adam(groups: list[dict[str, Any]], s: dict[str, Any]) -> torch.optim.Optimizer:
    betas = tuple(s.get("betas", (0.9, 0.999)))
    return torch.optim.Adam(
        groups, lr=s["lr"], betas=betas, weight_decay=s.get("weight_decay", 0.0)
    )


OPTIMIZERS: dict[str, Callable[[list[dict[str, Any]], dict[str, Any]], torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "adam": _adam,
}


def settings_from_train(train: Any) -> dict[str, Any]:
    """The optimizer settings of `train.*` (the default of every strategy)."""
    return {
        "name": train.optimizer,
        "lr": float(train.lr),
        "momentum": float(train.momentum),
        "weight_decay": float(train.weight_decay),
        "betas": [float(b) for b in train.betas],
    }


def check(train: Any) -> None:
    """One-line errors for bad optimizer settings."""
    for key, valid in (("optimizer", OPTIMIZERS), ("optimizer_state", OPTIMIZER_STATES)):
        value = getattr(train, key)
        if value not in valid:
            raise ClbenchError(f"unknown train.{key} '{value}'; valid: {', '.join(valid)}")
    if train.momentum < 0:
        raise ClbenchError(f"train.momentum must be >= 0, got {train.momentum}")
    if len(train.betas) != 2 or not all(0 <= b < 1 for b in train.betas):
        raise ClbenchError(f"train.betas must be two numbers in [0, 1), got {list(train.betas)}")


class OptimizerKeeper:
    """Builds a module's optimizer from its settings and param groups, and keeps it (with its
    state) while `mode` is keep and neither the settings nor the parameters change."""

    def __init__(self, mode: str) -> None:
        if mode not in OPTIMIZER_STATES:
            raise unknown("train.optimizer_state", mode, OPTIMIZER_STATES)
        self.mode = mode
        self.optimizer: torch.optim.Optimizer | None = None
        self.key = ""
        self.experience: int | None = None
        self._pending: dict[str, Any] | None = None  # saved state, loaded at the next build

    @staticmethod
    def describe(module: nn.Module, settings: dict[str, Any], groups: list[dict[str, Any]]) -> str:
        """A key that changes when the optimizer's settings or trained parameters do."""
        names = {id(p): n for n, p in module.named_parameters()}
        parts = [repr(sorted(settings.items()))]
        for g in groups:
            extra = sorted((k, v) for k, v in g.items() if k != "params")
            parts.append(repr((extra, [names.get(id(p), "?") for p in g["params"]])))
        return "|".join(parts)

    def get(
        self,
        module: nn.Module,
        settings: dict[str, Any],
        groups: list[dict[str, Any]],
        experience: int | None,
    ) -> torch.optim.Optimizer:
        """The optimizer for a fit during `experience` (None: outside the stream)."""
        key = self.describe(module, settings, groups)
        fresh = (
            self.optimizer is None
            or key != self.key
            or (self.mode == "reset" and experience != self.experience)
        )
        if fresh:
            if settings["name"] not in OPTIMIZERS:
                raise unknown("optimizer", settings["name"], OPTIMIZERS)
            self.optimizer = OPTIMIZERS[settings["name"]](groups, settings)
            self.key = key
            pending, self._pending = self._pending, None
            if pending is not None and pending["key"] == key and self.mode == "keep":
                self.optimizer.load_state_dict(pending["state"])
            for g in self.optimizer.param_groups:  # the schedule multiplies each group's own lr
                g.setdefault("initial_lr", g["lr"])  # a loaded state brings its own
        self.experience = experience
        assert self.optimizer is not None
        return self.optimizer

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the optimizer's state under keep; nothing under reset (the
        next experience starts a fresh one anyway)."""
        if self.mode != "keep" or self.optimizer is None:
            return {}
        return {"key": self.key, "state": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's state into the optimizer built at the next fit."""
        self._pending = dict(state) if state else None

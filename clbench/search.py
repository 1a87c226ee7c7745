"""Search spaces and quasi-random draws for `clbench tune` (after AlgoPerf, Dahl et al. 2023,
Sec. 5: quasi-random search over a declared space, the same number of trials for every method).

A space maps a config key to (low, high, scale): `log` draws log-uniformly (learning rates),
`linear` uniformly, `int` uniformly over the integers low..high. A study's draws are a
scrambled Sobol sequence (scipy.stats.qmc) seeded by the study's seed: the same seed gives
the same trials, so a study that stopped can be resumed and its draws are recorded.
OUR CHOICES: one Sobol sequence per study, seeded by `seed * 1000 + study`; a trial count
that is not a power of two takes the sequence's first points (scipy warns; we do not).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from clbench.errors import ClbenchError

Space = dict[str, tuple[float, float, str]]
SCALES = ("log", "linear", "int")


def check_space(space: Any, what: str) -> Space:
    """The space as {key: (low, high, scale)}, or a ClbenchError naming the bad entry."""
    out: Space = {}
    for key, entry in dict(space).items():
        try:
            low, high, scale = entry
            low, high = float(low), float(high)
        except (TypeError, ValueError):
            raise ClbenchError(f"{what}: {key} must be (low, high, scale), got {entry!r}") from None
        if scale not in SCALES or not low < high or (scale == "log" and low <= 0):
            raise ClbenchError(
                f"{what}: {key}={entry!r} needs low < high (low > 0 for log) and a scale in "
                f"{', '.join(SCALES)}"
            )
        out[str(key)] = (low, high, str(scale))
    if not out:
        raise ClbenchError(f"{what}: the search space is empty (nothing to tune)")
    return out


def parse_range(text: str) -> tuple[str, tuple[float, float, str]]:
    """`key=low:high:scale` (the CLI's --space) as (key, (low, high, scale))."""
    key, _, rest = text.partition("=")
    parts = rest.split(":")
    if not key or len(parts) != 3:
        raise ClbenchError(
            f"bad --space '{text}'; expected key=low:high:scale, e.g. train.lr=1e-3:0.3:log"
        )
    try:
        return key, (float(parts[0]), float(parts[1]), parts[2])
    except ValueError:
        raise ClbenchError(f"bad --space '{text}': low and high must be numbers") from None


def scale_value(u: float, low: float, high: float, scale: str) -> float | int:
    """The point u in [0, 1) of the unit interval mapped onto [low, high] by `scale`."""
    if scale == "log":
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    if scale == "int":
        return min(int(math.floor(low + u * (high - low + 1))), int(high))
    return low + u * (high - low)


def sobol_points(dims: int, n: int, seed: int) -> list[list[float]]:
    """The first n points of a scrambled Sobol sequence in [0, 1)^dims, seeded."""
    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*balance properties.*")
        return qmc.Sobol(d=dims, scramble=True, seed=seed).random(n).tolist()


def draw(space: Space, n: int, seed: int, study: int) -> list[dict[str, Any]]:
    """Study `study`'s n trials: per trial the unit point `u` and the config `values`."""
    keys = sorted(space)
    points = sobol_points(len(keys), n, seed * 1000 + study)
    return [
        {"u": u, "values": {k: scale_value(x, *space[k]) for k, x in zip(keys, u, strict=True)}}
        for u in points
    ]

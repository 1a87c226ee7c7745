"""Performance profiles over time-to-result, after AlgoPerf (Dahl et al., "Benchmarking Neural
Network Training Algorithms", 2023, Sec. 4.5).

A workload is a scenario; a submission is a strategy (with its LR schedule). For each
workload, submission s gets the ratio r = t_s / min over submissions of t, where t is its
time-to-target (infinite when it never reached the target or has no run on that workload);
ratios above `MAX_RATIO` count as infinite. The profile rho_s(tau) is the share of workloads
with r <= tau, and the score is the area under rho_s over tau in [1, MAX_RATIO], normalised
to [0, 1]. Pure functions on pandas frames (rows: submissions, columns: workloads).

Our choice (AlgoPerf runs every submission on every workload): `applies` (a boolean frame
of the same shape) says which workloads a submission applies to; shares and scores are over
those only, so a method made for one kind of scenario is not scored on the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_RATIO = 4.0  # AlgoPerf's r_max


def ratios(times: pd.DataFrame, max_ratio: float = MAX_RATIO) -> pd.DataFrame:
    """Time-to-target over the best submission's, per workload (column); inf when missing,
    never reached, above `max_ratio`, or when no submission reached that workload's target."""
    t = times.astype(float).fillna(np.inf)
    best = t.min(axis=0)
    r = t / best.where(np.isfinite(best) & (best > 0))
    r = r.where(np.isfinite(r) & (r <= max_ratio), np.inf)
    # a best time of 0 (can only happen with a clock of no resolution) counts as ratio 1
    zero = best == 0
    r.loc[:, zero] = np.where(t.loc[:, zero] == 0, 1.0, np.inf)
    return r


def _applies(r: pd.DataFrame, applies: pd.DataFrame | None) -> np.ndarray:
    """The mask as an array shaped like `r` (all True when None)."""
    if applies is None:
        return np.ones(r.shape, dtype=bool)
    return applies.reindex(index=r.index, columns=r.columns).fillna(False).to_numpy(dtype=bool)


def profile(r: pd.DataFrame, taus: np.ndarray, applies: pd.DataFrame | None = None) -> pd.DataFrame:
    """rho_s(tau): the share of the workloads s applies to with ratio <= tau; rows
    submissions, columns taus (NaN for a submission that applies to none)."""
    mask = _applies(r, applies)
    hits = r.to_numpy()[:, :, None] <= np.asarray(taus, dtype=float)[None, None, :]
    n = mask.sum(axis=1).astype(float)
    share = (hits & mask[:, :, None]).sum(axis=1) / np.where(n > 0, n, np.nan)[:, None]
    return pd.DataFrame(share, index=r.index, columns=list(taus))


def score(
    r: pd.DataFrame, max_ratio: float = MAX_RATIO, applies: pd.DataFrame | None = None
) -> pd.Series:
    """The normalised area under rho_s on [1, max_ratio]: rho is a step function, so the area
    is the mean over the workloads s applies to of (max_ratio - r) for r <= max_ratio (0
    otherwise); NaN for a submission that applies to none."""
    gain = (max_ratio - r.clip(lower=1.0)).where(np.isfinite(r), 0.0)
    gain = gain.where(pd.DataFrame(_applies(r, applies), index=r.index, columns=r.columns))
    return gain.mean(axis=1) / (max_ratio - 1.0)

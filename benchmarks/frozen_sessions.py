"""Frozen-backbone sessions: NMC and TEEN with cached test features vs re-encoding every test
image in every session (the reference code's pattern), side by side in one process.

Run from the repository root:

    python benchmarks/frozen_sessions.py                      # ResNet-18, seed 0
    python benchmarks/frozen_sessions.py --backbone mlp --seeds 0 1 2

Both variants run the same `fscil-mnist-5k` stream (6 base classes, then four 1-way 5-shot
sessions; 1,000 test digits evaluated after every session) through clbench's runner, with
`strategy.cache_features=true` (default) or `false`. Once the backbone is frozen (NMC: from
the start; TEEN: after base training) the cached variant encodes each test image once and
looks its feature up in later sessions; the other encodes all test images again in every
session.

Figures per strategy: the mean wall time of an incremental session (experiences 2..5 of the
record's `costs.experience_time_s`: encoding the shots, the prototype update and evaluating
all test experiences), its ratio (re-encode / cached; the target is >= 10x), and whether
the two accuracy matrices are identical (they must be: the cache returns the features the
encoder gave for the same batches). The base session (TEEN's training) is excluded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import torch

from clbench.compose import compose
from clbench.runner import run

SESSIONS = slice(1, None)  # incremental sessions: every experience after the base one


def session_time(strategy: str, backbone: str, seed: int, cache: bool, results: str) -> tuple:
    cfg = compose(
        strategy,
        "fscil-mnist-5k",
        None,
        [
            "trainer.accelerator=cpu",
            "trainer.progress_bar=false",
            f"results.dir={results}",
            f"backbone.name={backbone}",
            f"seed={seed}",
            "train.epochs=1",  # TEEN's base training; sessions are what is timed
            f"strategy.cache_features={str(cache).lower()}",
        ],
    )
    record = run(cfg).record
    times = record["costs"]["experience_time_s"][SESSIONS]
    return statistics.mean(times), record["accuracy_matrix"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18", help="mlp | convnet | resnet18")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--strategies", nargs="+", default=["nmc", "teen"])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}; "
        f"backbone {args.backbone}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(
        f"{'strategy':10} {'seed':>4} {'cached (s)':>11} {'re-encode (s)':>14} {'ratio':>7}  identical"
    )
    with tempfile.TemporaryDirectory() as results:
        for strategy in args.strategies:
            ratios = []
            for seed in args.seeds:
                # alternate the order per seed, so a drift in machine load favours neither
                order = [True, False] if seed % 2 == 0 else [False, True]
                out = {c: session_time(strategy, args.backbone, seed, c, results) for c in order}
                (t_cache, m_cache), (t_plain, m_plain) = out[True], out[False]
                ratios.append(t_plain / t_cache)
                print(
                    f"{strategy:10} {seed:>4} {t_cache:>11.4f} {t_plain:>14.4f} "
                    f"{t_plain / t_cache:>6.1f}x  {m_cache == m_plain}"
                )
            print(f"{strategy:10} mean ratio {statistics.mean(ratios):.1f}x (target >= 10x)")
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

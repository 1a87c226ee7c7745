"""Start-up: wall time of `clbench --help` and `clbench list`, each a fresh process.

Run from the repository root:

    python benchmarks/startup.py             # 10 runs of each, median and max
    python benchmarks/startup.py --runs 30

The commands are run as `python -m clbench ...` with this interpreter (the console script
does the same import). Also printed: whether torch, Lightning or Avalanche were imported by
the command (they must not be: the CLI imports them lazily, inside the commands that need
them), for comparison `python -c pass` and `python -c "import torch"`. Target: under 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "lightning", "avalanche")
PROBE = (
    "import sys, runpy; sys.argv = ['clbench', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('clbench', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    f"print('HEAVY', *[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
)


def wall(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def heavy_imports(args: list[str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], check=True, capture_output=True, text=True
    )
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY")][-1]
    return ", ".join(line.split()[1:]) or "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.runs} runs each"
    )
    py = sys.executable
    cases = [
        ("clbench --help", [py, "-m", "clbench", "--help"], ["--help"]),
        ("clbench list", [py, "-m", "clbench", "list"], ["list"]),
        ("python -c pass", [py, "-c", "pass"], None),
        ("python -c 'import torch'", [py, "-c", "import torch"], None),
    ]
    for name, cmd, probe in cases:
        times = wall(cmd, args.runs)
        heavy = f"; heavy imports: {heavy_imports(probe)}" if probe is not None else ""
        print(f"{name:26} median {statistics.median(times):.3f} s, max {max(times):.3f} s{heavy}")
    print("target: clbench --help and clbench list under 1.5 s")


if __name__ == "__main__":
    main()

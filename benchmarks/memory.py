"""Memory along the stream: resident memory after the first experience and after the last
one, for `replay`, against the size of its buffer.

Run from the repository root:

    python benchmarks/memory.py                      # replay, buffer 200 and 1000
    python benchmarks/memory.py --buffers 5000 --experiences 10

Each run is a fresh Python process (`clbench run`, so earlier runs leave no allocations
behind) on `permuted-mnist-5k` with `--experiences` experiences (default 10: the buffer
fills from every one of them). The record's `costs.experience_memory_mb` gives the
resident memory (current RSS, /proc/self/statm) after each experience; the peak (ru_maxrss)
is no use here, as building the stream's data rss above everything that follows.
Growth = RSS after the last experience - RSS after the first. Target: growth beyond the
buffer <= 10% of the RSS after the first experience (what the run holds by then:
interpreter, torch, the data, the model). clbench's buffer is allocated at its full size,
buffer_size x (784 float32 pixels + an int64 label), when it is first filled (after
experience 1), so it is already inside the first figure: the whole growth counts as excess
(nothing is subtracted). `finetune` (no buffer) is the reference for growth that is not the
buffer's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE_BYTES = 28 * 28 * 4 + 8  # float32 pixels + int64 label


def run_once(strategy: str, buffer: int, experiences: int, results: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "clbench",
        "run",
        "--strategy",
        strategy,
        "--scenario",
        "permuted-mnist-5k",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        f"results.dir={results}",
        f"scenario.n_experiences={experiences}",
        "train.epochs=1",
    ]
    if strategy == "replay":
        cmd.append(f"strategy.buffer_size={buffer}")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    newest = max(results.glob("runs/**/*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buffers", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--experiences", type=int, default=10)
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; permuted-mnist-5k, "
        f"{args.experiences} experiences, 1 epoch each"
    )
    print(
        f"{'strategy':9} {'buffer':>6} {'buffer MB':>9} {'RSS exp 1':>10} {'RSS last':>9} "
        f"{'growth':>7} {'excess':>7} {'excess %':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for strategy, buffer in [("finetune", 0)] + [("replay", b) for b in args.buffers]:
            record = run_once(strategy, buffer, args.experiences, Path(tmp))
            rss = record["costs"]["experience_memory_mb"]
            buffer_mb = buffer * SAMPLE_BYTES / 2**20
            growth = rss[-1] - rss[0]
            excess = growth  # the buffer is already allocated after experience 1
            print(
                f"{strategy:9} {buffer:>6} {buffer_mb:>9.1f} {rss[0]:>10.1f} {rss[-1]:>9.1f} "
                f"{growth:>7.1f} {excess:>7.1f} {100 * excess / rss[0]:>7.1f}%"
            )
    print(
        "target: growth beyond the buffer (here all growth: it is allocated after experience 1) <= 10% of the RSS after experience 1"
    )


if __name__ == "__main__":
    main()

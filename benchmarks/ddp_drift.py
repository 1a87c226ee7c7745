"""DDP drift: how far 2 processes (CPU, gloo) end from 1 process over a whole stream.

Run from the repository root (CPU-heavy; one torch thread per process):

    OMP_NUM_THREADS=1 python benchmarks/ddp_drift.py                     # replay, seeds 0-2
    OMP_NUM_THREADS=1 python benchmarks/ddp_drift.py trainer.precision=64-true --seeds 0

Per seed: one `clbench run` with 1 process and one with `trainer.devices=2
trainer.strategy=ddp` (default settings otherwise), then the largest difference between their
accuracy matrices, how many test samples the two final models classify differently (every
test experience, scored once), and the largest difference between their final weights. The
sample order, shards and replay draws are the same (docs/records.md); what is left is the
order of additions in the averaged gradient, which float32 rounds differently.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUIET = ["trainer.accelerator=cpu", "trainer.progress_bar=false"]
DDP = ["trainer.devices=2", "trainer.strategy=ddp"]


def run(strategy: str, scenario: str, overrides: list[str], out: Path) -> tuple[dict, Path]:
    """One clbench run in a fresh process; its record and its run folder."""
    cmd = [sys.executable, "-m", "clbench", "run", "--strategy", strategy, "--scenario", scenario]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CLBENCH_RUN_ID", None)
    done = subprocess.run([*cmd, *overrides, f"results.dir={out}"], env=env, capture_output=True)
    if done.returncode != 0:
        sys.exit(done.stderr.decode()[-3000:])
    (record,) = (out / "runs").rglob("*.json")
    (run_dir,) = (out / "work" / scenario / strategy).iterdir()
    return json.loads(record.read_text()), run_dir


@torch.no_grad()
def predictions(strategy: str, scenario: str, overrides: list[str], run_dir: Path) -> torch.Tensor:
    """The final model's predicted class for every test sample (test sets scored once)."""
    from clbench.compose import compose
    from clbench.precision import follow_model_dtype
    from scenarios import SCENARIOS
    from strategies import STRATEGIES

    cfg = compose(strategy, scenario, None, overrides)
    built = SCENARIOS.load(scenario).build(cfg.scenario, cfg.data)
    experiences = built.experiences()
    model = STRATEGIES.load(strategy)(cfg, built)
    state = torch.load(run_dir / "state.pt", weights_only=False)["model"]
    weights = [v for v in state.values() if torch.is_tensor(v) and v.is_floating_point()]
    model.to(weights[0].dtype)  # the run's precision
    follow_model_dtype(model)
    model.load_state_dict(state)
    model.eval()
    tests = {id(e.test): e.test for e in experiences}.values()
    return torch.cat([model.predict(t.tensors[0]) for t in tests])


def weight_gap(a: Path, b: Path) -> float:
    sa = torch.load(a / "state.pt", weights_only=False)["model"]
    sb = torch.load(b / "state.pt", weights_only=False)["model"]
    keys = [k for k, v in sa.items() if torch.is_tensor(v) and v.is_floating_point()]
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in keys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategy", default="replay")
    ap.add_argument("--scenario", default="split-mnist-5k")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("overrides", nargs="*", help="key=value settings for both runs")
    args = ap.parse_args()
    print(f"{args.strategy} on {args.scenario}, 1 vs 2 processes (gloo), {args.overrides}")
    print(
        "seed | final acc 1p | final acc 2p | max |A1 - A2| | differing predictions | max weight gap"
    )
    gaps, differ = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            base = [*QUIET, f"seed={seed}", *args.overrides]
            r1, d1 = run(args.strategy, args.scenario, base, Path(tmp) / f"one-{seed}")
            r2, d2 = run(args.strategy, args.scenario, [*base, *DDP], Path(tmp) / f"two-{seed}")
            gap = float(np.abs(np.array(r1["accuracy_matrix"]) - r2["accuracy_matrix"]).max())
            p1 = predictions(args.strategy, args.scenario, base, d1)
            p2 = predictions(args.strategy, args.scenario, base, d2)
            n = int((p1 != p2).sum())
            gaps.append(gap)
            differ.append(n)
            f1, f2 = r1["metrics"]["final_accuracy"], r2["metrics"]["final_accuracy"]
            print(
                f"{seed} | {f1:.4f} | {f2:.4f} | {gap:.4f} | {n} of {len(p1)} | "
                f"{weight_gap(d1, d2):.2e}",
                flush=True,
            )
    print(f"max over seeds: |A1 - A2| {max(gaps):.4f}; differing predictions {max(differ)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Measures the committed split-mnist-5k records (default settings, 3 seeds) and regenerates
# results/LEADERBOARD.md and its plots. Run from the repository root: bash benchmarks/make_results.sh
set -euo pipefail
for seed in 0 1 2; do
  for strategy in finetune joint replay; do
    clbench run --strategy "$strategy" --scenario split-mnist-5k "seed=$seed" \
      trainer.accelerator=cpu trainer.progress_bar=false
  done
done
clbench leaderboard results --format md --out results/LEADERBOARD.md --plots results/plots

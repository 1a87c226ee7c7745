#!/usr/bin/env bash
# Measures the committed records (default settings, seeds 0-2) and regenerates
# results/LEADERBOARD.md and its plots. Run from the repository root:
#   bash benchmarks/make_results.sh            # every block
#   bash benchmarks/make_results.sh fscil      # one block: split | fscil | permuted | ctta
set -euo pipefail
run() { clbench run "$@" trainer.accelerator=cpu trainer.progress_bar=false; }
blocks=("${@:-split fscil permuted ctta}")
for block in ${blocks[@]}; do
  for seed in 0 1 2; do
    case "$block" in
      split)    for s in finetune joint replay; do run --strategy "$s" --scenario split-mnist-5k "seed=$seed"; done ;;
      fscil)    for s in nmc teen fscil-tricks fast-slow; do run --strategy "$s" --scenario fscil-mnist-5k "seed=$seed"; done ;;
      permuted) for s in finetune replay powerlaw-replay; do run --strategy "$s" --scenario permuted-mnist-5k "seed=$seed"; done ;;
      ctta)     for s in source tent vdp; do run --strategy "$s" --scenario mnist-5k-c "seed=$seed"; done ;;
    esac
  done
done
clbench leaderboard results --format md --out results/LEADERBOARD.md --plots results/plots

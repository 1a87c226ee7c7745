#!/usr/bin/env bash
# Measures the committed records (default settings, seeds 0-2) and regenerates
# results/LEADERBOARD.md and its plots. Run from the repository root:
#   bash benchmarks/make_results.sh            # every block
#   bash benchmarks/make_results.sh fscil      # one block: split | fscil | permuted | ctta |
#                                              #   schedules | online | instance
#   ONLY="lwf icarl" bash benchmarks/make_results.sh split   # only these strategies' runs
set -euo pipefail
run() {
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $2 "* ]]; then return 0; fi  # $2: the strategy
  clbench run "$@" trainer.accelerator=cpu trainer.progress_bar=false
}
blocks=("${@:-split fscil permuted ctta schedules online instance}")
for block in ${blocks[@]}; do
  for seed in 0 1 2; do
    case "$block" in
      split)    for s in finetune joint replay lwf icarl derpp gdumb ewc er-ace; do
                  run --strategy "$s" --scenario split-mnist-5k "seed=$seed"; done ;;
      fscil)    for s in nmc teen fscil-tricks fast-slow; do run --strategy "$s" --scenario fscil-mnist-5k "seed=$seed"; done ;;
      permuted) for s in finetune replay powerlaw-replay lwf ewc; do run --strategy "$s" --scenario permuted-mnist-5k "seed=$seed"; done ;;
      ctta)     for s in source tent vdp cotta; do run --strategy "$s" --scenario mnist-5k-c "seed=$seed"; done ;;
      # LR schedules of one strategy (the constant one is replay's row of the split block)
      schedules) for sch in cosine repeated-cosine infinite; do
                   run --strategy replay --scenario split-mnist-5k "train.schedule=$sch" "seed=$seed"; done ;;
      # the online protocol: one pass in stream batches of 10, the same buffer of 200
      online)   for s in onpro ocm replay; do
                  run --strategy "$s" --scenario split-mnist-5k scenario.online=true scenario.batch_size=10 \
                    strategy.buffer_size=200 "seed=$seed"; done ;;
      # the continual few-shot instance test (one episode per seed); replay: the paper's FIFO of
      # the last B=5 support sets, k=8 samples a step (docs/scenarios/instance.md)
      instance) for s in nmc finetune; do run --strategy "$s" --scenario instance-digits "seed=$seed"; done
                run --strategy replay --scenario instance-digits strategy.buffer_policy=fifo-sets \
                  strategy.fifo_sets=5 strategy.replay_batch_size=8 "seed=$seed" ;;
    esac
  done
done
clbench leaderboard results --format md --out results/LEADERBOARD.md --plots results/plots

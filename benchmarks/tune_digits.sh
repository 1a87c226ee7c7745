#!/usr/bin/env bash
# Tuning studies on the digit benchmarks (issue #15): every strategy below gets the same
# budget (TRIALS x STUDIES trials, picked on a validation stream held out of the training
# data), then its picks are re-run on the test stream over seeds 0-2 and on the held-out
# variants (class order, number of experiences, shot draw / permutation seed). The studies
# land in results/tuning/<strategy>_<scenario>/ and `clbench leaderboard` tabulates them.
# Run from the repository root (a stopped run resumes where it stopped):
#   bash benchmarks/tune_digits.sh                          # CPU, one run at a time
#   EXECUTOR=pool WORKERS=8 ACCEL=gpu bash benchmarks/tune_digits.sh
#   TRIALS=4 STUDIES=2 bash benchmarks/tune_digits.sh split  # one block, a smaller budget
#   ONLY="finetune replay" bash benchmarks/tune_digits.sh split  # only these strategies
set -euo pipefail
TRIALS="${TRIALS:-8}"; STUDIES="${STUDIES:-3}"
EXECUTOR="${EXECUTOR:-sequential}"; WORKERS="${WORKERS:-2}"; ACCEL="${ACCEL:-cpu}"
tune() {  # $1 strategy, $2 scenario
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $1 "* ]]; then return 0; fi
  clbench tune --strategy "$1" --scenario "$2" --trials "$TRIALS" --studies "$STUDIES" \
    --executor "$EXECUTOR" --workers "$WORKERS" --seeds 0,1,2 --name "$1_$2" \
    "trainer.accelerator=$ACCEL" trainer.progress_bar=false results.dir=results \
    || failed=1  # a diverged run is reported and shown as such; the other studies still run
}
failed=0
blocks=("${@:-split fscil permuted}")
for block in ${blocks[@]}; do
  case "$block" in
    split)    for s in finetune replay powerlaw-replay; do tune "$s" split-mnist-5k; done ;;
    fscil)    tune teen fscil-mnist-5k ;;  # the class-il strategies do not run FSCIL streams
    permuted) for s in finetune replay powerlaw-replay; do tune "$s" permuted-mnist-5k; done ;;
  esac
done
clbench leaderboard results --format md --out results/LEADERBOARD.md --plots results/plots
exit "$failed"

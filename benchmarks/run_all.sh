#!/usr/bin/env bash
# Runs every speed benchmark in turn and keeps their output in benchmarks/latest.txt (the
# figures that benchmarks/README.md quotes). Run from the repository root on a quiet machine:
#   bash benchmarks/run_all.sh
set -euo pipefail
# One torch thread per process: on a small shared machine two threads per process make the
# run-to-run noise larger than the effects measured. Override with OMP_NUM_THREADS=...
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
out=benchmarks/latest.txt
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(python -c 'import os; print(os.cpu_count())') cores; $(python -c 'import platform; print(platform.processor() or platform.machine())'); git $(git rev-parse --short HEAD)"
  for cmd in \
    "python benchmarks/loop_overhead.py --repeats 5" \
    "python benchmarks/vs_avalanche.py --seeds 0 1 2" \
    "python benchmarks/frozen_sessions.py" \
    "python benchmarks/startup.py" \
    "python benchmarks/memory.py"; do
    echo
    echo "\$ $cmd"
    $cmd 2>&1 | grep -v -i -e "warning" -e "^\s*warnings\.warn" || true
  done
} | tee "$out"

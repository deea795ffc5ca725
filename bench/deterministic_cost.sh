#!/usr/bin/env bash
# bench/deterministic_cost.sh: the cost of train.deterministic (exact fixed-point sums)
# against plain float MPI_Allreduce, measured in real training: the DPO demo config for
# STEPS steps on RANKS ranks, once each way, from the SFT demo checkpoint (run
# scripts/demo.sh, or at least its SFT stage, first), alternating the two modes
# REPEAT times (step times vary by +-15% from run to run on a shared VM). Prints the
# mean over runs of the median step_time (steps 3..STEPS, from metrics.h5) per mode and
# the relative overhead. bench_allreduce isolates the reduction itself.
# usage: bench/deterministic_cost.sh [STEPS=30] [RANKS=2] [CONFIG=jobs/configs/dpo-demo.json]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30} ranks=${2:-2} cfg=${3:-jobs/configs/dpo-demo.json} repeat=${REPEAT:-3}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for run in $(seq 1 "$repeat"); do for mode in true false; do
    mpirun -q -n "$ranks" build/prefopt-mpi train "$cfg" --set run_dir="$out/$mode-$run" \
        --set train.steps="$steps" --set train.epochs=null --set train.log_every=1 \
        --set train.eval_every=0 --set train.checkpoint_every=0 \
        --set train.deterministic=$mode >/dev/null
done; done
/usr/bin/python3 - "$out" "$repeat" <<'PY'
import sys, h5py, statistics
out, repeat = sys.argv[1], int(sys.argv[2])
med = {}
for mode in ("true", "false"):
    runs = []
    for run in range(1, repeat + 1):
        with h5py.File(f"{out}/{mode}-{run}/metrics.h5", "r") as f:
            runs.append(statistics.median(f["metrics/step_time"][2:]))
    med[mode] = statistics.mean(runs)
extra = med["true"] / med["false"] - 1
print(f"median step time: deterministic {med['true']:.4f} s, plain MPI_Allreduce "
      f"{med['false']:.4f} s, overhead {100 * extra:+.1f}%")
PY

#!/usr/bin/env bash
# demo-pipeline.sh: the demo's training runs as Slurm jobs: SFT from scratch
# (jobs/configs/sft-demo.json), then DPO (dpo-demo.json) and PPO (ppo-demo.json), each
# starting from the SFT run, through jobs/slurm/train.sbatch with --dependency=afterok.
#
#   jobs/slurm/examples/demo-pipeline.sh [sbatch options] [-- --set k=v ...]
#   e.g. jobs/slurm/examples/demo-pipeline.sh -N 1 --ntasks-per-node=2 --time=1:00:00
#   (the PPO demo runs on 1 or 2 ranks: docs/hpc.md, "Rank counts that fit")
#
# The sbatch options apply to every job (default: -n 2); the --set options after `--`
# are passed to every run. Rank counts must divide each config's micro-batches per step
# (SFT 4, DPO 8) and, for PPO, per mini-batch (2), so 1 or 2 ranks fit all three.
# Run directories: $PREFOPT_RUNS_DIR/{sft,dpo,ppo}-demo (default runs/), so that a job
# that is preempted and requeued, or submitted again, resumes where it stopped.
# Prints the job ids; follow them with squeue and the logs prefopt-train-<job id>.out.
set -euo pipefail
cd "$(dirname "$0")/../../.."
sb=jobs/slurm/train.sbatch
runs=${PREFOPT_RUNS_DIR:-runs}

opts=()
sets=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
        shift
        sets=("$@")
        break
    fi
    opts+=("$1")
    shift
done
[ ${#opts[@]} -gt 0 ] || opts=(-n 2)
command -v sbatch >/dev/null 2>&1 || {
    echo "demo-pipeline: error: sbatch not found: run this where Slurm's commands are" >&2
    exit 2
}

sft=$(sbatch --parsable -J sft-demo "${opts[@]}" "$sb" jobs/configs/sft-demo.json \
    --set "run_dir=$runs/sft-demo" "${sets[@]}")
echo "sft-demo: job $sft -> $runs/sft-demo"
for algo in dpo ppo; do
    cfg=jobs/configs/$algo-demo.json
    if [ ! -f "$cfg" ]; then
        echo "$algo-demo: skipped: $cfg is not in this checkout" >&2
        continue
    fi
    id=$(sbatch --parsable -J "$algo-demo" --dependency="afterok:$sft" "${opts[@]}" "$sb" "$cfg" \
        --set "run_dir=$runs/$algo-demo" --set "model.init=$runs/sft-demo" "${sets[@]}")
    echo "$algo-demo: job $id (after job $sft) -> $runs/$algo-demo"
done

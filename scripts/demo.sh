#!/usr/bin/env bash
# The main job (README's first command): installs what is missing, builds Release, then
# runs the demo pipeline on the committed demo data (data/demo/) on 2 local MPI ranks:
#   1. SFT a small GPT-2 from scratch            (jobs/configs/sft-demo.json)
#   2. held-out eval + generations + style checks of the SFT model (before DPO)
#   2b. a reward model from the SFT model         (jobs/configs/rm-demo.json) and its
#      held-out pairwise accuracy
#   3. DPO from the SFT model                    (jobs/configs/dpo-demo.json)
#   4. the same eval, generations and style checks after DPO
#   5. a summary: win rate and style pass rate before -> after, and curves.png
# Everything goes to runs/ (runs/sft-demo, runs/rm-demo, runs/dpo-demo, runs/demo-report/).
# RANKS=N changes the rank count (it must divide 8, the micro-batches per step).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
ranks=${RANKS:-2}
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
BIN=build/prefopt-mpi
MPI="mpirun -q -n $ranks"
out=runs/demo-report
rm -rf runs/sft-demo runs/rm-demo runs/dpo-demo "$out"
mkdir -p "$out"
start=$(date +%s)

# evaluate NAME CKPT REFERENCE: pairwise eval on the 50 held-out pairs, generations for
# the 50 held-out prompts, and the demo's style checks on them.
evaluate() {
    local name=$1 ckpt=$2 ref=$3
    echo "== $name: held-out pairs"
    $MPI $BIN eval --checkpoint "$ckpt" --reference "$ref" --data data/demo/dpo_heldout.jsonl \
        --out "$out/$name-pairs.json"
    echo "== $name: generations for the held-out prompts, then style checks"
    $MPI $BIN generate --checkpoint "$ckpt" --data data/demo/prompts_heldout.jsonl \
        --temperature 0 --max-new-tokens 64 --out "$out/$name-generations.jsonl" 2>/dev/null
    $BIN eval --generations "$out/$name-generations.jsonl" --checks data/demo/style_checks.json \
        --checkpoint "$ckpt" --out "$out/$name-style.json"
}

echo "== 1. SFT from scratch on $ranks ranks"
$MPI $BIN train jobs/configs/sft-demo.json
evaluate before runs/sft-demo runs/sft-demo
echo "== 2b. reward model (Bradley-Terry) from the SFT model on $ranks ranks"
rm_start=$(date +%s)
$MPI $BIN train jobs/configs/rm-demo.json
$MPI $BIN eval --checkpoint runs/rm-demo --data data/demo/dpo_heldout.jsonl --out "$out/rm-pairs.json"
rm_seconds=$(( $(date +%s) - rm_start ))
echo "== 3. DPO from the SFT model on $ranks ranks"
$MPI $BIN train jobs/configs/dpo-demo.json
evaluate after runs/dpo-demo runs/sft-demo
/usr/bin/python3 scripts/plot_run.py runs/dpo-demo --out "$out/dpo-curves.png" >/dev/null
/usr/bin/python3 scripts/plot_run.py runs/sft-demo --out "$out/sft-curves.png" >/dev/null

/usr/bin/python3 - "$out" "$(( $(date +%s) - start ))" "$rm_seconds" <<'PY'
import json, sys
out, seconds, rm_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
get = lambda name: json.load(open(f"{out}/{name}.json"))
b, a = get("before-pairs"), get("after-pairs")
bs, as_ = get("before-style"), get("after-style")
print("\n== demo summary (50 held-out pairs, 50 held-out prompts)")
print(f"held-out win rate (implied reward vs the SFT reference): {b['win_rate']:.2f} -> {a['win_rate']:.2f}")
print(f"held-out log-prob win rate:                              {b['logprob_win_rate']:.2f} -> {a['logprob_win_rate']:.2f}")
print(f"generations passing every applicable style check:        {bs['pass_rate_all']:.2f} -> {as_['pass_rate_all']:.2f}")
print(f"reward model (runs/rm-demo): held-out pairwise accuracy {get('rm-pairs')['win_rate']:.2f} ({rm_seconds} s)")
for name, c in a["by_reason"].items():
    print(f"  win rate {name:<22} {b['by_reason'][name]['win_rate']:.2f} -> {c['win_rate']:.2f}")
print(f"curves: {out}/dpo-curves.png, {out}/sft-curves.png; reports in {out}/; {seconds} s in all")
PY

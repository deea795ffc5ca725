#!/usr/bin/env bash
# The online-RL demo (README's tour): on top of scripts/demo.sh's runs (runs/sft-demo,
# runs/rm-demo, runs/dpo-demo; it runs scripts/demo.sh first when they are missing), on 2
# local MPI ranks:
#   1. PPO from the SFT model with a grader reward  (jobs/configs/ppo-demo.json)
#   2. GRPO from the SFT model, same reward          (jobs/configs/grpo-demo.json)
#   3. PPO from the SFT model with the reward model  (jobs/configs/ppo-rm-demo.json)
#   4. the same task for every method: one sample per held-out prompt at temperature 0.7,
#      scored by the demo reward (jobs/configs/rewards/concise_grounded.json), with the KL
#      to the SFT model (scripts/compare_methods.py) -> runs/demo-report/rl-compare.md
#   5. curves of each run -> runs/demo-report/{ppo,grpo,ppo-rm}-curves.png
# RANKS=N changes the rank count (it must divide 2, the micro-batches of a mini-batch).
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${RANKS:-2}
if [ ! -d runs/sft-demo ] || [ ! -d runs/rm-demo ] || [ ! -d runs/dpo-demo ]; then
    echo "== runs/sft-demo, rm-demo or dpo-demo missing: running scripts/demo.sh first"
    scripts/demo.sh
fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
BIN=build/prefopt-mpi
MPI="mpirun -q -n $ranks"
out=runs/demo-report
mkdir -p "$out"
rm -rf runs/ppo-demo runs/grpo-demo runs/ppo-rm-demo

# stage NAME CONFIG: trains CONFIG, records its wall time, plots its curves.
stage() {
    local name=$1 cfg=$2 t0
    t0=$(date +%s)
    echo "== $name ($cfg) on $ranks ranks"
    $MPI $BIN train "$cfg"
    echo "$name $(( $(date +%s) - t0 ))" >>"$out/rl-times.txt"
    /usr/bin/python3 scripts/plot_run.py "runs/$name-demo" --out "$out/$name-curves.png" >/dev/null
}
: >"$out/rl-times.txt"
stage ppo jobs/configs/ppo-demo.json
stage grpo jobs/configs/grpo-demo.json
stage ppo-rm jobs/configs/ppo-rm-demo.json

echo "== the same task for every method (held-out prompts, temperature 0.7, KL to the SFT model)"
/usr/bin/python3 scripts/compare_methods.py --bin "$BIN" --ranks "$ranks" \
    --reference runs/sft-demo --prompts data/demo/prompts_heldout.jsonl \
    --graders jobs/configs/rewards/concise_grounded.json --grader concise_grounded \
    --temperature 0.7 --seed 1234 --max-new-tokens 48 --work "$out/rl-compare" \
    --json "$out/rl-compare.json" \
    dpo=runs/dpo-demo ppo=runs/ppo-demo grpo=runs/grpo-demo ppo-rm=runs/ppo-rm-demo \
    | tee "$out/rl-compare.md"

/usr/bin/python3 - "$out" <<'PY'
import h5py, json, math, sys
out = sys.argv[1]
times = dict(line.split() for line in open(f"{out}/rl-times.txt"))
print("\n== training curves (metrics.h5): held-out score at step 0 -> end, KL to the SFT model")
for name in ["ppo", "grpo", "ppo-rm"]:
    with h5py.File(f"runs/{name}-demo/metrics.h5", "r") as f:
        m = f["metrics"]
        ev = [v for v in m["eval/objective/scores"][:] if not math.isnan(v)]
        kl = [v for v in m["eval/objective/kl"][:] if not math.isnan(v)]
        tr = [v for v in m["objective/scores"][:] if not math.isnan(v)]
        print(f"{name:7s} eval score {ev[0]:.3f} -> {ev[-1]:.3f} (KL {kl[-1]:.2f} nats); "
              f"train score {tr[0]:.3f} -> {tr[-1]:.3f}; {times[name]} s")
PY

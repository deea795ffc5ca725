#!/usr/bin/env bash
# rm_e2e.sh: end-to-end checks of `prefopt-mpi train` with algorithm rm (reward model)
# on a tiny config (tests/data/train/rm_tiny.json):
#   - world-size invariance: params_sha256 and the /reward normalisation equal for
#     mpirun -n 1, 2, 4 (oversubscribed)
#   - resume invariance: 3 steps on 2 ranks, then --resume on 4 == 6 straight
#   - metrics.h5: loss, accuracy, margin, reward/{mean,min,max} and eval/* rows;
#     accuracy rises on a small learnable set
#   - /reward attrs (h5py) and `inspect --json`; scoring the norm set through
#     reward_model.h with them gives mean ~0 / std ~1; eval on the RM checkpoint
#   - bad input: a non-numeric "margin" -> exit 3 naming FILE:LINE
# Environment from prefopt_script_test: PREFOPT_BIN, PREFOPT_SRC, PREFOPT_PYTHON;
# argument 1: the rm_score_driver executable.
set -u
BIN=${PREFOPT_BIN:?}
SRC=${PREFOPT_SRC:?}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
DRIVER=${1:?usage: rm_e2e.sh RM_SCORE_DRIVER}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/rm_e2e.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$HERE/lib.sh"
cd "$SRC" || exit 1
CFG=tests/data/train/rm_tiny.json
MPI="mpirun --oversubscribe -q"

# field RUN_DIR KEY: a field of `inspect --json` for the run's newest checkpoint.
field() { inspect_field "$@"; }

# train N RUN_DIR [ARGS...]: trains the tiny RM config on N ranks into RUN_DIR.
train() { train_config "$CFG" "$@"; }

# ---------------------------------------------------------------- world-size invariance
train 1 "$W/n1"
[ $rc -eq 0 ] && pass "rm: train on 1 rank" || fail "rm: train on 1 rank (exit $rc)"
grep -q 'added v_head' "$W/out" && pass "rm: a value head is added to a model without one" || fail "v_head note"
ref=$(field "$W/n1" params_sha256)
ref_mean=$(field "$W/n1" reward_norm_mean)
for n in 2 4; do
    train $n "$W/n$n"
    got=$(field "$W/n$n" params_sha256)
    if [ $rc -eq 0 ] && [ "$ref" != None ] && [ "$got" = "$ref" ] && [ "$(field "$W/n$n" reward_norm_mean)" = "$ref_mean" ]; then
        pass "rm: params and reward norm bit-identical on $n ranks"
    else fail "rm: params bit-identical on $n ranks (exit $rc, $got vs $ref)"; fi
done
grep -q '^step 6/6 .*| acc ' "$W/out" && pass "rm: progress line shows accuracy" || fail "rm: progress line"

# ---------------------------------------------------------------- resume invariance
train 2 "$W/r" --set train.stop_after=3
train 4 "$W/r" --resume
if [ $rc -eq 0 ] && grep -q 'resuming from' "$W/out" && [ "$(field "$W/r" params_sha256)" = "$ref" ] \
    && [ "$(field "$W/r" reward_norm_std)" = "$(field "$W/n1" reward_norm_std)" ]; then
    pass "rm: stop after 3 steps on 2 ranks + resume on 4 == 6 straight"
else fail "rm: resume (exit $rc)"; fi

# ---------------------------------------------------------------- metrics and /reward
"$PY" - "$W/n2" <<'PYEOF' && pass "rm: metrics rows, /reward attrs in every checkpoint" || fail "rm: metrics.h5 / /reward"
import sys, math, glob, h5py
run = sys.argv[1]
with h5py.File(run + "/metrics.h5", "r") as f:
    assert list(f["metrics/step"][:]) == [2, 3, 4, 6], list(f["metrics/step"][:])
    for name in ["loss", "accuracy", "margin", "reward/mean", "reward/min", "reward/max",
                 "grad_norm", "eval/loss", "eval/accuracy", "eval/margin", "eval/reward/mean",
                 "eval/reward/min", "eval/reward/max"]:
        assert len(f["metrics/" + name]) == 4, name
    lo, mean, hi = (f["metrics/reward/" + k][0] for k in ("min", "mean", "max"))
    assert lo <= mean <= hi, (lo, mean, hi)
    acc = f["metrics/accuracy"][0]
    assert 0 <= acc <= 1
    assert not math.isnan(f["metrics/eval/accuracy"][1])
files = sorted(glob.glob(run + "/checkpoints/step-*.h5"))
assert len(files) == 2, files
for path in files:
    with h5py.File(path, "r") as f:
        g = f["reward"]
        assert g.attrs["n"] == 24 and g.attrs["norm_std"] > 0 and math.isfinite(g.attrs["norm_mean"])
        assert f.attrs["algorithm"] in ("rm", b"rm")
        assert "v_head.weight" in f["model/params"]
PYEOF

out=$("$DRIVER" "$W/n2" tests/data/train/dpo_eval.jsonl 2>"$W/err")
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["n"]==24 and abs(d["mean"])<1e-4 and abs(d["std"]-1)<1e-4, d' "$out" \
    && pass "rm: norm set scored with /reward: mean 0, std 1 ($out)" || fail "rm: normalised scores ($out)"

run $MPI -n 2 "$BIN" eval --checkpoint "$W/n2" --data tests/data/train/dpo_eval.jsonl --out "$W/report.json"
"$PY" - "$W/report.json" <<'PYEOF' && pass "rm: eval reports reward accuracy" || fail "rm: eval report (exit $rc)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["reward_model"] is True and r["n_pairs"] == 12 and 0 <= r["win_rate"] <= 1 and r["loss"] > 0
PYEOF

# ---------------------------------------------------------------- learning
train 2 "$W/learn" --set train.steps=30 --set train.eval_every=10 --set train.log_every=10 \
    --set train.checkpoint_every=0 --set data.eval=tests/data/train/dpo_small.jsonl
"$PY" - "$W/learn/metrics.h5" <<'PYEOF' && pass "rm: accuracy rises on a small learnable set" || fail "rm: learning (exit $rc)"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    acc = list(f["metrics/eval/accuracy"][:])
    loss = list(f["metrics/eval/loss"][:])
assert acc[-1] >= 0.9 and acc[-1] > acc[0] and loss[-1] < loss[0], (acc, loss)
PYEOF

# ---------------------------------------------------------------- bad input
cp tests/data/train/dpo_small.jsonl "$W/bad.jsonl"
sed -i '5s/}$/,"margin":"high"}/' "$W/bad.jsonl"
train 2 "$W/bad" --set data.train="$W/bad.jsonl"
[ $rc -eq 3 ] && grep -q "bad.jsonl:5: error: wrong-type: margin: expected a number, got string" "$W/err" \
    && pass "rm: non-numeric margin: exit 3 with FILE:LINE" || fail "rm: bad margin (exit $rc)"
sed -i '5s/"margin":"high"/"margin":0.5/' "$W/bad.jsonl"
train 1 "$W/margin" --set data.train="$W/bad.jsonl" --set train.steps=1
[ $rc -eq 0 ] && ! grep -q 'unknown-key' "$W/err" && pass "rm: a numeric margin is accepted without a warning" || fail "rm: numeric margin (exit $rc)"
run "$BIN" eval --checkpoint "$W/n1" --reference "$W/n1" --data tests/data/train/dpo_eval.jsonl
[ $rc -eq 2 ] && grep -q 'reward model' "$W/err" && pass "rm: eval refuses --reference for a reward model" || fail "rm: eval --reference (exit $rc)"

finish rm_e2e

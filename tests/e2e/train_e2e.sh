#!/usr/bin/env bash
# train_e2e.sh: end-to-end checks of `prefopt-mpi train` on a tiny DPO config:
#   - world-size invariance: params_sha256 equal for mpirun -n 1, 2, 4 (oversubscribed)
#   - resume invariance: 6 steps straight == 3 steps, then --resume to 6 (also on another
#     rank count); --resume extending train.steps; a changed trajectory key is refused
#   - kill -9 during training, then --resume: same final parameters; a torn newest
#     checkpoint (as a kill during a write would leave it) is skipped on resume
#   - metrics.h5 rows, the eval command, checkpoints pruned to keep_checkpoints
#   - bad input: invalid data (exit 3, FILE:LINE), config errors (exit 2, the key),
#     missing files, unwritable run dir, world size not dividing the micro-batches;
#     each with one error line and every rank stopped.
# Environment from prefopt_script_test: PREFOPT_BIN, PREFOPT_SRC, PREFOPT_PYTHON.
set -u
BIN=${PREFOPT_BIN:?}
SRC=${PREFOPT_SRC:?}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/train_e2e.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$HERE/lib.sh"
cd "$SRC" || exit 1
CFG=tests/data/train/dpo_tiny.json
MPI="mpirun --oversubscribe -q"

# sha RUN_DIR: params_sha256 of the run's newest checkpoint.
# train N RUN_DIR [ARGS...]: trains the tiny config on N ranks into RUN_DIR.
train() { train_config "$CFG" "$@"; }

# ---------------------------------------------------------------- world-size invariance
train 1 "$W/n1"
[ $rc -eq 0 ] && pass "train on 1 rank" || fail "train on 1 rank (exit $rc)"
ref=$(sha "$W/n1")
for n in 2 4; do
    train $n "$W/n$n"
    got=$(sha "$W/n$n")
    if [ $rc -eq 0 ] && [ -n "$ref" ] && [ "$got" = "$ref" ]; then
        pass "params bit-identical on $n ranks"
    else fail "params bit-identical on $n ranks (exit $rc, $got vs $ref)"; fi
done
grep -q '^step 6/6 ' "$W/out" && pass "progress line reaches step 6/6" || fail "progress line"
# 8 ranks need 8 micro-batches per step: global_batch 16 (1 rank vs 8 oversubscribed ranks)
train 1 "$W/g1" --set train.global_batch=16 --set train.steps=2
a=$(sha "$W/g1")
train 8 "$W/g8" --set train.global_batch=16 --set train.steps=2
[ $rc -eq 0 ] && [ -n "$a" ] && [ "$(sha "$W/g8")" = "$a" ] && pass "params bit-identical on 1 and 8 ranks" \
    || fail "8 ranks (exit $rc)"
"$PY" - "$W/n4/metrics.h5" <<'PYEOF' && pass "metrics.h5 has loss, rewards/* and eval/* rows" || fail "metrics.h5 contents"
import sys, h5py, math
with h5py.File(sys.argv[1], "r") as f:
    steps = list(f["metrics/step"][:])
    assert steps == [2, 3, 4, 6], steps
    loss = f["metrics/loss"][:]
    assert not math.isnan(loss[0]) and math.isnan(loss[1]), loss  # step 3: eval-only row
    assert len(f["metrics/rewards/chosen"]) == 4
    assert not math.isnan(f["metrics/eval/loss"][1])
PYEOF
n_ckpt=$(ls "$W/n1/checkpoints" | grep -c '^step-.*\.h5$')
[ "$n_ckpt" -eq 2 ] && pass "checkpoints at steps 3 and 6" || fail "checkpoints ($n_ckpt)"

# ---------------------------------------------------------------- resume invariance
train 2 "$W/r" --set train.stop_after=3 --set optim.warmup_steps=1
train 4 "$W/r" --resume --set optim.warmup_steps=1
ref_w1=$ref
train 1 "$W/w1" --set optim.warmup_steps=1
ref=$(sha "$W/w1")
[ $rc -eq 0 ] && [ "$(sha "$W/r")" = "$ref" ] && pass "stop after 3 steps on 2 ranks + resume on 4 ranks == 6 straight" \
    || fail "resume onto another world size (exit $rc)"
ref=$ref_w1
train 1 "$W/r" --resume --set train.steps=8 --set optim.warmup_steps=1
[ $rc -eq 0 ] && grep -q 'resuming from' "$W/out" && pass "--resume may extend train.steps" || fail "extend steps (exit $rc)"
train 1 "$W/r" --resume --set optim.warmup_steps=1 --set optim.lr=0.5
[ $rc -eq 2 ] && grep -q 'optim.lr' "$W/err" && pass "--resume refuses a changed optim.lr" || fail "refuse changed key (exit $rc)"

# ---------------------------------------------------------------- kill -9 and torn files
train 2 "$W/k" --set train.checkpoint_every=1 --set train.stop_after=2
timeout 300 $MPI -n 2 "$BIN" train "$CFG" --set run_dir="$W/k" --set train.checkpoint_every=1 --resume >"$W/out" 2>&1 &
pid=$!
sleep 2
kill -9 $pid 2>/dev/null
pkill -9 -f "run_dir=$W/k" 2>/dev/null
{ wait $pid; } 2>/dev/null
newest=$(ls "$W/k/checkpoints" | sort | tail -n 1)
head -c 5000 "$W/k/checkpoints/$newest" >"$W/k/checkpoints/step-99999999.h5"   # a torn write
echo partial >"$W/k/checkpoints/step-99999998.h5.tmp"
train 2 "$W/k" --set train.checkpoint_every=1 --resume
if [ $rc -eq 0 ] && [ "$(sha "$W/k/checkpoints/step-00000006.h5")" = "$ref" ]; then
    pass "kill -9 + torn newest checkpoint, then resume: same final parameters"
else fail "kill -9 and resume (exit $rc)"; fi
grep -q 'step-99999999.h5' "$W/err" && pass "resume names the unreadable checkpoint it skipped" || fail "skip message"

# ---------------------------------------------------------------- preemption (SIGUSR1)
train 2 "$W/p_straight" --set train.steps=200 --set train.checkpoint_every=0 --set train.eval_every=0
p_ref=$(sha "$W/p_straight")
timeout 300 $MPI -n 2 "$BIN" train "$CFG" --set run_dir="$W/p" --set train.steps=200 \
    --set train.checkpoint_every=0 --set train.eval_every=0 --set train.log_every=1 >"$W/p.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^step ' "$W/p.out" 2>/dev/null && break; sleep 0.1; done
pkill -USR1 -f "^mpirun .*run_dir=$W/p " 2>/dev/null
wait $pid
prc=$?
if [ $prc -eq 75 ] && grep -q 'stopped by a signal at step' "$W/p.out" && [ -n "$(ls "$W/p/checkpoints")" ]; then
    pass "SIGUSR1: every rank stops at a step boundary with a checkpoint, exit 75"
else fail "SIGUSR1 preemption (exit $prc)"; fi
train 4 "$W/p" --set train.steps=200 --set train.checkpoint_every=0 --set train.eval_every=0 --resume
[ $rc -eq 0 ] && [ "$(sha "$W/p")" = "$p_ref" ] && pass "resume after the signal (4 ranks): same parameters as uninterrupted" \
    || fail "resume after preemption (exit $rc)"

# ---------------------------------------------------------------- eval command
run $MPI -n 2 "$BIN" eval --checkpoint "$W/n1" --reference "$W/n1/checkpoints/step-00000003.h5" \
    --data tests/data/train/dpo_eval.jsonl --out "$W/report.json"
"$PY" - "$W/report.json" <<'PYEOF' && pass "eval report: n_pairs, win rates, margin, loss, by_reason" || fail "eval report (exit $rc)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n_pairs"] == 12 and 0 <= r["win_rate"] <= 1 and 0 <= r["logprob_win_rate"] <= 1
assert "mean_margin" in r and r["loss"] > 0 and sum(v["n"] for v in r["by_reason"].values()) == 12
PYEOF
run "$BIN" eval --checkpoint "$W/n1" --reference "$W/n1" --data tests/data/train/dpo_eval.jsonl
grep -q 'win_rate 0.500' "$W/out" && pass "policy = reference: win rate exactly 0.5" || fail "self-reference win rate"

# ---------------------------------------------------------------- generate
head -n 6 data/demo/prompts_heldout.jsonl >"$W/prompts.jsonl"
for n in 1 2 3; do
    run $MPI -n $n "$BIN" generate --checkpoint "$W/n1" --data "$W/prompts.jsonl" --batch 2 \
        --max-new-tokens 12 --temperature 1.0 --seed 5 --out "$W/gen$n.jsonl"
done
if [ $rc -eq 0 ] && cmp -s "$W/gen1.jsonl" "$W/gen2.jsonl" && cmp -s "$W/gen1.jsonl" "$W/gen3.jsonl"; then
    pass "generate: same seed, same text on 1, 2 and 3 ranks"
else fail "generate determinism across ranks (exit $rc)"; fi
run "$BIN" generate --checkpoint "$W/n1" --data "$W/prompts.jsonl" --max-new-tokens 12 --temperature 1.0 --seed 6 --out "$W/gen6.jsonl"
cmp -s "$W/gen1.jsonl" "$W/gen6.jsonl" && fail "another seed gives other text" || pass "another seed gives other text"
[ "$(wc -l <"$W/gen1.jsonl")" -eq 6 ] && pass "one output line per prompt" || fail "generate line count"

# ---------------------------------------------------------------- tokenize --format
run "$BIN" tokenize --vocab data/demo/tokenizer/vocab.json --merges data/demo/tokenizer/merges.txt \
    --format dpo tests/data/train/dpo_eval.jsonl
"$PY" - "$W/out" <<'PYEOF' && pass "tokenize --format dpo: ids, tokens and a completion-only mask" || fail "tokenize --format (exit $rc)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 12
for r in rows:
    for side in ("chosen", "rejected"):
        s = r[side]
        assert len(s["ids"]) == len(s["tokens"]) == len(s["mask"])
        p = s["prompt_len"]
        assert all(m == 0 for m in s["mask"][:p])          # prompt and header: not counted
        assert any(m == 1 for m in s["mask"][p:])          # the completion counts
        assert s["tokens"][p - 3] == "<|im_start|>"        # ...<|im_start|>assistant\n
PYEOF

# ---------------------------------------------------------------- bad input
printf '{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}\n' >"$W/bad.jsonl"
for i in $(seq 1 11); do head -n 1 tests/data/train/dpo_small.jsonl >>"$W/bad.jsonl"; done
train 2 "$W/bad" --set data.train="$W/bad.jsonl"
[ $rc -eq 3 ] && grep -q "bad.jsonl:1: error:" "$W/err" && pass "invalid data: exit 3 with FILE:LINE" || fail "invalid data (exit $rc)"
train 2 "$W/cfg" --set train.stepz=3
[ $rc -eq 2 ] && expect_stderr 'train.stepz: unknown key' "config error: exit 2, one line naming the key"
[ $rc -eq 2 ] || fail "config error exit ($rc)"
train 2 "$W/miss" --set data.train=/nonexistent.jsonl
[ $rc -eq 2 ] && grep -q '/nonexistent.jsonl' "$W/err" && pass "missing data file: exit 2 naming it" || fail "missing file (exit $rc)"
train 2 /proc/forbidden
[ $rc -ne 0 ] && grep -q '/proc/forbidden' "$W/err" && pass "unwritable run dir: error naming it" || fail "unwritable run dir (exit $rc)"
train 3 "$W/ws"
[ $rc -eq 2 ] && grep -q '3 ranks do not divide the 4 micro-batches' "$W/err" && pass "world size not dividing micro-batches: exit 2 naming both" \
    || fail "world size check (exit $rc)"
[ "$(grep -c 'error' "$W/err")" -eq 1 ] && pass "the error is printed once" || fail "error printed $(grep -c error "$W/err") times"

# a NaN in the initial weights: training stops at step 1, naming it, and writes no checkpoint
printf '{"model": {"n_layer": 1, "n_head": 2, "d_model": 32, "vocab_size": 2048, "max_seq_len": 256}}\n' >"$W/init.json"
"$BIN" init --config "$W/init.json" --out "$W/nan.h5" >/dev/null 2>&1
"$PY" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r+"); d=f["model/params/ln_f.weight"]; v=d[:]; v[0]=float("nan"); d[:]=v' "$W/nan.h5"
train 2 "$W/nan" --set model.init="$W/nan.h5"
if [ $rc -eq 1 ] && grep -Eq 'step 1.*(NaN|nan)' "$W/err" && [ -z "$(ls "$W/nan/checkpoints" 2>/dev/null)" ]; then
    pass "NaN loss stops training at step 1 without a checkpoint"
else fail "NaN loss (exit $rc)"; fi

finish train_e2e

#!/usr/bin/env bash
# generate_ref.sh: end-to-end checks of `prefopt-mpi generate --reference CKPT [--ids]` on
# two tiny PPO checkpoints (1 and 3 steps from the same random init):
#   - --reference equal to --checkpoint: kl exactly 0 and logprob == ref_logprob on every line
#   - the same output (bytes) on 1 and 2 ranks; the other fields equal plain generate's
#   - logprob / ref_logprob match `prefopt-mpi logprobs` of prompt_ids + completion_ids
#     (temperature 1) under each checkpoint within 1e-4; kl = logprob - ref_logprob
#   - errors: a missing reference or another vocab_size exit 2 naming --reference
#   - scripts/compare_methods.py on 2 ranks: table rows, reference row KL 0, JSON; errors
# Environment from prefopt_script_test: PREFOPT_BIN, PREFOPT_SRC, PREFOPT_PYTHON.
set -u
BIN=${PREFOPT_BIN:?}
SRC=${PREFOPT_SRC:?}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/generate_ref.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$HERE/lib.sh"
cd "$SRC" || exit 1
MPI="mpirun --oversubscribe -q"

# ---------------------------------------------------------------- two tiny checkpoints
for steps in 1 3; do
    run timeout 300 "$BIN" train tests/data/train/ppo_tiny.json --set run_dir="$W/ppo$steps" \
        --set train.steps=$steps --set train.checkpoint_every=0 --set train.eval_every=0
    [ $rc -eq 0 ] && pass "train a $steps-step ppo checkpoint" || fail "train ppo $steps steps (exit $rc)"
done
POL="$W/ppo3"
REF="$W/ppo1"
head -n 5 tests/data/train/prompts_eval.jsonl >"$W/prompts.jsonl"
GEN=(generate --data "$W/prompts.jsonl" --batch 2 --max-new-tokens 10 --seed 3)

# ---------------------------------------------------------------- (a) reference = policy
run "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$POL" --temperature 0.8
cp "$W/out" "$W/self.jsonl"
"$PY" - "$W/self.jsonl" <<'PYEOF' && pass "reference = checkpoint: kl exactly 0 on every line" || fail "self-reference kl (exit $rc)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 5
for r in rows:
    assert r["kl"] == 0 and r["logprob"] == r["ref_logprob"] < 0, r
PYEOF

# ---------------------------------------------------------------- (b) 1 and 2 ranks
for n in 1 2; do
    run $MPI -n $n "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$REF" --temperature 0.8 \
        --out "$W/ref$n.jsonl"
    [ $rc -eq 0 ] && [ ! -s "$W/out" ] || fail "generate --reference on $n rank(s) (exit $rc, or stdout not empty)"
done
if cmp -s "$W/ref1.jsonl" "$W/ref2.jsonl" && [ -s "$W/ref1.jsonl" ]; then
    pass "generate --reference: identical output on 1 and 2 ranks"
else fail "generate --reference: 1 vs 2 ranks differ"; fi
run "$BIN" "${GEN[@]}" --checkpoint "$POL" --temperature 0.8 --out "$W/plain.jsonl"
"$PY" - "$W/ref1.jsonl" "$W/plain.jsonl" <<'PYEOF' && pass "without the new keys the lines equal plain generate's" || fail "extra keys change the rest"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 5
assert not any("logprob" in r or "kl" in r for r in b)
assert any(r["kl"] != 0 for r in a)
for r, p in zip(a, b):
    assert abs(r["kl"] - (r["logprob"] - r["ref_logprob"])) < 1e-9, r
    for k in ("logprob", "ref_logprob", "kl"):
        del r[k]
    assert r == p, (r, p)
PYEOF

# ---------------------------------------------------------------- (c) against `logprobs`
run "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$REF" --temperature 1.0 --ids \
    --out "$W/ids.jsonl"
"$PY" - "$W/ids.jsonl" "$W/tokens.jsonl" <<'PYEOF' || fail "--ids output"
import json, sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        assert len(r["completion_ids"]) == r["n_tokens"] >= 1, r
        ids = r["prompt_ids"] + r["completion_ids"]
        f.write(json.dumps({"ids": ids, "start": len(r["prompt_ids"])}) + "\n")
PYEOF
"$BIN" logprobs --checkpoint "$POL" --tokens "$W/tokens.jsonl" --out "$W/lp_pol.jsonl" 2>"$W/err"
"$BIN" logprobs --checkpoint "$REF" --tokens "$W/tokens.jsonl" --out "$W/lp_ref.jsonl" 2>>"$W/err"
"$PY" - "$W/ids.jsonl" "$W/lp_pol.jsonl" "$W/lp_ref.jsonl" <<'PYEOF' && pass "logprob / ref_logprob match the logprobs command within 1e-4" || fail "logprobs comparison"
import json, sys
g = [json.loads(l) for l in open(sys.argv[1])]
p = [json.loads(l) for l in open(sys.argv[2])]
r = [json.loads(l) for l in open(sys.argv[3])]
assert len(g) == len(p) == len(r) == 5
for a, b, c in zip(g, p, r):
    assert abs(a["logprob"] - b["logprob_sum"]) < 1e-4, (a["logprob"], b["logprob_sum"])
    assert abs(a["ref_logprob"] - c["logprob_sum"]) < 1e-4, (a["ref_logprob"], c["logprob_sum"])
PYEOF
run "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$REF" --temperature 1.0
"$PY" - "$W/out" "$W/ids.jsonl" <<'PYEOF' && pass "--ids only adds prompt_ids and completion_ids" || fail "--ids adds other changes"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
for r in b:
    del r["prompt_ids"], r["completion_ids"]
assert a == b
PYEOF

# ---------------------------------------------------------------- (d) errors
expect_exit 2 "missing reference: exit 2" "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$W/nope.h5"
expect_stderr "error: generate: --reference: .*nope\.h5: no such file" "missing reference: named"
printf '{"model": {"n_layer": 1, "n_head": 2, "d_model": 16, "vocab_size": 50, "max_seq_len": 256}}\n' >"$W/v50.json"
"$BIN" init --config "$W/v50.json" --out "$W/v50.h5" >/dev/null
expect_exit 2 "another vocab_size: exit 2" "$BIN" "${GEN[@]}" --checkpoint "$POL" --reference "$W/v50.h5"
expect_stderr "error: generate: --reference .*v50\.h5: vocab_size 50 differs" "another vocab_size: named"

# ---------------------------------------------------------------- scripts/compare_methods.py
CM=(scripts/compare_methods.py --bin "$BIN" --reference "$REF" --prompts "$W/prompts.jsonl"
    --graders tests/data/train/reward_graders.json --grader tiny_reward --temperature 0.9
    --max-new-tokens 8 --batch 2)
run "$PY" "${CM[@]}" --ranks 2 --mpirun "$MPI" --json "$W/cm.json" ppo3="$POL" \
    same="$REF/checkpoints/step-00000001.h5"
cp "$W/out" "$W/cm.md"
"$PY" - "$W/cm.md" "$W/cm.json" <<'PYEOF' && pass "compare_methods: table rows, reference KL 0" || fail "compare_methods table (exit $rc)"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 5 and lines[0].startswith("| method | mean score | mean KL"), lines
cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]
assert [c[0] for c in cells] == ["reference", "ppo3", "same"], cells
assert cells[0][2] == "0.0000" and cells[0][3] == "-", cells[0]
rows = json.load(open(sys.argv[2]))["rows"]
assert [r["method"] for r in rows] == ["reference", "ppo3", "same"]
assert rows[0]["kl"] == 0 and rows[0]["gain_per_nat"] is None and rows[2]["kl"] == 0
assert rows[1]["kl"] != 0 and rows[0]["n"] == 5 and rows[0]["mean_length"] > 0
for r in rows:
    assert 0 <= r["score"] <= 1 and r["score"] == r["score_applicable"] * r["applicable"] / r["n"]
    assert f'{r["score"]:.4f}' in lines[2 + rows.index(r)]
PYEOF
expect_exit 2 "compare_methods: bad NAME=RUN_DIR entry: exit 2" "$PY" "${CM[@]}" ppo3
expect_stderr "compare_methods: error: ppo3: expected NAME=RUN_DIR" "compare_methods: bad entry named"
run "$PY" "${CM[@]}" --grader nope ppo3="$POL"
[ $rc -eq 2 ] && grep -q -- "--grader nope: not in" "$W/err" && pass "compare_methods: unknown grader: exit 2, named" \
    || fail "compare_methods: unknown grader (exit $rc)"

finish generate_ref

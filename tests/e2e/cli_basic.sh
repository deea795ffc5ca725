#!/usr/bin/env bash
# cli_basic.sh: end-to-end checks of `prefopt-mpi` init / inspect / logprobs, their
# error reporting and exit codes, and h5py interoperability of checkpoints (both
# directions), with an independent NumPy GPT-2 forward as the log-prob oracle.
# Environment (set by prefopt_script_test): PREFOPT_BIN, PREFOPT_PYTHON, PREFOPT_SRC.
# Prints one line per check and ends with "cli_basic: N passed, M failed"; exits 1 on
# any failure.
set -u

BIN=${PREFOPT_BIN:?PREFOPT_BIN must point at the prefopt-mpi binary}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
H5PY_TOOL="$HERE/write_h5py_ckpt.py"
W=$(mktemp -d "${TMPDIR:-/tmp}/cli_basic.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

. "$HERE/lib.sh"

# expect_py NAME SCRIPT ARGS...: a Python check (exit 0 = pass) run with ARGS.
expect_py() {
    local name=$1 script=$2
    shift 2
    if "$PY" -c "$script" "$@" >"$W/py.out" 2>"$W/err"; then pass "$name"; else fail "$name"; cat "$W/py.out"; fi
}

# ---------------------------------------------------------------- top level
run "$BIN" --version
if [ "$rc" -eq 0 ] && grep -Eq '^prefopt-mpi [0-9]+\.[0-9]+\.[0-9]+' "$W/out"; then pass "--version"; else fail "--version"; fi
run "$BIN" --help
if [ "$rc" -eq 0 ] && grep -q ' init ' "$W/out" && grep -q ' inspect ' "$W/out" && grep -q ' logprobs ' "$W/out"; then
    pass "--help lists the commands"
else fail "--help lists the commands"; fi
expect_exit 2 "no command: exit 2" "$BIN"
expect_exit 2 "unknown command: exit 2" "$BIN" frobnicate
expect_stderr '^prefopt-mpi: error: frobnicate: unknown command' "unknown command: one error line"
for cmd in init inspect logprobs; do
    run "$BIN" "$cmd" --help
    if [ "$rc" -eq 0 ] && head -1 "$W/out" | grep -q "^usage: prefopt-mpi $cmd"; then pass "$cmd --help"; else fail "$cmd --help"; fi
done

# ---------------------------------------------------------------- init
cat >tiny.json <<'EOF'
{
  "algorithm": "dpo",
  "run_dir": "runs/tiny",
  "seed": 7,
  "model": {"arch": "gpt2", "n_layer": 2, "n_head": 2, "d_model": 16,
            "vocab_size": 50, "max_seq_len": 16},
  "data": {"train": "x.jsonl"},
  "train": {"steps": 1},
  "dpo": {"beta": 0.1}
}
EOF
expect_exit 0 "init from a config" "$BIN" init --config tiny.json --out ck.h5
if [ -f ck.h5 ] && [ ! -e ck.h5.tmp ]; then pass "init: file written, no tmp left"; else fail "init: file written, no tmp left"; fi
expect_exit 0 "h5py reads a prefopt checkpoint with the documented types" "$PY" "$H5PY_TOOL" check-c-ckpt ck.h5

run "$BIN" inspect --json ck.h5
cp "$W/out" inspect.json
expect_py "inspect --json: keys and values" '
import json, re, sys
d = json.load(open(sys.argv[1]))
for k in ("step", "algorithm", "arch", "n_layer", "n_head", "d_model", "vocab_size",
          "max_seq_len", "n_params", "params_sha256", "world_size", "value_head",
          "has_optimizer", "tensors"):
    assert k in d, k
assert d["step"] == 0 and d["algorithm"] == "init" and d["arch"] == "gpt2", d
assert (d["n_layer"], d["n_head"], d["d_model"], d["vocab_size"], d["max_seq_len"]) == (2, 2, 16, 50, 16)
assert d["world_size"] == 1 and d["value_head"] is False and d["has_optimizer"] is False
assert re.fullmatch("[0-9a-f]{64}", d["params_sha256"])
assert len(d["tensors"]) == 4 + 12 * 2
assert d["tensors"][0] == {"name": "wte.weight", "shape": [50, 16], "numel": 800}
n = 0
for t in d["tensors"]:
    size = 1
    for s in t["shape"]:
        size *= s
    n += size
assert n == d["n_params"], (n, d["n_params"])
' inspect.json
run "$BIN" inspect ck.h5
if [ "$rc" -eq 0 ] && grep -q '^params_sha256 ' "$W/out" && grep -q '^h.1.mlp.c_proj.weight ' "$W/out"; then
    pass "inspect: human table"
else fail "inspect: human table"; fi

sha_of() { "$BIN" inspect --json "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["params_sha256"])'; }
"$BIN" init --config tiny.json --out ck_again.h5 >/dev/null
"$BIN" init --config tiny.json --out ck_seed8.h5 --seed 8 >/dev/null
if [ "$(sha_of ck.h5)" = "$(sha_of ck_again.h5)" ]; then pass "init is deterministic"; else fail "init is deterministic"; fi
if [ "$(sha_of ck.h5)" != "$(sha_of ck_seed8.h5)" ]; then pass "init --seed changes the weights"; else fail "init --seed changes the weights"; fi
expect_py "init stores the resolved config" '
import h5py, json, sys
c = json.loads(h5py.File(sys.argv[1], "r").attrs["config_json"])
assert c["seed"] == 8 and c["model"]["n_layer"] == 2 and c["model"]["value_head"] is False, c
' ck_seed8.h5

# init errors: exit 2 with the key named
printf '{"model": {"n_heads": 2, "vocab_size": 50}}\n' >bad_key.json
expect_exit 2 "init: unknown model key: exit 2" "$BIN" init --config bad_key.json --out x.h5
expect_stderr '^prefopt-mpi: error: bad_key\.json: model\.n_heads: unknown key' "init: unknown key named"
printf '{"model": {"n_head": 0, "vocab_size": 50}}\n' >bad_range.json
expect_exit 2 "init: out-of-range value: exit 2" "$BIN" init --config bad_range.json --out x.h5
expect_stderr 'model\.n_head: must be an integer in \[1, 256\]' "init: range error named"
printf '{"model": {"vocab_size": 50}, "trian": {}}\n' >bad_top.json
expect_exit 2 "init: unknown top-level key: exit 2" "$BIN" init --config bad_top.json --out x.h5
expect_stderr 'bad_top\.json: trian: unknown key' "init: top-level key named"
printf '{"model": {"n_layer": 2}}\n' >no_vocab.json
expect_exit 2 "init: missing vocab_size: exit 2" "$BIN" init --config no_vocab.json --out x.h5
expect_stderr 'model\.vocab_size: required' "init: vocab_size required"
printf '{"model": {\n  "vocab_size": 50,,\n}}\n' >bad_json.json
expect_exit 2 "init: invalid JSON: exit 2" "$BIN" init --config bad_json.json --out x.h5
expect_stderr 'bad_json\.json: line 2: invalid JSON' "init: JSON error line"
expect_exit 2 "init: missing config file: exit 2" "$BIN" init --config nope.json --out x.h5
expect_exit 2 "init: --config required" "$BIN" init --out x.h5
expect_exit 2 "init: unknown option" "$BIN" init --config tiny.json --out x.h5 --bogus
expect_exit 2 "init: bad --seed" "$BIN" init --config tiny.json --out x.h5 --seed -3
if [ ! -e x.h5 ]; then pass "init: nothing written on error"; else fail "init: nothing written on error"; fi
expect_exit 1 "init: unwritable output folder: exit 1" "$BIN" init --config tiny.json --out no/such/dir/x.h5

# ---------------------------------------------------------------- logprobs
cat >ids.jsonl <<'EOF'
{"ids": [1, 2, 3, 4, 5, 6], "start": 1}

{"ids": [1, 2, 3, 4, 5, 6], "start": 5}
{"ids": [7, 8], "start": 1, "note": "extra keys are ignored"}
{"ids": [0, 49, 0, 49, 0, 49, 0, 49, 0, 49, 0, 49, 0, 49, 0, 49], "start": 8}
EOF
expect_exit 0 "logprobs: runs" "$BIN" logprobs --checkpoint ck.h5 --tokens ids.jsonl
cp "$W/out" lp_stdout.jsonl
expect_py "logprobs: one line per record, len - start values, consistent sums" '
import json, struct, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(outs) == len(recs), (len(outs), len(recs))
for r, o in zip(recs, outs):
    tl = o["token_logprobs"]
    assert len(tl) == len(r["ids"]) - r["start"], (r, o)
    assert all(v <= 0 for v in tl)
    s = 0.0  # the float32 values, summed in double in order, give the sum exactly
    for v in tl:
        s += struct.unpack("f", struct.pack("f", v))[0]
    assert s == o["logprob_sum"], (s, o["logprob_sum"])
# causal: the tail of a sequence does not depend on where scoring starts
assert abs(outs[1]["token_logprobs"][0] - outs[0]["token_logprobs"][4]) < 1e-5
' ids.jsonl lp_stdout.jsonl

head -1 ids.jsonl >first.jsonl
"$BIN" logprobs --checkpoint ck.h5 --tokens first.jsonl >lp_first.jsonl 2>"$W/err"
if [ "$(head -1 lp_stdout.jsonl)" = "$(cat lp_first.jsonl)" ]; then
    pass "logprobs: a line's result does not depend on the other lines"
else fail "logprobs: a line's result does not depend on the other lines"; fi
: >empty.jsonl
expect_exit 0 "logprobs: empty input" "$BIN" logprobs --checkpoint ck.h5 --tokens empty.jsonl
if [ ! -s "$W/out" ]; then pass "logprobs: empty input gives empty output"; else fail "logprobs: empty input gives empty output"; fi

# compare_ref NAME CKPT: prefopt-mpi logprobs agrees with the NumPy forward.
compare_ref() {
    "$BIN" logprobs --checkpoint "$2" --tokens ids.jsonl >lp_c.jsonl 2>"$W/err"
    "$PY" "$H5PY_TOOL" logprobs "$2" ids.jsonl >lp_ref.jsonl 2>>"$W/err"
    expect_py "$1" '
import json, sys
c = [json.loads(l) for l in open(sys.argv[1])]
r = [json.loads(l) for l in open(sys.argv[2])]
assert len(c) == len(r) > 0
for a, b in zip(c, r):
    assert len(a["token_logprobs"]) == len(b["token_logprobs"])
    err = max(abs(x - y) for x, y in zip(a["token_logprobs"], b["token_logprobs"]))
    assert err < 1e-4, err
' lp_c.jsonl lp_ref.jsonl
}
compare_ref "logprobs matches the NumPy GPT-2 reference (prefopt init checkpoint)" ck.h5

expect_exit 0 "logprobs --out" "$BIN" logprobs --checkpoint ck.h5 --tokens ids.jsonl --out lp_out.jsonl
if cmp -s lp_out.jsonl lp_stdout.jsonl && [ ! -e lp_out.jsonl.tmp ] && [ ! -s "$W/out" ]; then
    pass "logprobs --out equals stdout output, no tmp left"
else fail "logprobs --out equals stdout output, no tmp left"; fi

# bad_line N RULE NAME CONTENT: a file whose line N is bad gives exit 3 + FILE:N: error: RULE:
bad_line() {
    local n=$1 rule=$2 name=$3
    printf '{"ids": [1, 2, 3], "start": 1}\n%s\n' "$4" >bad.jsonl
    rm -f bad_out.jsonl
    expect_exit 3 "logprobs: $name: exit 3" "$BIN" logprobs --checkpoint ck.h5 --tokens bad.jsonl --out bad_out.jsonl
    expect_stderr "^bad\.jsonl:$n: error: $rule: " "logprobs: $name: FILE:LINE: error: $rule"
    if [ ! -e bad_out.jsonl ] && [ ! -e bad_out.jsonl.tmp ]; then pass "logprobs: $name: no output"; else fail "logprobs: $name: no output"; fi
}
bad_line 2 json "invalid JSON" '{"ids": [1, 2,'
bad_line 2 json "not an object" '[1, 2, 3]'
bad_line 2 ids "missing ids" '{"start": 1}'
bad_line 2 ids "id out of range" '{"ids": [1, 50], "start": 1}'
bad_line 2 ids "negative id" '{"ids": [1, -1], "start": 1}'
bad_line 2 ids "fractional id" '{"ids": [1, 2.5], "start": 1}'
bad_line 2 start "start 0" '{"ids": [1, 2], "start": 0}'
bad_line 2 start "start = len" '{"ids": [1, 2], "start": 2}'
bad_line 2 start "missing start" '{"ids": [1, 2]}'
bad_line 2 length "longer than max_seq_len" '{"ids": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "start": 1}'

expect_exit 2 "logprobs: missing checkpoint: exit 2" "$BIN" logprobs --checkpoint missing.h5 --tokens ids.jsonl
expect_stderr '^prefopt-mpi: error: missing\.h5: no such file' "logprobs: missing checkpoint named"
expect_exit 2 "logprobs: missing tokens file: exit 2" "$BIN" logprobs --checkpoint ck.h5 --tokens nope.jsonl
expect_exit 2 "logprobs: --tokens required" "$BIN" logprobs --checkpoint ck.h5
expect_exit 2 "logprobs: stray argument" "$BIN" logprobs --checkpoint ck.h5 --tokens ids.jsonl extra

# ---------------------------------------------------------------- inspect errors, run folders
expect_exit 2 "inspect: missing checkpoint: exit 2" "$BIN" inspect missing.h5
expect_stderr '^prefopt-mpi: error: missing\.h5: no such file' "inspect: missing file named"
echo "not hdf5" >text.h5
expect_exit 2 "inspect: not HDF5: exit 2" "$BIN" inspect text.h5
expect_stderr 'text\.h5: not an HDF5 file' "inspect: not HDF5 named"
cp ck.h5 broken.h5
"$PY" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "a"); del f["model/params/h.1.attn.c_proj.bias"]' broken.h5
expect_exit 2 "inspect: missing tensor: exit 2" "$BIN" inspect broken.h5
expect_stderr 'broken\.h5: tensor h\.1\.attn\.c_proj\.bias: missing' "inspect: missing tensor named"
expect_exit 2 "inspect: no argument" "$BIN" inspect

mkdir -p run/checkpoints
cp ck.h5 run/checkpoints/step-00000003.h5
cp ck_seed8.h5 run/checkpoints/step-00000010.h5
head -c 2000 ck.h5 >run/checkpoints/step-00000020.h5
expect_exit 0 "inspect RUN_DIR skips a torn newest checkpoint" "$BIN" inspect --json run
if grep -q 'warning: .*run/checkpoints/step-00000020\.h5' "$W/err"; then pass "inspect RUN_DIR: warning names the skipped file"; else fail "inspect RUN_DIR: warning names the skipped file"; fi
if grep -q '"path":"run/checkpoints/step-00000010.h5"' "$W/out"; then pass "inspect RUN_DIR: newest valid file used"; else fail "inspect RUN_DIR: newest valid file used"; fi
expect_exit 0 "logprobs accepts a RUN_DIR" "$BIN" logprobs --checkpoint run --tokens ids.jsonl
mkdir -p empty_run
expect_exit 2 "inspect: run folder without checkpoints: exit 2" "$BIN" inspect empty_run

# ---------------------------------------------------------------- h5py-written checkpoints
for variant in vlen fixed; do
    run "$PY" "$H5PY_TOOL" write "h5py_$variant.h5" --variant "$variant" --seed 3
    want_sha=$(cat "$W/out")
    if [ "$rc" -eq 0 ] && [ "$(sha_of "h5py_$variant.h5")" = "$want_sha" ]; then
        pass "h5py ($variant) checkpoint: inspect params_sha256 = hashlib's"
    else fail "h5py ($variant) checkpoint: inspect params_sha256 = hashlib's"; fi
    run "$BIN" inspect --json "h5py_$variant.h5"
    if grep -q '"algorithm":"converted"' "$W/out" && grep -q '"step":5' "$W/out"; then
        pass "h5py ($variant) checkpoint: root attributes read"
    else fail "h5py ($variant) checkpoint: root attributes read"; fi
    compare_ref "h5py ($variant) checkpoint: logprobs match the NumPy reference" "h5py_$variant.h5"
done

finish cli_basic

#!/usr/bin/env bash
# tokenizer_cli.sh: end-to-end checks of `prefopt-mpi train-tokenizer` and `tokenize`:
# byte-identical, order-independent training output; tokenize from vocab/merges, from a
# tokenizer.json and from a checkpoint's /tokenizer group written by h5py; error
# messages and exit codes.
# Environment (set by prefopt_script_test): PREFOPT_BIN, PREFOPT_PYTHON, PREFOPT_SRC.
# Prints one line per check and ends with "tokenizer_cli: N passed, M failed"; exits 1
# on any failure.
set -u

BIN=${PREFOPT_BIN:?PREFOPT_BIN must point at the prefopt-mpi binary}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
SRC=${PREFOPT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$(cd "$(dirname "$0")" && pwd)
FIX="$SRC/tests/data/tokenizer"
W=$(mktemp -d "${TMPDIR:-/tmp}/tokenizer_cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

. "$HERE/lib.sh" # pass, fail, run, expect_exit, finish

# expect_err TEXT NAME: the last stderr contains TEXT.
expect_err() {
    if grep -qF -- "$1" "$W/err"; then pass "$2"; else fail "$2 (stderr lacks '$1')"; fi
}
# expect_out TEXT NAME: the last stdout equals TEXT.
expect_out() {
    if [ "$(cat "$W/out")" = "$1" ]; then pass "$2"; else fail "$2 (got '$(cat "$W/out")')"; fi
}

# A small chat-style corpus in two files.
"$PY" - <<'EOF'
import json
words = "the quick brown fox jumps over the lazy dog while it's raining in Paris".split()
with open("a.jsonl", "w") as f:
    for i in range(300):
        msg = " ".join(words[(i * 7 + k) % len(words)] for k in range(12))
        f.write(json.dumps({"messages": [{"role": "user", "content": msg},
                                         {"role": "assistant", "content": f"ok {i}: {msg}"}]}) + "\n")
with open("b.jsonl", "w") as f:
    for i in range(100):
        f.write(json.dumps({"text": f"def f{i}(x):\n    return x * {i} + 1\n", "n": i}) + "\n")
lines = open("a.jsonl").read().splitlines()
open("a_rev.jsonl", "w").write("\n".join(reversed(lines)) + "\n")
EOF

expect_exit 0 "train-tokenizer writes a vocabulary" \
    "$BIN" train-tokenizer --vocab-size 400 --out tok1 a.jsonl b.jsonl
if [ -s tok1/vocab.json ] && [ "$(head -1 tok1/merges.txt)" = "#version: 0.2" ] &&
   [ "$(($(wc -l <tok1/merges.txt) - 1))" -eq 141 ]; then
    pass "vocab.json and merges.txt (141 merges) written"
else
    fail "vocab.json and merges.txt (141 merges) written"
fi
run "$BIN" train-tokenizer --vocab-size 400 --out tok2 b.jsonl a_rev.jsonl
if [ "$rc" -eq 0 ] && cmp -s tok1/vocab.json tok2/vocab.json && cmp -s tok1/merges.txt tok2/merges.txt; then
    pass "training output is byte-identical for reordered files and lines"
else
    fail "training output is byte-identical for reordered files and lines"
fi

# The incremental trainer against a naive Python BPE (skipped without Python's regex).
"$PY" "$SRC/tests/parity/bpe_train_reference.py" 400 a.jsonl b.jsonl >ref_merges.txt 2>"$W/err"
ref=$?
if [ "$ref" -eq 77 ]; then
    echo "skip  python3-regex not available: naive trainer comparison"
elif [ "$ref" -eq 0 ] && cmp -s ref_merges.txt tok1/merges.txt; then
    pass "merges equal the naive reference trainer's"
else
    fail "merges equal the naive reference trainer's"
fi

run "$BIN" tokenize --vocab tok1/vocab.json --merges tok1/merges.txt --text "the lazy dog<|endoftext|>"
if [ "$rc" -eq 0 ] && "$PY" -c '
import json, sys
o = json.load(open(sys.argv[1]))
v = json.load(open(sys.argv[2]))
assert len(o["ids"]) == len(o["tokens"]) and o["ids"][-1] == 397, o
assert all(v[t] == i for t, i in zip(o["tokens"], o["ids"])), o
assert "".join(o["tokens"][:-1]).replace("\u0120", " ") == "the lazy dog", o
' "$W/out" tok1/vocab.json; then
    pass "tokenize --vocab/--merges prints ids and their tokens"
else
    fail "tokenize --vocab/--merges prints ids and their tokens"
fi

run "$BIN" tokenize --tokenizer "$FIX/tokenizer.json" --text "<|im_start|>hello world<|im_end|>"
expect_out '{"ids":[273,261,266,274],"tokens":["<|im_start|>","hello","Ġworld","<|im_end|>"]}' \
    "tokenize --tokenizer (tokenizer.json, added tokens)"
run "$BIN" tokenize --vocab "$FIX/encoder.json" --merges "$FIX/vocab.bpe" --no-special --text "<|endoftext|>"
if [ "$rc" -eq 0 ] && ! grep -q '272' "$W/out"; then pass "--no-special"; else fail "--no-special"; fi

# A checkpoint whose /tokenizer group h5py wrote (variable-length UTF-8 strings).
if "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$FIX" <<'EOF'
import sys, h5py
fix = sys.argv[1]
with h5py.File("ckpt.h5", "w") as f:
    f.attrs["format"] = "prefopt-checkpoint"
    f["tokenizer/vocab.json"] = open(fix + "/vocab.json", encoding="utf-8").read()
    f["tokenizer/merges.txt"] = open(fix + "/merges.txt", encoding="utf-8").read()
with h5py.File("bare.h5", "w") as f:
    f.attrs["format"] = "prefopt-checkpoint"
EOF
    run "$BIN" tokenize --checkpoint ckpt.h5 --text "hello world<|endoftext|>"
    expect_out '{"ids":[261,266,272],"tokens":["hello","Ġworld","<|endoftext|>"]}' \
        "tokenize --checkpoint (h5py-written /tokenizer)"
    expect_exit 2 "a checkpoint without /tokenizer" "$BIN" tokenize --checkpoint bare.h5 --text x
    expect_err "bare.h5: tokenizer: missing group" "it names the file and the group"
else
    echo "skip  h5py not available: checkpoint checks"
fi

expect_exit 3 "tokenize: invalid UTF-8 text" \
    "$BIN" tokenize --vocab "$FIX/vocab.json" --merges "$FIX/merges.txt" --text $'ab\xff'
expect_err "--text: error: utf8: invalid UTF-8 at byte offset 2" "it names the byte offset"
expect_exit 2 "tokenize --format with a missing file: exit 2" \
    "$BIN" tokenize --vocab "$FIX/vocab.json" --merges "$FIX/merges.txt" --format sft x.jsonl
expect_err "x.jsonl" "it names the file"
expect_exit 2 "tokenize --format needs FILE" \
    "$BIN" tokenize --vocab "$FIX/vocab.json" --merges "$FIX/merges.txt" --format sft
expect_exit 2 "tokenize needs --text" "$BIN" tokenize --vocab "$FIX/vocab.json" --merges "$FIX/merges.txt"
expect_exit 2 "tokenize needs one source" \
    "$BIN" tokenize --tokenizer "$FIX/tokenizer.json" --vocab "$FIX/vocab.json" --text x
expect_exit 2 "tokenize --vocab without --merges" "$BIN" tokenize --vocab "$FIX/vocab.json" --text x
expect_exit 2 "tokenize: missing vocab file" \
    "$BIN" tokenize --vocab nope.json --merges "$FIX/merges.txt" --text x
expect_err "nope.json: cannot open" "it names the file"
expect_exit 0 "tokenize --help" "$BIN" tokenize --help
expect_exit 0 "train-tokenizer --help" "$BIN" train-tokenizer --help
expect_exit 2 "train-tokenizer --vocab-size too small" \
    "$BIN" train-tokenizer --vocab-size 100 --out t a.jsonl
expect_exit 2 "train-tokenizer needs a file" "$BIN" train-tokenizer --vocab-size 300 --out t
expect_exit 2 "train-tokenizer: missing file" "$BIN" train-tokenizer --vocab-size 300 --out t nope.jsonl
printf '{"text": "fine"}\n{"text": broken}\n' >bad.jsonl
expect_exit 3 "train-tokenizer: a line that is not JSON" \
    "$BIN" train-tokenizer --vocab-size 300 --out t bad.jsonl
expect_err "bad.jsonl:2: error: json:" "it names the file and line"

finish tokenizer_cli

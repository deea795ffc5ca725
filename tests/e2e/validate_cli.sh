#!/usr/bin/env bash
# validate_cli.sh: end-to-end checks of `prefopt-mpi validate`: exit codes (0 valid,
# 2 usage / unreadable file, 3 invalid data), the "FILE:LINE: error: <rule>: <detail>"
# lines on stderr, the summary line, --min-examples, --max-errors, --max-warnings,
# --list-rules, many files, standard input, and all four formats.
# Environment (set by prefopt_script_test): PREFOPT_BIN.
# Prints one line per check and ends with "validate_cli: N passed, M failed"; exits 1
# on any failure.
set -u

BIN=${PREFOPT_BIN:?PREFOPT_BIN must point at the prefopt-mpi binary}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") # the checks run in a temporary folder
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/validate_cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

. "$HERE/lib.sh" # pass, fail, finish (run is redefined below)

# run CMD...: lib.sh's run with stdin from /dev/null (validate reads standard input when
# given no file, so a check must never wait on the terminal).
run() { "$@" >"$W/out" 2>"$W/err" </dev/null; rc=$?; }

# check NAME WANT_RC [STDERR_REGEX [STDOUT_REGEX]]: judges the last run.
check() {
    local name=$1 want=$2 err_re=${3:-} out_re=${4:-}
    if [ "$rc" -ne "$want" ]; then fail "$name (exit $rc, want $want)"; return; fi
    if [ -n "$err_re" ] && ! grep -Eq -- "$err_re" "$W/err"; then fail "$name (stderr lacks /$err_re/)"; return; fi
    if [ -n "$out_re" ] && ! grep -Eq -- "$out_re" "$W/out"; then fail "$name (stdout lacks /$out_re/)"; return; fi
    pass "$name"
}

# dpo_lines N: N distinct valid DPO lines.
dpo_lines() {
    for i in $(seq 1 "$1"); do
        printf '{"input": {"messages": [{"role": "user", "content": "question %d"}]}, ' "$i"
        printf '"preferred_output": [{"role": "assistant", "content": "good %d"}], ' "$i"
        printf '"non_preferred_output": [{"role": "assistant", "content": "bad %d"}]}\n' "$i"
    done
}

dpo_lines 12 >good.jsonl
{ printf '\xEF\xBB\xBF'; dpo_lines 10 | sed 's/$/\r/'; printf '\r\n\n'; } >bom_crlf.jsonl
{ dpo_lines 10; echo '[1, 2]'; echo '{"input": }'; dpo_lines 1 | sed 's/"preferred_output"/"preferred_outputs"/'; } >bad.jsonl
{ dpo_lines 10; dpo_lines 1; } >dup.jsonl
dpo_lines 3 >three.jsonl
: >empty.jsonl
for i in $(seq 1 10); do
    printf '{"messages": [{"role": "user", "content": "u%d"}, {"role": "assistant", "content": "a", "weight": %d}]}\n' "$i" $((i % 2))
done >sft.jsonl
for i in $(seq 1 10); do printf '{"messages": [{"role": "user", "content": "%d+1?"}], "answer": "%d"}\n' "$i" $((i + 1)); done >prompts.jsonl
for i in $(seq 1 10); do printf '{"prompt": "p%d", "chosen": "yes", "rejected": "no"}\n' "$i"; done >trl.jsonl

# ---------------------------------------------------------------- usage
run "$BIN" validate --help
check "--help: exit 0" 0 "" "usage: prefopt-mpi validate --format"
run "$BIN" --help
check "validate listed in prefopt-mpi --help" 0 "" " validate "
run "$BIN" validate --list-rules
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$W/out")" -ge 30 ] && grep -q '^tool-call-id-unknown ' "$W/out" &&
    grep -Eq '^duplicate-example +warning' "$W/out"; then pass "--list-rules"; else fail "--list-rules"; fi
run "$BIN" validate good.jsonl
check "no --format: exit 2" 2 "prefopt-mpi: error: validate: --format is required"
run "$BIN" validate --format csv good.jsonl
check "unknown format: exit 2" 2 "unknown data format 'csv'"
run "$BIN" validate --format dpo
check "no FILE: exit 2" 2 "no FILE given"
run "$BIN" validate --format dpo missing.jsonl
check "missing file: exit 2" 2 "missing.jsonl: cannot open: No such file"
run "$BIN" validate --format dpo "$W"
check "directory: exit 2" 2 "is a directory"
run "$BIN" validate --format dpo --max-errors -1 good.jsonl
check "bad --max-errors: exit 2" 2 "--max-errors: '-1' is not a non-negative integer"
run "$BIN" validate --format dpo --bogus good.jsonl
check "unknown option: exit 2" 2 "--bogus: unknown option"

# ---------------------------------------------------------------- valid data
run "$BIN" validate --format dpo good.jsonl
check "valid dpo: exit 0" 0 "" "^validate: 1 file, 12 examples: 0 errors, 0 warnings: valid$"
[ -s "$W/err" ] && fail "valid dpo: stderr is empty" || pass "valid dpo: stderr is empty"
run "$BIN" validate --format dpo bom_crlf.jsonl
check "BOM, CRLF, trailing blank lines: exit 0" 0 "" "10 examples: 0 errors"
run "$BIN" validate --format sft sft.jsonl
check "valid sft: exit 0" 0 "" ": valid$"
run "$BIN" validate --format prompts prompts.jsonl
check "valid prompts: exit 0" 0 "" ": valid$"
run "$BIN" validate --format trl trl.jsonl
check "valid trl: exit 0" 0 "" ": valid$"
run "$BIN" validate --format dpo=x good.jsonl
check "a --format value with = is checked" 2 "unknown data format"
run "$BIN" validate --format=dpo good.jsonl good.jsonl good.jsonl good.jsonl good.jsonl \
    good.jsonl good.jsonl good.jsonl good.jsonl good.jsonl
check "ten files: exit 0" 0 "" "^validate: 10 files, 120 examples"
"$BIN" validate --format dpo - <good.jsonl >"$W/out" 2>"$W/err"
rc=$?
check "standard input: exit 0" 0 "" "12 examples"

# ---------------------------------------------------------------- invalid data
run "$BIN" validate --format dpo bad.jsonl
check "invalid: exit 3" 3 "^bad.jsonl:11: error: not-object: expected a JSON object, got array$"
if grep -q '^bad.jsonl:12: error: invalid-json: ' "$W/err" &&
    grep -q "^bad.jsonl:13: error: missing-field: no \"preferred_output\"" "$W/err" &&
    grep -q "^bad.jsonl:13: warning: unknown-key: the line: unknown key 'preferred_outputs'" "$W/err"; then
    pass "invalid: one line per problem"
else fail "invalid: one line per problem"; fi
if [ "$(tail -1 "$W/err")" = "validate: 1 file, 13 examples: 3 errors, 1 warning: invalid" ]; then
    pass "invalid: summary line last on stderr"
else fail "invalid: summary line last on stderr ($(tail -1 "$W/err"))"; fi
[ -s "$W/out" ] && fail "invalid: stdout is empty" || pass "invalid: stdout is empty"
run "$BIN" validate --format dpo --max-errors 1 bad.jsonl good.jsonl
check "--max-errors 1: exit 3" 3 "stopped at --max-errors"
if [ "$(grep -c ': error: ' "$W/err")" -eq 1 ]; then pass "--max-errors 1: one error line"; else fail "--max-errors 1: one error line"; fi
run "$BIN" validate --format dpo three.jsonl
check "three examples: too-few-examples" 3 "^three.jsonl:3: error: too-few-examples: 3 examples, at least 10 required$"
run "$BIN" validate --format dpo --min-examples 3 three.jsonl
check "--min-examples 3: exit 0" 0 "" ": valid$"
run "$BIN" validate --format dpo --min-examples=0 three.jsonl
check "--min-examples 0: exit 0" 0
run "$BIN" validate --format dpo empty.jsonl
check "empty file: exit 3" 3 "^empty.jsonl:1: error: empty-file: "
run "$BIN" validate --format sft good.jsonl
check "dpo data as sft: exit 3" 3 "^good.jsonl:1: error: no-messages: messages is missing$"

# ---------------------------------------------------------------- warnings
run "$BIN" validate --format dpo dup.jsonl
check "duplicates: warning, exit 0" 0 "^dup.jsonl:11: warning: duplicate-example: repeats the example on line 1$" ": 0 errors, 1 warning: valid$"
{ for i in $(seq 1 5); do cat dup.jsonl; done; } >dups.jsonl
run "$BIN" validate --format dpo --max-warnings 2 dups.jsonl
if [ "$rc" -eq 0 ] && [ "$(grep -c ': warning: ' "$W/err")" -eq 2 ] && grep -q '45 warnings' "$W/out"; then
    pass "--max-warnings 2: two printed, all counted"
else fail "--max-warnings 2: two printed, all counted"; fi

finish validate_cli

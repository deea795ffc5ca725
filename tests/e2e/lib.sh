# lib.sh: shared helpers of the end-to-end shell tests (sourced, not run).
# Expects W (a scratch folder) to be set by the caller. Provides pass/fail counters,
# run (stdout -> $W/out, stderr -> $W/err, status -> $rc), expect_exit, expect_stderr
# and finish NAME, which prints "NAME: N passed, M failed" and exits 1 on failures.

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    [ -s "$W/err" ] && sed 's/^/      stderr: /' "$W/err" | head -5
}

# run CMD...: runs a command with stdout in $W/out, stderr in $W/err; sets $rc.
run() { "$@" >"$W/out" 2>"$W/err"; rc=$?; }

# expect_exit WANT NAME CMD...: the command exits with WANT.
expect_exit() {
    local want=$1 name=$2
    shift 2
    run "$@"
    if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name (exit $rc, want $want)"; fi
}

# expect_stderr REGEX NAME: the last command's stderr is one line matching REGEX.
expect_stderr() {
    local lines
    lines=$(wc -l <"$W/err")
    if [ "$lines" -eq 1 ] && grep -Eq -- "$1" "$W/err"; then pass "$2"; else fail "$2 (stderr does not match /$1/ in one line)"; fi
}

# inspect_field RUN_DIR|CKPT KEY: one field of `inspect --json` (Python repr; needs BIN, PY).
inspect_field() { "$BIN" inspect --json "$1" 2>/dev/null | "$PY" -c 'import json,sys; print(repr(json.load(sys.stdin).get(sys.argv[1])))' "$2"; }

# sha RUN_DIR|CKPT: params_sha256 of a checkpoint or of a run's newest checkpoint.
sha() { "$BIN" inspect --json "$1" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["params_sha256"])'; }

# train_config CONFIG N RUN_DIR [ARGS...]: `train CONFIG` on N ranks (mpirun command in
# MPI) into RUN_DIR, with a 300 s timeout; output in $W/out, $W/err, status in $rc.
train_config() {
    local cfg=$1 n=$2 dir=$3
    shift 3
    timeout 300 $MPI -n "$n" "$BIN" train "$cfg" --set run_dir="$dir" "$@" >"$W/out" 2>"$W/err"
    rc=$?
}

# finish NAME: the closing line and the exit status.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

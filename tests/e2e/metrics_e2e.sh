#!/usr/bin/env bash
# metrics_e2e.sh MODE WRITER: end-to-end checks of metrics.h5, one group per MODE:
#   h5py  h5py (and h5dump) read what the C writer wrote: names, dtypes, chunking,
#         values, NaN padding; appends succeed while h5py holds the file open
#   cli   `prefopt-mpi metrics` text and --csv output, run-folder argument, errors
#   plot  scripts/plot_run.py draws a PNG for a DPO and an SFT table (exit 77 = skipped,
#         only when matplotlib or h5py is not installed)
# WRITER is tests/e2e/metrics_writer.c (writes known tables). Environment (set by
# prefopt_script_test): PREFOPT_BIN, PREFOPT_PYTHON, PREFOPT_SRC.
# Prints one line per check and ends with "metrics_MODE: N passed, M failed".
set -u

MODE=${1:?usage: metrics_e2e.sh h5py|cli|plot WRITER}
WRITER=${2:?usage: metrics_e2e.sh h5py|cli|plot WRITER}
BIN=${PREFOPT_BIN:?PREFOPT_BIN must point at the prefopt-mpi binary}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
SRC=${PREFOPT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/metrics_e2e.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

. "$HERE/lib.sh" # pass, fail, run, expect_exit, finish

# expect_out NAME WANT_FILE CMD...: the command exits 0 and prints exactly WANT_FILE.
expect_out() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ "$rc" -eq 0 ] && cmp -s "$want" "$W/out"; then pass "$name"; else
        fail "$name (exit $rc)"
        diff "$want" "$W/out" | head -10
    fi
}

# expect_py NAME SCRIPT ARGS...: a Python check (exit 0 = pass) run with ARGS.
expect_py() {
    local name=$1 script=$2
    shift 2
    if "$PY" -c "$script" "$@" >"$W/py.out" 2>"$W/err"; then pass "$name"; else
        fail "$name"
        cat "$W/py.out"
    fi
}

# ---------------------------------------------------------------- h5py / h5dump
mode_h5py() {
    mkdir -p run
    run "$WRITER" run/metrics.h5 dpo
    if [ "$rc" -eq 0 ]; then pass "writer: dpo table"; else fail "writer: dpo table"; fi
    expect_py "h5py: layout, dtypes, chunking, names in creation order" '
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
names = ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
         "rewards/margins", "logps/chosen", "logps/rejected", "grad_norm", "lr",
         "tokens_per_s", "eval/loss", "eval/rewards/accuracies", "eval/rewards/margins"]
assert f.attrs["format"] == "prefopt-metrics", f.attrs["format"]
assert int(f.attrs["format_version"]) == 1
assert list(f["metrics"].attrs["columns"]) == names, list(f["metrics"].attrs["columns"])
step = f["metrics/step"]
assert step.dtype == np.int64 and step.shape == (3,) and step.maxshape == (None,)
assert list(step[()]) == [10, 20, 30]
for n in names:
    d = f["metrics/" + n]
    assert d.dtype == np.float64 and d.shape == (3,), (n, d.dtype, d.shape)
    assert d.maxshape == (None,) and d.chunks == (1024,), (n, d.maxshape, d.chunks)
assert isinstance(f["metrics/eval/rewards"], h5py.Group)
' run/metrics.h5
    expect_py "h5py: values exact, NaN where a metric was not logged" '
import sys, math, h5py
f = h5py.File(sys.argv[1], "r")
m = f["metrics"]
nan = float("nan")
want = {"loss": [0.6931, 0.65, 0.6], "lr": [1e-4, 9e-5, 8e-5],
        "rewards/chosen": [0.01, 0.05, nan], "logps/rejected": [-130.25, -133.0, nan],
        "eval/loss": [nan, 0.66, nan], "eval/rewards/accuracies": [nan, 0.6, nan],
        "tokens_per_s": [2048.0, 2100.0, nan]}
for name, vals in want.items():
    got = list(m[name][()])
    for g, w in zip(got, vals):
        assert (math.isnan(g) and math.isnan(w)) or g == w, (name, got, vals)
' run/metrics.h5
    expect_py "h5py holds the file open while the run appends; reopening sees the new row" '
import sys, subprocess, h5py
path, writer = sys.argv[1], sys.argv[2]
f = h5py.File(path, "r")
assert f["metrics/step"].shape == (3,)
r = subprocess.run([writer, path, "append", "40"], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
assert list(f["metrics/step"][()]) == [10, 20, 30]  # the open snapshot stays readable
f.close()
f = h5py.File(path, "r")
assert list(f["metrics/step"][()]) == [10, 20, 30, 40]
assert f["metrics/loss"][3] == 0.5 and f["metrics/eval/loss"].shape == (4,)
' run/metrics.h5 "$WRITER"
    if command -v h5dump >/dev/null; then
        run h5dump -d /metrics/rewards/chosen run/metrics.h5
        if [ "$rc" -eq 0 ] && grep -qi '0.01, 0.05, nan, nan' "$W/out"; then
            pass "h5dump reads /metrics/rewards/chosen"
        else fail "h5dump reads /metrics/rewards/chosen"; fi
    else
        echo "skip  h5dump not installed (Debian: hdf5-tools)"
    fi
}

# ---------------------------------------------------------------- metrics command
mode_cli() {
    mkdir -p run
    run "$WRITER" run/metrics.h5 small
    if [ "$rc" -eq 0 ]; then pass "writer: small table"; else fail "writer: small table"; fi
    cat >want.txt <<'EOF'
step   loss  rewards/chosen  eval/loss     lr
   1    0.5            0.25          -      -
   2  0.125               -      1e-07      -
   3      -               -          -  3e-05
EOF
    cat >want.csv <<'EOF'
step,loss,rewards/chosen,eval/loss,lr
1,0.5,0.25,,
2,0.125,,1e-07,
3,,,,3e-05
EOF
    expect_out "metrics FILE: aligned text table, '-' for missing" want.txt "$BIN" metrics run/metrics.h5
    expect_out "metrics RUN_DIR: same table" want.txt "$BIN" metrics run
    expect_out "metrics --csv: header and rows, empty fields for missing" want.csv \
        "$BIN" metrics --csv run/metrics.h5
    expect_out "metrics RUN_DIR --csv (options after the path)" want.csv "$BIN" metrics run --csv
    run "$WRITER" run/metrics.h5 dpo
    run "$BIN" metrics --csv run
    if [ "$rc" -eq 0 ] && [ "$(sed -n 3p "$W/out")" = "20,0.65,0.05,-0.06,0.625,0.11,-118,-133,1.25,9e-05,2100,0.66,0.6,0.09" ]; then
        pass "metrics --csv: values round-trip exactly"
    else fail "metrics --csv: values round-trip exactly"; fi
    run "$BIN" metrics --help
    if [ "$rc" -eq 0 ] && grep -q '^usage: prefopt-mpi metrics' "$W/out"; then pass "metrics --help"; else fail "metrics --help"; fi
    run "$BIN" --help
    if grep -q ' metrics ' "$W/out"; then pass "prefopt-mpi --help lists metrics"; else fail "prefopt-mpi --help lists metrics"; fi
    mkdir -p empty
    run "$BIN" metrics empty
    if [ "$rc" -eq 2 ] && grep -qx 'prefopt-mpi: error: empty/metrics.h5: no such file' "$W/err"; then
        pass "run folder without metrics.h5: exit 2 naming the file"
    else fail "run folder without metrics.h5: exit 2 naming the file (exit $rc)"; fi
    echo "not hdf5" >bad.h5
    run "$BIN" metrics bad.h5
    if [ "$rc" -eq 2 ] && grep -q '^prefopt-mpi: error: bad.h5: not an HDF5 file' "$W/err"; then
        pass "not an HDF5 file: exit 2"
    else fail "not an HDF5 file: exit 2 (exit $rc)"; fi
    run "$BIN" metrics --json run
    if [ "$rc" -eq 2 ] && grep -q 'unknown option' "$W/err"; then pass "unknown option: exit 2"; else fail "unknown option: exit 2"; fi
    run "$BIN" metrics
    if [ "$rc" -eq 2 ]; then pass "no argument: exit 2"; else fail "no argument: exit 2"; fi
}

# ---------------------------------------------------------------- plot_run.py
# is_png FILE: FILE starts with the PNG signature.
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

mode_plot() {
    if ! "$PY" -c 'import matplotlib, h5py' 2>/dev/null; then
        echo "metrics_plot: skipped: $PY lacks matplotlib or h5py (Debian: python3-matplotlib python3-h5py)"
        exit 77
    fi
    local plot="$SRC/scripts/plot_run.py"
    mkdir -p dpo sft empty
    "$WRITER" dpo/metrics.h5 dpo && "$WRITER" sft/metrics.h5 sft
    run "$PY" "$plot" dpo
    if [ "$rc" -eq 0 ] && is_png dpo/curves.png; then pass "plot_run.py RUN_DIR: RUN_DIR/curves.png"; else fail "plot_run.py RUN_DIR: RUN_DIR/curves.png (exit $rc)"; fi
    if grep -q 'loss' "$W/out" && grep -q 'accuracy' "$W/out" && grep -q 'eval/rewards/margins' "$W/out"; then
        pass "plot_run.py: DPO panels (loss, accuracy, eval/*) listed"
    else fail "plot_run.py: DPO panels listed"; cat "$W/out"; fi
    run "$PY" "$plot" sft --out "$W/sft.png"
    if [ "$rc" -eq 0 ] && is_png "$W/sft.png" && ! grep -q 'accuracy' "$W/out"; then
        pass "plot_run.py --out: SFT table, reward panels skipped"
    else fail "plot_run.py --out: SFT table, reward panels skipped (exit $rc)"; cat "$W/out"; fi
    run "$PY" "$plot" dpo/metrics.h5 --out "$W/direct.png"
    if [ "$rc" -eq 0 ] && is_png "$W/direct.png"; then pass "plot_run.py METRICS.h5"; else fail "plot_run.py METRICS.h5"; fi
    run "$PY" "$plot" empty
    if [ "$rc" -eq 2 ] && grep -q 'empty/metrics.h5' "$W/err"; then pass "plot_run.py: missing metrics.h5: exit 2"; else fail "plot_run.py: missing metrics.h5: exit 2 (exit $rc)"; fi
}

case "$MODE" in
h5py) mode_h5py ;;
cli) mode_cli ;;
plot) mode_plot ;;
*)
    echo "metrics_e2e.sh: unknown mode $MODE" >&2
    exit 2
    ;;
esac
finish "metrics_$MODE"

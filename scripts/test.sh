#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script):
#   1. install what is missing (scripts/install-deps.sh; nothing when all is present),
#   2. static checks: clang-format, cppcheck, shellcheck and the container recipes
#      (scripts/check-static.sh),
#   3. a short libFuzzer run of each parser harness (scripts/fuzz.sh),
#   4. build and run every test under AddressSanitizer + UndefinedBehaviorSanitizer
#      (except the Slurm test, label slurm: it exercises the job scripts, not the C code),
#   5. build Release and run every test, the Slurm test included (it starts a one-node
#      Slurm; PREFOPT_SKIP_SLURM=1 skips it); the output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

PREFOPT_WITH_SLURM=1 scripts/install-deps.sh   # Slurm and munge for the Slurm test

echo "== static checks"
scripts/check-static.sh
echo "== demo data is what its generator writes"
/usr/bin/python3 scripts/gen_demo_data.py --check

echo "== fuzzing: a short run of every libFuzzer harness (FUZZ_SECONDS, default 45)"
scripts/fuzz.sh "${FUZZ_SECONDS:-45}"

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPREFOPT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
# Open MPI and OpenBLAS keep a few process-lifetime allocations; suppress only those.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_odr_violation=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'mpi|slurm'
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ctest --test-dir build-asan --output-on-failure -L mpi

echo "== Release build and tests"
unset LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j"$jobs"

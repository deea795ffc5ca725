#!/usr/bin/env bash
# Builds every libFuzzer harness in build-fuzz/ with clang and runs each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [NAME...]     (default 60 s; default: every harness)
#
# The harness list is HARNESSES below, one line per harness:
#   NAME | harness source | library sources (globs) | extra link flags (optional)
# A harness NAME reads its seed corpus from tests/fuzz/corpus/NAME/ (never written to:
# new inputs go to build-fuzz/corpus/NAME/), uses tests/fuzz/NAME.dict when present,
# and writes crashes to build-fuzz/crashes/NAME/. Copy any crash input into
# tests/fuzz/regressions/NAME/: the fuzz_replay_NAME ctest replays that folder (and the
# corpus) on every test run. Exits 1 when a harness found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

HARNESSES=(
  "jsonl | tests/fuzz/fuzz_jsonl.c | src/data/*.c src/core/error.c |"
  "tokenizer | tests/fuzz/fuzz_tokenizer.c | src/text/*.c src/core/error.c src/io/fsutil.c | $(pkg-config --cflags --libs libcjson hdf5-serial) -lm"
  "graders | tests/fuzz/fuzz_graders.c | src/algo/graders*.c src/data/json_write.c src/core/error.c | $(pkg-config --cflags --libs libcjson) -lm"
)

secs=${1:-60}
shift || true
want=" $* "
CC=${CC:-clang}
CFLAGS="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc"
mkdir -p build-fuzz
status=0

for h in "${HARNESSES[@]}"; do
  IFS='|' read -r name src libs ldflags <<<"$h"
  name=$(echo $name)
  if [ "$want" != "  " ] && [[ "$want" != *" $name "* ]]; then
    continue
  fi
  bin=build-fuzz/fuzz_$name
  echo "fuzz: building $bin"
  # shellcheck disable=SC2086  # word splitting of the source globs and flags is intended
  $CC $CFLAGS $src $libs -o "$bin" $ldflags
  mkdir -p "build-fuzz/corpus/$name" "build-fuzz/crashes/$name" "tests/fuzz/corpus/$name"
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  echo "fuzz: running $name for ${secs}s"
  if ! "$bin" "build-fuzz/corpus/$name" "tests/fuzz/corpus/$name" "${dict[@]}" \
      -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/crashes/$name/" -print_final_stats=1 \
      >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FOUND A CRASH (build-fuzz/$name.log, build-fuzz/crashes/$name/)" >&2
    status=1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov: " "build-fuzz/$name.log" |
    tail -3 | sed "s/^/fuzz: $name: /"
done
exit $status

#!/usr/bin/env bash
# Static checks run by CI: clang-format (no diff allowed) and cppcheck on src/,
# the job scripts through shellcheck, and the container recipes (scripts/check-containers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    echo "format: $f differs from clang-format (run: clang-format -i $f)" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || exit 1
echo "clang-format: $(echo "$files" | wc -w) files clean"

cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
  --std=c11 --inline-suppr -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L \
  --suppress=missingIncludeSystem src
echo "cppcheck: src/ clean"

# The cluster-operations shell scripts through shellcheck (job scripts, the Slurm test
# and its cluster, the container check); add scripts here as they are made clean.
shell_files=(jobs/slurm/train.sbatch jobs/repro-study jobs/slurm/examples/*.sh
  tests/e2e/slurm_cluster.sh tests/e2e/slurm_e2e.sh scripts/check-containers.sh)
shellcheck -x -P SCRIPTDIR "${shell_files[@]}"
echo "shellcheck: ${#shell_files[@]} scripts clean"

# The container recipes (docker/) against scripts/install-deps.sh, and their rules.
scripts/check-containers.sh

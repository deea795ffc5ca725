#!/usr/bin/env bash
# Static checks run by CI: clang-format (no diff allowed) and cppcheck on src/.
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

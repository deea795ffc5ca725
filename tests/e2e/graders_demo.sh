#!/usr/bin/env bash
# graders_demo.sh TEST_GRADERS: the demo style checks against the generator's reference
# at training scale. Checks that tests/data/graders/demo_reference.jsonl is current
# (gen_reference.py --check), then writes the reference for dpo_train and prompts_train
# (3,200 pairs) to a temporary file and runs the test_graders executable on it
# (PF_GRADERS_REFERENCE). Needs only Python's standard library; exits 77 (skip) without
# a Python 3.
set -euo pipefail
bin=$1
src=${PREFOPT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${PREFOPT_PYTHON:-/usr/bin/python3}
command -v "$py" >/dev/null || { echo "graders_demo: no $py, skipping"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$src/tests/data/graders/gen_reference.py" --check
"$py" "$src/tests/data/graders/gen_reference.py" --files dpo_train,prompts_train \
  --out "$tmp/reference_train.jsonl"
PF_GRADERS_REFERENCE="$tmp/reference_train.jsonl" "$bin" | tee "$tmp/log"
grep -q "dpo_train: 2200 pairs" "$tmp/log"
grep -q "prompts_train: 1000 pairs" "$tmp/log"
echo "graders_demo: ok"

#!/usr/bin/env bash
# The main job (README's first command): installs what is missing, builds Release, then
# runs a model smoke run end to end:
#   init a random GPT-2 checkpoint -> inspect it -> per-token log-probs of a few
#   sequences -> one timed DPO-shaped training step at the tiny benchmark shape.
# Outputs go to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
out=runs/demo
mkdir -p "$out"

echo "== init: random GPT-2 from jobs/configs/tiny-model.json"
build/prefopt-mpi init --config jobs/configs/tiny-model.json --out "$out/init.h5"
echo "== inspect"
build/prefopt-mpi inspect "$out/init.h5" | tail -n 6
echo "== logprobs of three sequences"
cat > "$out/ids.jsonl" <<'IDS'
{"ids": [1, 2, 3, 4, 5, 6, 7, 8], "start": 4}
{"ids": [10, 20, 30, 40], "start": 1}
{"ids": [100, 200, 300, 400, 500, 7], "start": 5}
IDS
build/prefopt-mpi logprobs --checkpoint "$out/init.h5" --tokens "$out/ids.jsonl"
echo "== one DPO-shaped step (reference forward, policy forward+backward, AdamW), tiny shape"
build/bench_step --shape tiny --steps 3 --warmup 1

#!/usr/bin/env python3
"""bench/run.py: the DPO-step benchmark side by side with PyTorch, as a table.

For each shape (tiny, small, gpt2-124M) it runs build/bench_step (C) and
bench/torch_dpo_step.py (PyTorch 1.13 on the same OpenBLAS) with the same thread count,
one after the other, and prints a Markdown table: tokens/s, GFLOP/s, % of the measured
single-core sgemm peak, peak RSS against the memory the step needs, and the C/PyTorch
throughput ratio. Both sides count FLOPs with the same formula (bench_step.c step_flops).

usage: /usr/bin/python3 bench/run.py [--shapes tiny,small,gpt2-124M] [--threads 1]
                                     [--steps N] [--build build]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = {"tiny": 5, "small": 3, "gpt2-124M": 2}


def run_json(cmd, env):
    """Runs cmd and returns its last stdout line parsed as JSON."""
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="tiny,small,gpt2-124M")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (0: per-shape default)")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    args = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    bench = os.path.join(args.build, "bench", "bench_step")
    peak = run_json([bench, "--peak"], env)["sgemm_peak_gflop_per_s"] * args.threads
    rows = []
    for shape in args.shapes.split(","):
        steps = str(args.steps or STEPS[shape])
        c = run_json([bench, "--shape", shape, "--steps", steps, "--warmup", "1"], env)
        t = run_json([sys.executable, os.path.join(HERE, "torch_dpo_step.py"), "--shape", shape,
                      "--threads", str(args.threads), "--steps", steps, "--warmup", "1"], env)
        rows.append((shape, c, t))
    print(f"sgemm peak ({args.threads} thread(s)): {peak:.1f} GFLOP/s\n")
    print("| shape | prefopt tokens/s | PyTorch tokens/s | ratio | prefopt GFLOP/s (% peak) "
          "| PyTorch GFLOP/s (% peak) | prefopt RSS / needed (MB) | PyTorch RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for shape, c, t in rows:
        ratio = c["tokens_per_s"] / t["tokens_per_s"]
        print(f"| {shape} | {c['tokens_per_s']:.0f} | {t['tokens_per_s']:.0f} | {ratio:.2f}x "
              f"| {c['gflop_per_s']:.1f} ({100 * c['gflop_per_s'] / peak:.0f}%) "
              f"| {t['gflop_per_s']:.1f} ({100 * t['gflop_per_s'] / peak:.0f}%) "
              f"| {c['peak_rss_mb']:.0f} / {c['needed_mb']:.0f} ({c['peak_rss_mb'] / c['needed_mb']:.2f}x) "
              f"| {t['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()

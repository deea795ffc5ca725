#!/usr/bin/python3
"""Compare trained policies (e.g. DPO, PPO, GRPO runs from one SFT model) by grader score
against KL to the reference.

Usage:
  /usr/bin/python3 scripts/compare_methods.py --reference SFT_RUN --prompts PROMPTS.jsonl \\
      --graders GRADERS.json --grader NAME [--temperature T] [--seed S] \\
      [--max-new-tokens N] [--batch N] [--format F] [--ranks K] [--mpirun CMD] \\
      [--bin build/prefopt-mpi] [--json OUT.json] [--work DIR] [--score training|applicable] \\
      NAME=RUN_DIR [NAME=RUN_DIR ...]

For the reference and then every NAME=RUN_DIR (a run folder or a checkpoint file), runs

  prefopt-mpi generate --checkpoint RUN --reference REF --data PROMPTS --temperature T
                       --seed S --max-new-tokens N --out WORK/K.jsonl

(under `MPICMD -n K` when --ranks K > 1; the environment is passed through), which
samples one completion per prompt and gives each its sequence KL estimate to the
reference (k1: log pi - log pi_ref summed over the generated tokens, stop token included,
with logits / T: what PPO logs as objective/kl), then grades the completions with

  prefopt-mpi eval --generations WORK/K.jsonl --checks GRADERS --checkpoint RUN
                   --out WORK/K.report.json

and prints a Markdown table, one row per method, the reference first:

  method | mean score | mean KL to reference (nats/sequence) | score gain per nat of KL
         | mean length (generated tokens)

Score: with --score training (the default) the grader's score averaged over EVERY
completion, a completion the grader does not apply to counting 0, as the ppo / grpo
reward does (= mean_score * applicable / n_samples of the eval report); with --score
applicable the report's mean_score (over the completions it applies to only).
Gain per nat = (score - reference score) / mean KL; it is left empty ("-", null in JSON)
when the mean KL is <= 0 (the reference itself; or a k1 estimate that came out
non-positive on few prompts, where the ratio means nothing). The same seed is used for
every method, so the reference row's KL is exactly 0.

--work DIR keeps WORK/00.jsonl and 00.report.json (the reference), 01.* (the first
method)...; by default they go to a temporary folder, removed at the end.
--json OUT writes {"settings": {...}, "rows": [{"method", "run", "score",
"score_applicable", "applicable", "n", "kl", "gain_per_nat", "mean_length"}]}.
Standard library only.  Exit codes: 0 ok, 1 a prefopt-mpi command failed, 2 usage error
(bad NAME=RUN_DIR, unknown grader, missing file).
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

REFERENCE_NAME = "reference"


def die(code, message):
    """Prints one error line and exits with code."""
    print("compare_methods: error: " + message, file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    """The command line, with the NAME=RUN_DIR entries split and checked."""
    p = argparse.ArgumentParser(
        description="Score vs KL-to-reference table of several runs (see the module doc).")
    p.add_argument("--reference", required=True, help="reference checkpoint or run folder (SFT)")
    p.add_argument("--prompts", required=True, help="prompts file for generate --data")
    p.add_argument("--graders", required=True, help="grader file (docs/graders.md)")
    p.add_argument("--grader", required=True, help="name of the grader whose score is compared")
    p.add_argument("--temperature", default="0.7")
    p.add_argument("--seed", default="1234")
    p.add_argument("--max-new-tokens", default="64")
    p.add_argument("--batch", default=None, help="generate --batch (default: generate's)")
    p.add_argument("--format", default=None, help="generate --format (default: prompts)")
    p.add_argument("--ranks", type=int, default=1, help="run generate under MPICMD -n K")
    p.add_argument("--mpirun", default="mpirun", help="MPI launcher command (default: mpirun)")
    p.add_argument("--bin", default="build/prefopt-mpi", help="prefopt-mpi binary")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--work", default=None, help="keep generations and reports in this folder")
    p.add_argument("--score", choices=("training", "applicable"), default="training")
    p.add_argument("methods", nargs="+", metavar="NAME=RUN_DIR")
    a = p.parse_args(argv)
    if a.ranks < 1:
        die(2, "--ranks: must be >= 1, got %d" % a.ranks)
    for opt, path in (("--prompts", a.prompts), ("--graders", a.graders)):
        if not os.path.exists(path):
            die(2, "%s %s: no such file" % (opt, path))
    if not os.path.exists(a.bin) and not shutil.which(a.bin):
        die(2, "--bin %s: no such file (build first, or pass --bin)" % a.bin)
    a.entries = [(REFERENCE_NAME, a.reference)]
    for m in a.methods:
        name, sep, run = m.partition("=")
        if not sep or not name or not run:
            die(2, "%s: expected NAME=RUN_DIR" % m)
        if any(name == n for n, _ in a.entries):
            die(2, "%s: method name %s is used twice (%s is the reference's row)"
                % (m, name, REFERENCE_NAME))
        a.entries.append((name, run))
    return a


def run_cmd(cmd, what):
    """Runs cmd (stdout captured); exits 1 naming what when it fails."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        die(1, "%s: `%s` exited with %d" % (what, " ".join(shlex.quote(c) for c in cmd),
                                             r.returncode))
    return r.stdout


def generate(a, name, run, out):
    """Samples the completions of one method with their KL to the reference."""
    cmd = [a.bin, "generate", "--checkpoint", run, "--reference", a.reference,
           "--data", a.prompts, "--temperature", a.temperature, "--seed", a.seed,
           "--max-new-tokens", a.max_new_tokens, "--out", out]
    if a.batch:
        cmd += ["--batch", a.batch]
    if a.format:
        cmd += ["--format", a.format]
    if a.ranks > 1:
        cmd = shlex.split(a.mpirun) + ["-n", str(a.ranks)] + cmd
    run_cmd(cmd, "%s (%s): generate" % (name, run))
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def grade(a, name, run, gens, report):
    """Grades the completions; returns the named grader's entry of the eval report."""
    run_cmd([a.bin, "eval", "--generations", gens, "--checks", a.graders,
             "--checkpoint", run, "--out", report], "%s (%s): eval" % (name, run))
    with open(report) as f:
        rep = json.load(f)
    checks = rep.get("checks", {})
    if a.grader not in checks:
        die(2, "--grader %s: not in %s (graders: %s)"
            % (a.grader, a.graders, ", ".join(sorted(checks)) or "none"))
    return rep["n_samples"], checks[a.grader]


def method_row(a, work, k, name, run):
    """Generates, grades and summarises method k (files WORK/k.jsonl, k.report.json)."""
    gens = os.path.join(work, "%02d.jsonl" % k)
    lines = generate(a, name, run, gens)
    if not lines:
        die(2, "--prompts %s: no prompts" % a.prompts)
    n, check = grade(a, name, run, gens, os.path.join(work, "%02d.report.json" % k))
    applicable = check["applicable"]
    score_app = check["mean_score"]
    score_all = score_app * applicable / n if n else 0.0
    return {
        "method": name,
        "run": run,
        "score": score_all if a.score == "training" else score_app,
        "score_applicable": score_app,
        "applicable": applicable,
        "n": n,
        "kl": sum(r["kl"] for r in lines) / len(lines),
        "mean_length": sum(r["n_tokens"] for r in lines) / len(lines),
    }


def add_gains(rows):
    """(score - reference score) / KL per row, None when KL <= 0."""
    ref = rows[0]["score"]
    for r in rows:
        r["gain_per_nat"] = (r["score"] - ref) / r["kl"] if r["kl"] > 0 else None


def table(rows):
    """The Markdown table of the rows."""
    out = ["| method | mean score | mean KL to reference (nats/seq) | "
           "score gain per nat of KL | mean length |",
           "|---|---:|---:|---:|---:|"]
    for r in rows:
        gain = "-" if r["gain_per_nat"] is None else "%.4f" % r["gain_per_nat"]
        out.append("| %s | %.4f | %.4f | %s | %.2f |"
                   % (r["method"], r["score"], r["kl"], gain, r["mean_length"]))
    return "\n".join(out)


def main(argv):
    a = parse_args(argv)
    tmp = None
    if a.work:
        os.makedirs(a.work, exist_ok=True)
        work = a.work
    else:
        tmp = tempfile.TemporaryDirectory(prefix="compare_methods.")
        work = tmp.name
    rows = [method_row(a, work, k, name, run) for k, (name, run) in enumerate(a.entries)]
    add_gains(rows)
    print(table(rows))
    if a.json:
        settings = {k: getattr(a, k) for k in ("reference", "prompts", "graders", "grader",
                                               "temperature", "seed", "max_new_tokens",
                                               "ranks", "score")}
        with open(a.json, "w") as f:
            json.dump({"settings": settings, "rows": rows}, f, indent=2)
            f.write("\n")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

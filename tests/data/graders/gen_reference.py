#!/usr/bin/python3
"""Reference scores of the demo style checks, for the C graders' end-to-end test.

The demo files do not carry everything one check run needs: dpo_*.jsonl rows have the
outputs but not the item fields the checks read (expected_policy, max_words, ...), and
prompts_*.jsonl rows have the item fields but no outputs. Both are written by
scripts/gen_demo_data.py from the same in-memory examples, so this script replays the
generator's build plan (same seeds, same draw order, hence the very same examples) and
writes, per held-out example of dpo_heldout and prompts_heldout, one JSON line:

  {"file", "id", "reason", "system", "user", "item", "preferred", "rejected",
   "scores": {"preferred": {CHECK: score or null}, "rejected": {...}}}

where scores come from the generator's own grade() (its Python implementation of
style_checks.json is the reference) and null means "not applicable". The C test pairs
each line with its data row by id, asserts that the prompt text is identical (so a
changed generator is caught, not silently mis-paired), takes the outputs from the dpo
file and the item fields from the prompts file, and compares every check's score.

Usage:
  /usr/bin/python3 tests/data/graders/gen_reference.py [--files F,...] [--out FILE]
  /usr/bin/python3 tests/data/graders/gen_reference.py --check   # exit 1 if stale

Default files: dpo_heldout,prompts_heldout; default output: demo_reference.jsonl next to
this script. Training files (dpo_train, prompts_train) work too, for a larger run.
"""

import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_OUT = os.path.join(HERE, "demo_reference.jsonl")


def load_generator():
    path = os.path.join(ROOT, "scripts", "gen_demo_data.py")
    spec = importlib.util.spec_from_file_location("gen_demo_data", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def examples_by_file(g):
    """The generator's build plan, replayed: every file's examples in file order."""
    b = g.Builder()
    plan = [("dpo_heldout", "heldout", 101), ("sft_heldout", "heldout", 102),
            ("prompts_heldout", "heldout", 103), ("dpo_train", "train", 201),
            ("sft_train", "train", 202), ("prompts_train", "train", 203)]
    return {f: b.examples(f, split, g.COUNTS[f], g.SEED * 1000 + s) for f, split, s in plan}


def reference_lines(g, files):
    exs = examples_by_file(g)
    out = []
    for fname in files:
        tag = fname.replace("_", "-")
        for i, ex in enumerate(exs[fname]):
            row = {"file": fname, "id": "%s-%05d" % (tag, i + 1), "reason": ex["reason"],
                   "system": ex["system"], "user": ex["user"], "item": ex["item"],
                   "preferred": ex["preferred"], "rejected": ex["rejected"],
                   "scores": {"preferred": g.grade(ex["item"], ex["preferred"]),
                              "rejected": g.grade(ex["item"], ex["rejected"])}}
            out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", default="dpo_heldout,prompts_heldout")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 when --out is stale")
    a = ap.parse_args()
    g = load_generator()
    text = reference_lines(g, a.files.split(","))
    if a.check:
        with open(a.out, encoding="utf-8") as f:
            same = f.read() == text
        if not same:
            print("%s is stale: rerun %s" % (a.out, sys.argv[0]), file=sys.stderr)
        return 0 if same else 1
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

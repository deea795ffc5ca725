#!/usr/bin/python3
"""Draw a prefopt-mpi run's training curves (RUN_DIR/metrics.h5) into one PNG.

Usage:
  /usr/bin/python3 scripts/plot_run.py RUN_DIR [--out FILE.png]
  /usr/bin/python3 scripts/plot_run.py RUN_DIR/metrics.h5 [--out FILE.png]

One subplot per panel below, drawn only when the run logged at least one of its
metrics (an SFT run has no reward panels), then one subplot per remaining eval/*
metric.  Training metrics are solid lines, eval/* dashed with markers.  NaN values
(a metric not logged at that step, e.g. eval/* between evaluations) are skipped, so
sparse series still draw as lines.  The default output is RUN_DIR/curves.png.
The file may be plotted while the run goes on: the trainer replaces metrics.h5
atomically at each log interval.

Needs h5py, NumPy and matplotlib (Debian: python3-h5py python3-matplotlib; the Agg
backend, no display).  Exit codes: 0 ok, 1 missing Python package or write failure,
2 missing or invalid metrics file.
"""

import argparse
import importlib.util
import math
import os
import sys

# (panel title, y label, metrics drawn in it) in drawing order.
PANELS = [
    ("loss", "loss", ["loss", "eval/loss"]),
    ("accuracy", "share of pairs", ["rewards/accuracies", "eval/rewards/accuracies"]),
    ("reward margin", "chosen - rejected", ["rewards/margins", "eval/rewards/margins"]),
    ("rewards", "implied reward",
     ["rewards/chosen", "rewards/rejected", "eval/rewards/chosen", "eval/rewards/rejected"]),
    ("log-probabilities", "log p",
     ["logps/chosen", "logps/rejected", "eval/logps/chosen", "eval/logps/rejected"]),
    ("learning rate", "lr", ["lr"]),
    ("gradient norm", "global L2 norm", ["grad_norm"]),
    ("KL to reference", "KL", ["objective/kl"]),
    ("PPO reward", "reward", ["objective/rlhf_reward", "objective/scores"]),
]


def fail(code, message):
    """Prints 'plot_run.py: error: MESSAGE' on stderr and exits with code."""
    print(f"plot_run.py: error: {message}", file=sys.stderr)
    sys.exit(code)


def metrics_path(arg):
    """The metrics file for arg: arg itself, or arg/metrics.h5 for a run folder."""
    return os.path.join(arg, "metrics.h5") if os.path.isdir(arg) else arg


def load(path):
    """Returns (steps, {name: values}, names in creation order) from metrics.h5."""
    import h5py
    import numpy as np

    if not os.path.isfile(path):
        fail(2, f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            group = f["metrics"]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in group.attrs["columns"]]
            steps = np.asarray(group["step"][()], dtype=np.int64)
            data = {n: np.asarray(group[n][()], dtype=np.float64) for n in names}
    except (OSError, KeyError) as exc:
        fail(2, f"{path}: not a prefopt-mpi metrics file ({exc})")
    return steps, data, names


def has_values(values):
    """Whether a series holds at least one logged (non-NaN) value."""
    return any(not math.isnan(v) for v in values)


def plan_panels(data, names):
    """The panels to draw: [(title, ylabel, [metric...])], absent metrics dropped."""
    present = [n for n in names if has_values(data[n])]
    panels, used = [], set()
    for title, ylabel, wanted in PANELS:
        found = [n for n in wanted if n in present]
        if found:
            panels.append((title, ylabel, found))
            used.update(found)
    for n in present:
        if n.startswith("eval/") and n not in used:
            panels.append((n, n.split("/")[-1], [n]))
    return panels


def draw_series(ax, steps, name, values):
    """Draws one metric without its NaN rows; eval/* dashed with markers."""
    import numpy as np

    keep = ~np.isnan(values)
    x, y = steps[keep], values[keep]
    is_eval = name.startswith("eval/")
    ax.plot(x, y, linestyle="--" if is_eval else "-",
            marker="o" if is_eval or len(x) < 2 else None, markersize=3, label=name)


def draw(path, out, steps, data, panels):
    """Draws the panels in a grid of two columns and saves the figure to out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 if len(panels) == 1 else 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, ylabel, metrics) in zip(axes.flat, panels):
        for name in metrics:
            draw_series(ax, steps, name, data[name])
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if title == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        if len(metrics) > 1:
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    run = os.path.basename(os.path.dirname(os.path.abspath(path)))
    fig.suptitle(f"{run}: {len(steps)} rows, last step {steps[-1]}")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except OSError as exc:
        fail(1, f"{out}: cannot write: {exc}")
    plt.close(fig)


def main():
    """Parses the command line, loads the table and writes the PNG."""
    parser = argparse.ArgumentParser(
        description="Draw a prefopt-mpi run's curves (metrics.h5) into one PNG.")
    parser.add_argument("run", metavar="RUN_DIR", help="run folder or its metrics.h5")
    parser.add_argument("--out", metavar="FILE.png",
                        help="output image (default: RUN_DIR/curves.png)")
    args = parser.parse_args()
    for module in ("h5py", "matplotlib", "numpy"):
        if importlib.util.find_spec(module) is None:
            fail(1, f"Python module {module} is not installed "
                    "(Debian: python3-h5py python3-matplotlib python3-numpy)")
    path = metrics_path(args.run)
    out = args.out or os.path.join(os.path.dirname(path) or ".", "curves.png")
    steps, data, names = load(path)
    if len(steps) == 0:
        fail(2, f"{path}: no rows logged yet")
    panels = plan_panels(data, names)
    if not panels:
        fail(2, f"{path}: no metric has a value")
    draw(path, out, steps, data, panels)
    for title, _, metrics in panels:
        print(f"{title}: {', '.join(metrics)}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Charts of `muxbench trend --json` output: one chart per cell, one panel
per metric, the value at each results file (oldest left), the segments'
means between change points as steps, and each change point marked with a
vertical line labelled with its commit (red: a regression, green: an
improvement).

  /usr/bin/python3 -m muxbench_plots.trend TREND.json --out DIR

`muxbench trend --chart DIR` runs it. Exit status: 0 done, 2 bad input.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REGRESSION, IMPROVEMENT, POINTS = "#c0392b", "#27ae60", "#2c3e50"


def load(path):
    """The trend document; InputError-like ValueError naming the field."""
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("tool") != "muxbench trend":
        raise ValueError(f"{path}: tool: not 'muxbench trend' output")
    for i, s in enumerate(doc.get("series", [])):
        for k in ("cell", "metric", "file", "value", "change_points"):
            if k not in s:
                raise ValueError(f"{path}: series[{i}].{k}: missing")
        if len(s["file"]) != len(s["value"]):
            raise ValueError(f"{path}: series[{i}]: file and value differ in length")
    return doc


def segments(series):
    """(x_from, x_to, mean) of each level between change points."""
    xs, vs = series["file"], series["value"]
    cuts = sorted(xs.index(c["file"]) for c in series["change_points"])
    bounds = [0] + cuts + [len(xs)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        if b > a:
            out.append((xs[a], xs[b - 1], sum(vs[a:b]) / (b - a)))
    return out


def chart(cell, series_list, files, outdir):
    """One figure for a cell; returns the file written."""
    fig, axes = plt.subplots(len(series_list), 1, figsize=(8, 2.4 * len(series_list)),
                             sharex=True, squeeze=False)
    for ax, s in zip(axes[:, 0], series_list):
        ax.plot(s["file"], s["value"], "o-", color=POINTS, lw=0.8, ms=3, label=s["metric"])
        for x0, x1, mean in segments(s):
            ax.hlines(mean, x0 - 0.4, x1 + 0.4, color="#7f8c8d", lw=2, alpha=0.7)
        for c in s["change_points"]:
            colour = REGRESSION if c.get("regression") else IMPROVEMENT
            ax.axvline(c["file"] - 0.5, color=colour, ls="--", lw=1.2)
            commit = (c.get("git_commit") or "?")[:10]
            ax.annotate(f"{commit} {c['change_pct']:+.1f}%", (c["file"] - 0.5, 1.0),
                        xycoords=("data", "axes fraction"), va="top", ha="left",
                        fontsize=7, color=colour, rotation=90)
        ax.set_ylabel(s["metric"])
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("results file (oldest left)")
    axes[-1, 0].set_xticks(range(len(files)))
    axes[-1, 0].set_xticklabels([(f.get("git_commit") or "?")[:7] for f in files], rotation=90,
                                fontsize=7)
    fig.suptitle(f"{cell}: trend with change points", fontsize=10)
    fig.tight_layout()
    name = "trend-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", cell) + ".png"
    fig.savefig(Path(outdir) / name, dpi=100)
    plt.close(fig)
    return name


def draw(doc, outdir):
    Path(outdir).mkdir(parents=True, exist_ok=True)
    by_cell = {}
    for s in doc["series"]:
        by_cell.setdefault(s["cell"], []).append(s)
    return [chart(cell, ss, doc["files"], outdir) for cell, ss in by_cell.items()]


def main(argv=None):
    p = argparse.ArgumentParser(prog="muxbench_plots.trend")
    p.add_argument("trend", help="muxbench trend --json output")
    p.add_argument("--out", required=True, help="output directory")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        doc = load(a.trend)
    except (OSError, ValueError) as e:
        print(f"muxbench_plots.trend: {e}", file=sys.stderr)
        return 2
    names = draw(doc, a.out)
    print(f"{len(names)} trend charts in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

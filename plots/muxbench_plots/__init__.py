"""muxbench_plots: charts and a static HTML report from muxbench results.

Run as `scripts/plot.sh RESULTS.json [...]` (or `/usr/bin/python3 -m
muxbench_plots` with plots/ on PYTHONPATH). docs/plots.md describes every chart.
"""

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

__all__ = ["aggregate", "charts", "cli", "inputs", "report", "spectrum", "style"]

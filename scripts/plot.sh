#!/usr/bin/env bash
# Charts and a static HTML report from a muxbench results file.
#   scripts/plot.sh RESULTS.json [--micro MICRO.json] [--compare COMPARE.json]
#                   [--out DIR] [--format png|svg] [--cells ID,...]
# Writes plots/out/<results file stem>/ (or --out DIR): the charts and index.html.
# Needs Debian's python3-matplotlib (scripts/deps.sh lists it); installs nothing.
# Exit status: 0 done, 2 bad input or usage (one line on stderr), 1 output not writable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian's interpreter: the python3 first on PATH may be a build that cannot
# see python3-matplotlib.
python="${MUXBENCH_PYTHON:-/usr/bin/python3}"
export PYTHONPATH="$root/plots${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
exec "$python" -m muxbench_plots "$@"

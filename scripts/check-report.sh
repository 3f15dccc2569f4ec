#!/usr/bin/env bash
# Checks that a report written by scripts/plot.sh renders.
#   scripts/check-report.sh DIR|DIR/index.html [SCREENSHOT.png]
# 1. Static checks, always: every image the page shows exists and is a
#    PNG/SVG at a relative path; nothing is loaded from the network.
# 2. If /usr/bin/chromium exists (MUXBENCH_CHROMIUM overrides the path):
#    renders the page headless to a PNG (SCREENSHOT.png, default a temporary
#    file) and checks the PNG is non-trivial (not blank, not an error page).
#    Without Chromium this step is skipped and says so; nothing is installed.
# Exit status: 0 passed (or render skipped), 1 a check failed, 2 usage.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${MUXBENCH_PYTHON:-/usr/bin/python3}"
export PYTHONPATH="$root/plots${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: scripts/check-report.sh DIR|DIR/index.html [SCREENSHOT.png]" >&2
  exit 2
fi
report="$1"
if [ -d "$report" ]; then report="$report/index.html"; fi
if [ ! -f "$report" ]; then
  echo "check-report: '$report' does not exist" >&2
  exit 1
fi
report="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"

"$python" -m muxbench_plots.check static "$report"
echo "check-report: static checks passed ($report)"

chromium="${MUXBENCH_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "check-report: render check SKIPPED: $chromium is not installed"
  exit 0
fi

uri="$("$python" -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).as_uri())' "$report")"
shot="${2:-}"
if [ -z "$shot" ]; then
  shot="$(mktemp -d)/screenshot.png"
fi
rm -f "$shot"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# A tall window so the screenshot reaches past the summary tables into the
# charts; the virtual time budget lets every image load before the shot.
if ! timeout 120 "$chromium" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1280,4000 --virtual-time-budget=10000 \
    --screenshot="$shot" "$uri" >"$profile/chromium.log" 2>&1; then
  echo "check-report: chromium failed; its output:" >&2
  tail -n 20 "$profile/chromium.log" >&2
  exit 1
fi
"$python" -m muxbench_plots.check screenshot "$shot"
echo "check-report: render check passed (screenshot: $shot)"

"""The command: results (+ micro, + compare) -> charts + index.html.

Exit status: 0 done; 2 bad input or usage (one line on stderr naming the
problem); 1 the output could not be written.
"""

import argparse
import sys
from pathlib import Path

from . import charts as ch
from . import registry, report
from .aggregate import group_cells
from .inputs import InputError, load_compare, load_micro, load_results, select_cells

DEFAULT_OUT_ROOT = Path(__file__).resolve().parent.parent / "out"   # plots/out


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own format, but one line and exit status 2 like any bad input.
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parse_args(argv):
    p = _Parser(prog="plot.sh",
                description="Charts and a static HTML report from a muxbench results file.")
    p.add_argument("results", metavar="RESULTS.json", help="written by `muxbench run`")
    p.add_argument("--micro", metavar="MICRO.json",
                   help="Google Benchmark --benchmark_format=json output of micro/")
    p.add_argument("--compare", metavar="COMPARE.json", help="`muxbench compare --json` output")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (default: plots/out/<results file stem>/)")
    p.add_argument("--format", choices=("png", "svg"), default="png", help="chart format")
    p.add_argument("--cells", metavar="ID,...",
                   help="cells for the latency spectrum chart instead of the default choice; "
                        "an id without '/rN' means its first repetition with a histogram")
    return p.parse_args(argv)


def build(results, micro=None, compare=None, cells_spec=None):
    """All charts (unsaved) and the notes about what was not charted."""
    groups = group_cells(results.cells)
    charts, notes = [], []
    for g in groups:
        # For a workload that keeps connections idle, the C10K chart
        # (requests/s versus idle connections) is the throughput chart.
        if registry.keeps_idle(g.workload):
            charts.append(ch.c10k_chart(results, g))
        else:
            charts.append(ch.throughput_chart(results, g))
        charts.append(ch.latency_chart(results, g))
        charts.append(ch.cost_chart(results, g))
    if cells_spec:
        chosen = select_cells(results, cells_spec)
        picks = [("spectrum-selected", "Latency spectrum: selected cells", chosen, [])]
    else:
        picks = ch.default_spectrum_cells(results)
    for name, title, cells, why in picks:
        if cells:
            charts.append(ch.spectrum_chart(results, name, title, cells, why))
        else:
            notes.extend(f"{title}: {w}" for w in why)
    if micro is not None:
        mcharts, mnotes = ch.micro_charts(micro, results)
        charts.extend(mcharts)
        notes.extend(mnotes)
    if compare is not None:
        charts.extend(ch.compare_charts(compare, results))
    return groups, charts, notes


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        results = load_results(args.results)
        micro = load_micro(args.micro) if args.micro else None
        compare = load_compare(args.compare) if args.compare else None
        groups, charts, notes = build(results, micro, compare, args.cells)
    except InputError as e:
        print(f"plot: {e}", file=sys.stderr)
        return 2
    stem = Path(args.results).name
    stem = stem[:-5] if stem.endswith(".json") else stem
    out = Path(args.out) if args.out else DEFAULT_OUT_ROOT / stem
    try:
        out.mkdir(parents=True, exist_ok=True)
        for chart in charts:
            ch.save(chart, out, args.format)
        page = report.render(results, groups, charts, micro, compare, notes,
                             title=f"muxbench results: {stem}")
        (out / "index.html").write_text(page, encoding="utf-8")
    except OSError as e:
        print(f"plot: cannot write to '{out}': {e.strerror or e}", file=sys.stderr)
        return 1
    failed = sum(c.status != "ok" for c in results.cells)
    print(f"plot: {len(charts)} charts, {len(results.cells)} cells ({failed} not ok) -> "
          f"{out / 'index.html'}")
    return 0

"""The charts. Every builder returns a Chart holding the matplotlib Figure,
its panels (Axes) and exactly the series and marks it drew, so tests can
check the drawn data against the input and the report can list what could
not be drawn.

Conventions shared by all charts:
- one line per strategy, styled by style.strategy_style (same look everywhere);
- a point is the median over repetitions; error bars span min..max when a
  point has more than one repetition;
- failed / skipped cells (and ok cells that lack the metric) are drawn as
  markers at the axis edge (x = failed, open circle = skipped, open diamond =
  no data) in the strategy's colour: never silently dropped;
- a letter over a point says which side limited it (S server-bound, C
  client-bound, SC both; none for neither), from the cells' `bound` metric;
- a point where an open-loop cell missed its target rate (status
  rate_not_met) is drawn with its value but a hollow marker (white face),
  and the legend says what hollow means: the number is what got through,
  not the strategy at the rate asked;
- a footer states the conditions (machine, kernel, message size, pinning,
  duration, repetitions).
"""

import math
import textwrap
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator,
                               MultipleLocator, NullFormatter, NullLocator)
from matplotlib.transforms import blended_transform_factory

from . import spectrum as spec
from . import registry, style
from .aggregate import Mark, Series, build_series, median, slugify
from .inputs import histogram_buckets, number

PANEL_W, PANEL_H, LEGEND_W = 4.8, 3.9, 1.9

MARK_STYLE = {
    "failed": {"marker": "x", "markersize": 9, "markeredgewidth": 2.2},
    "skipped": {"marker": "o", "markersize": 8, "markeredgewidth": 1.8, "fillstyle": "none"},
    "no data": {"marker": "D", "markersize": 7, "markeredgewidth": 1.6, "fillstyle": "none"},
}
MARK_LEGEND = {"failed": "failed (reason in report)", "skipped": "skipped (reason in report)",
               "no data": "not measured"}
RATE_MISSED_STYLE = {"markersize": 8, "markerfacecolor": "white", "markeredgewidth": 1.6}
RATE_MISSED_LEGEND = "hollow: target rate not met"


@dataclass
class Chart:
    name: str            # file stem, e.g. "throughput-pingpong"
    section: str         # report section: throughput, latency, c10k, cost, spectrum, micro, compare
    title: str
    caption: str         # how to read it (shown under the image in the report)
    fig: Figure
    panels: dict         # panel key -> Axes
    series: dict         # panel key -> [Series]
    marks: dict          # panel key -> [Mark]
    footer: str
    notes: list = field(default_factory=list)   # what was not drawn and why
    file: str | None = None                     # set by save()

    def lines(self, panel):
        """The Line2D objects of the strategy lines in a panel, by label."""
        ax = self.panels[panel]
        return {ln.get_gid()[len("series:"):]: ln for ln in ax.get_lines()
                if (ln.get_gid() or "").startswith("series:")}

    def mark_lines(self, panel):
        ax = self.panels[panel]
        return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("mark:")]


# --- conditions footer --------------------------------------------------------

def _uniq(values):
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _span(values, fmt):
    vals = [v for v in _uniq(values) if v is not None]
    if not vals:
        return None
    nums = [number(v) for v in vals]
    if len(vals) > 1 and all(n is not None for n in nums):
        return f"{fmt(min(nums))}–{fmt(max(nums))}"
    return ", ".join(fmt(v) for v in vals)


def _num(v):
    n = number(v)
    if n is None:
        return str(v)
    return f"{n:g}"


def conditions(results, cells, extra=()):
    """The footer: where and how these cells were measured."""
    env = results.environment
    machine = []
    host, cpu, ncpu = env.get("host"), env.get("cpu_model"), env.get("cpu_count")
    cpu_text = str(cpu) if cpu else "unknown CPU"
    if ncpu:
        cpu_text += f" ({ncpu} CPUs)"
    machine.append((f"{host}: " if host else "") + cpu_text)
    machine.append(f"kernel {env.get('kernel') or 'unknown'}")
    build = " ".join(str(x) for x in (env.get("compiler"), env.get("build_type")) if x)
    if env.get("sanitizer") not in (None, "", "none", False):
        build += f" sanitizer={env.get('sanitizer')}"
    if build:
        machine.append(build)
    if env.get("git_commit"):
        machine.append(f"git {str(env['git_commit'])[:12]}"
                       + (" (uncommitted changes)" if env.get("git_dirty") is True else ""))
    if results.started:
        machine.append(f"run {results.started}")

    how = []
    params = [c.params for c in cells] or [results.suite]
    msg = _span([p.get("message_size_bytes") for p in params], _num)
    if msg:
        how.append(f"message {msg} B")
    pipe = _span([p.get("pipeline") for p in params], _num)
    if pipe and pipe != "1":
        how.append(f"pipeline {pipe}")
    dur = _span([p.get("duration_s") for p in params], _num)
    warm = _span([p.get("warmup_s") for p in params], _num)
    if dur:
        how.append(f"duration {dur} s" + (f" after {warm} s warm-up" if warm else ""))
    placements = _uniq([(c.placement.get("server_cpus"), c.placement.get("loadgen_cpus"))
                        for c in cells])
    if not placements and isinstance(results.suite.get("placement"), dict):
        sp = results.suite["placement"]
        placements = [(sp.get("server_cpus"), sp.get("loadgen_cpus"))]
    pins = []
    for server, loadgen in placements:
        if server is None and loadgen is None:
            pins.append("not pinned")
        else:
            pins.append(f"server CPUs {server if server is not None else 'any'}, "
                        f"loadgen CPUs {loadgen if loadgen is not None else 'any'}")
    if pins:
        how.append("pinning: " + "; ".join(pins))
    reps = {}
    for c in cells:
        key = (c.strategy, c.workload, c.connections, c.active, repr(sorted(c.params.items())))
        reps[key] = reps.get(key, 0) + 1
    most = max(reps.values(), default=0)
    if most > 1:
        how.append(f"median of up to {most} repetitions, bars min–max")
    elif cells:
        how.append("1 repetition")
    how.extend(extra)
    return " · ".join(machine) + "\n" + " · ".join(how)


# --- drawing helpers ------------------------------------------------------------

def _new_figure(npanels, sharey=False, height=PANEL_H):
    fig = Figure(figsize=(PANEL_W * npanels + LEGEND_W, height))
    axes = fig.subplots(1, npanels, sharey=sharey, squeeze=False)[0]
    return fig, list(axes)


def _formatter(kind):
    if kind == "rate":
        return FuncFormatter(lambda v, _: style.fmt_count(v) if v else "0")
    if kind == "ns":
        return FuncFormatter(lambda v, _: style.fmt_ns(v))
    if kind == "us":
        return FuncFormatter(lambda v, _: style.fmt_ns(v * 1e3) if v else "0")
    if kind == "bytes":
        return FuncFormatter(lambda v, _: style.fmt_bytes(v) if v else "0")
    if kind == "pct":
        return FuncFormatter(lambda v, _: f"{v:+g}%" if v else "0%")
    return None


def _int_label(v):
    return style.fmt_count(v) if v else "0"


def _spread_ticks(ax, xs, char_in=0.085, gap_in=0.1):
    """The measured x values, thinned so that their labels do not overlap:
    a tick whose label would touch the previous one is dropped (the largest
    value is kept, replacing its neighbour if need be). Positions come from
    the axis transform, so this works for log and symlog alike."""
    dpi = ax.figure.dpi
    pos = [float(ax.transData.transform((x, 1.0))[0]) / dpi for x in xs]
    half = [len(_int_label(x)) * char_in / 2 for x in xs]
    kept = []
    for i in range(len(xs)):
        if not kept or pos[i] - pos[kept[-1]] >= half[i] + half[kept[-1]] + gap_in:
            kept.append(i)
        elif i == len(xs) - 1 and len(kept) > 1:
            kept[-1] = i
    return [xs[i] for i in kept]


def _set_xaxis(ax, xs, scale):
    """Log (or symlog, when 0 is among the x values) connection axis; ticks at
    the measured counts when there are few."""
    xs = sorted({x for x in xs if x is not None})
    if not xs:
        return
    if scale == "log" and xs[0] <= 0:
        scale = "symlog"
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=1, linscale=0.5)
    elif scale == "log":
        ax.set_xscale("log")
    lo, hi = xs[0], xs[-1]
    if scale in ("log", "symlog"):
        left = lo / 1.6 if lo > 0 else lo * 1.6 - 0.4
        ax.set_xlim(left, hi * 1.6 if hi > 0 else 1)
        ticks = _spread_ticks(ax, xs)
        if len(ticks) <= 12:
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _int_label(v)))
            ax.xaxis.set_minor_locator(NullLocator())
    else:
        pad = (hi - lo) * 0.05 or max(abs(hi) * 0.1, 1)
        ax.set_xlim(lo - pad, hi + pad)


def _nice_log(v, subs, down):
    """The nearest value of the form s * 10^k (s in subs) below (down) or
    above v."""
    k = math.floor(math.log10(v))
    cands = sorted(s * 10.0 ** e for e in (k - 1, k, k + 1) for s in subs)
    if down:
        return max(c for c in cands if c <= v * (1 + 1e-9))
    return min(c for c in cands if c >= v * (1 - 1e-9))


def _y_range(series, scale):
    """(min, max) over the values a panel draws (medians and min-max bars),
    only positive ones on a log axis; None when there are none."""
    vals = [v for s in series for v in (*s.y, *s.lo, *s.hi)
            if v is not None and math.isfinite(v) and (scale != "log" or v > 0)]
    return (min(vals), max(vals)) if vals else None


def _union(ranges):
    ranges = [r for r in ranges if r is not None]
    if not ranges:
        return None
    return (min(r[0] for r in ranges), max(r[1] for r in ranges))


def _set_yaxis(ax, scale, kind, yrange):
    """Scale, limits, ticks and labels of a value axis; yrange is what the
    panel (or every panel sharing this axis) draws: the limits always
    include it."""
    if yrange is None:
        ax.set_yscale("linear")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_locator(NullLocator())
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center",
                color="#777777")
        return
    if scale == "log":
        ax.set_yscale("log")
        if kind == "bytes":
            # Powers of two read as round sizes: 4 KiB, 8 KiB, 16 KiB.
            ax.yaxis.set_major_locator(LogLocator(base=2, subs=(1.0,)))
            ax.yaxis.set_minor_locator(NullLocator())
        else:
            lo, hi = yrange
            # Less than a decade of data: label more than 1-2-5 or there may be
            # a single label on the axis.
            subs = (1.0, 2.0, 5.0) if not (0 < lo and hi / lo < 8) else \
                (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
            if 0 < lo <= hi and math.isfinite(hi):
                # Widen to the enclosing ticks so both ends are labelled.
                ax.set_ylim(_nice_log(lo / 1.05, subs, down=True),
                            _nice_log(hi * 1.05, subs, down=False))
            ax.yaxis.set_minor_locator(LogLocator(base=10, subs="auto"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(bottom=0)
        if kind == "bytes" and yrange[1] > 0:
            # Steps of a power of two read as round sizes (1 MiB, not 781 KiB).
            step = 2.0 ** math.ceil(math.log2(yrange[1] / 6))
            ax.yaxis.set_major_locator(MultipleLocator(step))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    fmt = _formatter(kind)
    if fmt is not None:
        ax.yaxis.set_major_formatter(fmt)


# The letter drawn above a point for the side that limited it (the cell's
# `bound`); "neither" gets none.
BOUND_LETTER = {"server-bound": "S", "client-bound": "C", "both": "SC"}
BOUND_LEGEND = "S, C, SC over a point:\nserver-bound, client-bound,\nboth (docs/results.md)"


def _draw_series(ax, series, yscale):
    """One line per series (gid "series:<name>"), with min-max error bars
    (gid "range:<name>") where a point has more than one repetition, the
    bound letter above each classified point (gid "bound:<class>:<name>"),
    and hollow markers (gid "ratemiss:<name>") on the points where a
    repetition missed its open-loop rate. Returns (the bound classes drawn,
    whether any point was drawn hollow)."""
    drawn = set()
    any_missed = False
    placed = {}   # x -> [y] of the letters drawn there: close neighbours move aside
    top = max((v for s in series for v in s.y), default=0)

    def near(a, b):
        if yscale == "log" and a > 0 and b > 0:
            return max(a, b) / min(a, b) < 1.15
        return abs(a - b) < 0.06 * top

    for s in series:
        look = style.strategy_style(s.strategy, s.family)
        ax.plot(s.x, s.y, color=look["color"], linestyle=look["linestyle"],
                marker=look["marker"], linewidth=1.8, markersize=5, label=s.name,
                gid="series:" + s.name, zorder=3)
        for x, y, b in zip(s.x, s.y, s.bound):
            if b in BOUND_LETTER:
                here = placed.setdefault(x, [])
                k = sum(near(y, other) for other in here)
                here.append(y)
                # Close neighbours alternate right and left, then stack.
                dx = 0 if k == 0 else (9 if k % 2 else -9)
                ax.annotate(BOUND_LETTER[b], (x, y), xytext=(dx, 4 + 7 * ((k + 1) // 2)),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7,
                            color=look["color"],
                            fontweight="bold", gid=f"bound:{b}:{s.name}", zorder=4)
                drawn.add(b)
        hollow = [i for i, m in enumerate(s.missed) if m]
        if hollow:
            any_missed = True
            ax.plot([s.x[i] for i in hollow], [s.y[i] for i in hollow], linestyle="none",
                    marker=look["marker"], markeredgecolor=look["color"],
                    gid="ratemiss:" + s.name, zorder=4, **RATE_MISSED_STYLE)
        idx = [i for i in range(len(s.x)) if s.n[i] > 1 and s.hi[i] > s.lo[i]
               and (yscale != "log" or s.lo[i] > 0)]
        if idx:
            ax.errorbar([s.x[i] for i in idx], [s.y[i] for i in idx],
                        yerr=[[s.y[i] - s.lo[i] for i in idx], [s.hi[i] - s.y[i] for i in idx]],
                        fmt="none", ecolor=look["color"], elinewidth=1.2, capsize=3, zorder=2,
                        gid="range:" + s.name)
    return drawn, any_missed


def _draw_marks(ax, marks, edge):
    """Markers for points with no value, at the bottom (edge='bottom') or top
    axis edge; marks at the same x are stacked."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    stack = {}
    for m in marks:
        k = stack.get(m.x, 0)
        stack[m.x] = k + 1
        y = 0.0 + 0.05 * k if edge == "bottom" else 1.0 - 0.05 * k
        look = style.strategy_style(m.strategy, m.family)
        ax.plot([m.x], [y], transform=trans, linestyle="none", color=look["color"],
                clip_on=False, zorder=5, gid=f"mark:{m.kind}:{m.strategy}", **MARK_STYLE[m.kind])


def _legend(fig, strategies, mark_kinds, extra_handles=()):
    """One legend for the figure, right of the panels: strategies grouped under
    their family's name, then the edge markers' meaning."""
    handles = []
    by_family = {}
    for name, fam in strategies:
        by_family.setdefault(style.family_of(name, fam), []).append((name, fam))
    for fam in list(style.FAMILIES) + [None]:
        members = by_family.get(fam)
        if not members:
            continue
        handles.append(Line2D([], [], linestyle="none", label=(fam or "other").upper()))
        for name, declared in members:
            look = style.strategy_style(name, declared)
            handles.append(Line2D([], [], color=look["color"], linestyle=look["linestyle"],
                                  marker=look["marker"], linewidth=1.8, markersize=5, label=name))
    for kind in ("failed", "skipped", "no data"):
        if kind in mark_kinds:
            handles.append(Line2D([], [], linestyle="none", color="#333333",
                                  label=MARK_LEGEND[kind], **MARK_STYLE[kind]))
    if "rate not met" in mark_kinds:
        handles.append(Line2D([], [], linestyle="none", marker="o", markeredgecolor="#333333",
                              label=RATE_MISSED_LEGEND, **RATE_MISSED_STYLE))
    handles.extend(extra_handles)
    if not handles:
        return None
    leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.92),
                     frameon=False, fontsize=8, handlelength=2.6)
    for text in leg.get_texts():
        if text.get_text().isupper():
            text.set_fontweight("bold")
    return leg


def _finish(fig, title, footer):
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.text(0.005, -0.01, _wrap_footer(footer, int(fig.get_figwidth() * 19)), ha="left",
             va="top", fontsize=7, color="#444444")


def _wrap_footer(footer, width):
    """Break the footer's lines between its ' · ' items, not inside them
    (a long item alone is wrapped at spaces)."""
    out = []
    for line in footer.split("\n"):
        current = ""
        for item in line.split(" · "):
            candidate = f"{current} · {item}" if current else item
            if len(candidate) <= width or not current:
                current = candidate
            else:
                out.extend(textwrap.wrap(current, width))
                current = item
        out.extend(textwrap.wrap(current, width) or [""])
    return "\n".join(out)


def save(chart, outdir, fmt):
    """Write the chart as outdir/<name>.<fmt>; sets chart.file (relative)."""
    name = f"{chart.name}.{fmt}"
    meta = {"Date": None} if fmt == "svg" else {}
    chart.fig.savefig(outdir / name, format=fmt, dpi=110, bbox_inches="tight", pad_inches=0.15,
                      metadata=meta)
    chart.file = name
    return name


# --- charts of one workload variant ----------------------------------------------

def _metric_chart(results, group, *, name, section, title, caption, panels, x_of=None,
                  sharey=False, extra_footer=()):
    """A chart whose panels each show one metric versus connections.
    panels: [(key, metric, panel title, y label, y scale, y kind, scale, edge)]."""
    x_of = x_of or (lambda p: p.connections)
    fig, axes = _new_figure(len(panels), sharey=sharey)
    chart = Chart(name=name, section=section, title=title, caption=caption, fig=fig,
                  panels={}, series={}, marks={}, footer="")
    strategies, kinds, yaxes, bounds = {}, set(), [], set()
    for ax, (key, metric, ptitle, ylabel, yscale, ykind, scale, edge) in zip(axes, panels):
        series, marks = build_series(group.points, metric, x_of=x_of, scale=scale)
        if yscale == "log" and any(v <= 0 for s in series for v in s.y):
            yscale = "linear"
            chart.notes.append(f"{ptitle}: values ≤ 0, drawn on a linear axis")
        drawn, missed = _draw_series(ax, series, yscale)
        bounds |= drawn
        if missed:
            kinds.add("rate not met")
        _draw_marks(ax, marks, edge)
        _set_xaxis(ax, [x_of(p) for p in group.points], "log")
        yaxes.append((ax, yscale, ykind, _y_range(series, yscale)))
        ax.set_title(ptitle, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        chart.panels[key], chart.series[key], chart.marks[key] = ax, series, marks
        for s in series:
            strategies.setdefault(s.strategy, s.family)
        for m in marks:
            strategies.setdefault(m.strategy, m.family)
            kinds.add(m.kind)
    if sharey:
        # One y axis for all panels: one scale, limits that hold every panel.
        scale = "log" if all(sc == "log" for _, sc, _, _ in yaxes) else "linear"
        yrange = _union(_y_range(s, scale) for s in chart.series.values())
        yaxes = [(ax, scale, kind, yrange) for ax, _, kind, _ in yaxes]
    for ax, yscale, ykind, yrange in yaxes:
        _set_yaxis(ax, yscale, ykind, yrange)
    for ax in axes:
        ax.set_xlabel("idle connections" if section == "c10k" else "connections")
    ordered = sorted(strategies.items(), key=lambda kv: style.strategy_sort_key(*kv))
    extra = [Line2D([], [], linestyle="none", label=BOUND_LEGEND)] if bounds else []
    _legend(fig, ordered, kinds, extra)
    chart.footer = conditions(results, group.cells, extra_footer)
    _finish(fig, title, chart.footer)
    return chart


def throughput_chart(results, group):
    panels = [("requests_per_s", "requests_per_s", "requests/s", "requests/s", "linear", "rate",
               1.0, "bottom")]
    if group.workload == "bulk":
        panels.append(("bytes_per_s", "bytes_per_s", "bytes/s", "bytes/s", "linear", "bytes",
                       1.0, "bottom"))
    return _metric_chart(
        results, group, name=f"throughput-{group.slug}", section="throughput",
        title=f"Throughput: {group.label}",
        caption="Achieved requests per second (median over repetitions, bars min–max) versus "
                "connections on a log axis. Higher is better. Markers on the bottom edge: "
                "cells that failed or were skipped there.",
        panels=panels)


def latency_chart(results, group):
    panels = [("p50_ns", "p50_ns", "p50 latency", "latency", "log", "ns", 1.0, "top"),
              ("p99_ns", "p99_ns", "p99 latency", "latency", "log", "ns", 1.0, "top")]
    corrected = (" (open loop: from the intended send time)"
                 if registry.is_open_loop(group.workload) else "")
    return _metric_chart(
        results, group, name=f"latency-{group.slug}", section="latency",
        title=f"Latency: {group.label}", sharey=True,
        caption="Median (p50) and p99 request latency versus connections, both axes log. "
                f"Lower is better{corrected}. Markers on the top edge: cells that failed or were "
                "skipped there (no latency to show).",
        panels=panels)


def cost_chart(results, group):
    panels = [("server_cpu_us_per_request", "server_cpu_us_per_request",
               "server CPU per request", "CPU time (user+sys) per request", "linear", "us", 1.0,
               "bottom"),
              ("server_memory_per_connection_bytes", "server_memory_per_connection_bytes",
               "server memory per connection", "RSS per connection", "log", "bytes", 1.0,
               "bottom")]
    return _metric_chart(
        results, group, name=f"cost-{group.slug}", section="cost",
        title=f"Server cost: {group.label}",
        caption="Server CPU time (user+sys) per completed request, and the server's peak RSS "
                "growth per connection, versus connections. Lower is better.",
        panels=panels)


def c10k_chart(results, group):
    active = group.variant_value("active")
    return _metric_chart(
        results, group, name=f"c10k-{group.slug}", section="c10k",
        title=f"C10K: requests/s of {active} active connections among idle ones"
              + (f" ({group.label})" if len(group.variant) > 1 else ""),
        caption=f"The idle workload: {active} connections send requests while the others stay "
                "connected and silent. Requests/s versus idle connections (connections − active) "
                "on a log axis: a flat line means idle connections cost the strategy nothing; a "
                "falling one means it pays per connection, not per event.",
        panels=[("requests_per_s", "requests_per_s", f"requests/s ({active} active)",
                 "requests/s", "linear", "rate", 1.0, "bottom")],
        x_of=lambda p: p.connections - p.active)


# --- latency spectrum ------------------------------------------------------------

def default_spectrum_cells(results):
    """[(name, title, cells, notes)]: the rate workload at each strategy's
    largest connection count that has a histogram, and one pingpong count (the
    largest where the most strategies have one)."""
    out = []

    def with_hist(c):
        return c.measured and histogram_buckets(c.latency())

    by_strategy = {}
    for c in results.cells:
        if registry.is_open_loop(c.workload):
            by_strategy.setdefault(c.strategy, []).append(c)
    if by_strategy:
        chosen, notes = [], []
        for strategy in sorted(by_strategy, key=lambda s: style.strategy_sort_key(
                s, by_strategy[s][0].family)):
            cs = by_strategy[strategy]
            good = [c for c in cs if with_hist(c)]
            if not good:
                notes.append(f"{strategy}: no rate cell with a latency histogram")
                continue
            top = max(c.connections for c in good)
            pick = min((c for c in good if c.connections == top), key=lambda c: c.repetition)
            chosen.append(pick)
            largest = max(c.connections for c in cs)
            if largest > top:
                notes.append(f"{strategy}: c{largest} has no histogram "
                             f"({_why_not(cs, largest)}); showing c{top}")
        if chosen:
            out.append(("spectrum-rate",
                        "Latency spectrum: rate workload, each strategy's largest connection count",
                        chosen, notes))
        elif notes:
            out.append(("spectrum-rate", "Latency spectrum: rate workload", [], notes))

    pp = [c for c in results.cells if c.workload == "pingpong"]
    if pp:
        strategies = {c.strategy for c in pp}
        counts = sorted({c.connections for c in pp})
        best = max(counts, key=lambda n: (len({c.strategy for c in pp
                                                if c.connections == n and with_hist(c)}), n))
        chosen, notes = [], []
        for strategy in sorted(strategies, key=style.strategy_sort_key):
            cs = [c for c in pp if c.strategy == strategy and c.connections == best]
            good = [c for c in cs if with_hist(c)]
            if good:
                chosen.append(min(good, key=lambda c: c.repetition))
            else:
                notes.append(f"{strategy}: no histogram at c{best} ({_why_not(cs, best)})")
        out.append((f"spectrum-pingpong-c{best}",
                    f"Latency spectrum: pingpong at {best} connections", chosen, notes))
    return out


def _why_not(cells, connections):
    at = [c for c in cells if c.connections == connections]
    if not at:
        return "not run"
    bad = [c for c in at if not c.measured]
    if bad and len(bad) == len(at):
        return f"{bad[0].status}: {bad[0].reason or 'no reason recorded'}"
    return "no histogram buckets recorded"


def spectrum_chart(results, name, title, cells, notes=()):
    """One line per cell: latency versus percentile. Two panels (corrected and
    uncorrected) when any cell is open-loop (has latency_uncorrected)."""
    notes = list(notes)
    has_uncorrected = any(histogram_buckets(c.latency("latency_uncorrected")) for c in cells)
    panel_defs = [("latency", "latency" if not has_uncorrected
                   else "corrected (from the intended send time)")]
    if has_uncorrected:
        panel_defs.append(("latency_uncorrected", "uncorrected (from the actual send time)"))
    fig, axes = _new_figure(len(panel_defs), sharey=True, height=PANEL_H + 0.3)
    chart = Chart(name=name, section="spectrum", title=title,
                  caption="Latency reached at each percentile, from the run's latency histogram "
                          "(HdrHistogram style): the x axis is 1/(1−p) on a log scale, so 90%, "
                          "99%, 99.9%… are equally spaced; the line ends at the maximum. For the "
                          "open-loop rate workload the corrected latency counts from when each "
                          "request should have been sent (no coordinated omission); the "
                          "uncorrected one from when it was sent.",
                  fig=fig, panels={}, series={}, marks={}, footer="", notes=notes)
    styles_seq = ["-", "--", ":", "-."]
    label_seen = {}

    def label(c):
        lab = f"{c.strategy} c{c.connections}"
        if len({x.workload for x in cells}) > 1:
            lab += f" {c.workload}"
        rates = {x.params.get("rate_per_s") for x in cells}
        if len(rates) > 1 and c.params.get("rate_per_s") is not None:
            lab += f" @{style.fmt_count(number(c.params['rate_per_s']))}/s"
        if label_seen.get(lab, c.id) != c.id:
            lab += f" r{c.repetition}"
        label_seen[lab] = c.id
        if c.rate_missed:
            lab += " (rate not met)"
        return lab

    labels = {c.id: label(c) for c in cells}
    xmax = 1
    for ax, (key, ptitle) in zip(axes, panel_defs):
        series, linestyles, used = [], [], {}
        for c in cells:
            buckets = histogram_buckets(c.latency(key))
            if not buckets:
                if key == "latency" or registry.is_open_loop(c.workload):
                    notes.append(f"{c.id}: no {key} histogram")
                continue
            xs, ys = spec.spectrum(buckets)
            s = Series(c.strategy, c.family, xs, ys, ys, ys, [1] * len(xs), label=labels[c.id])
            series.append(s)
            k = used.get(c.strategy, 0)
            used[c.strategy] = k + 1
            look = style.strategy_style(c.strategy, c.family)
            linestyles.append(look["linestyle"] if k == 0 else styles_seq[k % len(styles_seq)])
            xmax = max(xmax, xs[-1])
        for s, ls in zip(series, linestyles):
            look = style.strategy_style(s.strategy, s.family)
            ax.plot(s.x, s.y, drawstyle="steps-post", color=look["color"], linestyle=ls,
                    linewidth=1.6, marker=look["marker"], markevery=[len(s.x) - 1],
                    markersize=5, label=s.label, gid="series:" + s.label)
        ax.set_xscale("log")
        ax.set_title(ptitle, fontsize=10)
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency")
        ax.grid(True, which="major", alpha=0.3)
        chart.panels[key], chart.series[key], chart.marks[key] = ax, series, []
    for ax in axes:
        ticks = [(v, t) for v, t in spec.TICKS if v <= max(xmax * 1.5, 10)]
        ax.set_xlim(1, max(xmax * 1.5, 10))
        ax.xaxis.set_major_locator(FixedLocator([v for v, _ in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: dict(spec.TICKS).get(v, "")))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.tick_params(axis="x", labelrotation=30)
    positive = all(v > 0 for ss in chart.series.values() for s in ss for v in s.y)
    scale = "log" if positive else "linear"
    _set_yaxis(axes[0], scale, "ns", _union(_y_range(ss, scale) for ss in chart.series.values()))
    handles, seen = [], set()
    for key, _ in panel_defs:
        lines = chart.lines(key)
        for s in chart.series[key]:
            if s.label in seen:
                continue
            seen.add(s.label)
            ln = lines[s.label]
            handles.append(Line2D([], [], color=ln.get_color(), linestyle=ln.get_linestyle(),
                                  marker=ln.get_marker(), label=s.label))
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.92),
                   frameon=False, fontsize=8, handlelength=2.6)
    chart.footer = conditions(results, cells)
    _finish(fig, title, chart.footer)
    return chart


# --- micro-benchmarks --------------------------------------------------------------

_KIND_LABEL = {"items_per_second": "time per item (1/items_per_second)",
               "real_time": "real time per iteration"}

# Titles of the benchmark families micro/ has (docs/micro.md); others get
# their name.
_MICRO_TITLES = {"BM_Dispatch": "Dispatch cost per event", "BM_Register": "Registration cost"}


def _kind_label(kind):
    if kind in _KIND_LABEL:
        return _KIND_LABEL[kind]
    if kind.startswith("ns_per_"):
        return "time per " + kind[len("ns_per_"):].replace("_", " ")
    return "time"


def micro_charts(micro, results):
    """One chart per benchmark family (and active count, and further
    arguments): dispatch cost versus descriptors, one line per mechanism."""
    groups, notes = {}, []
    for p in micro.points:
        if not p.parsed.has_mechanism or p.parsed.n is None:
            notes.append(f"{p.name}: no mechanism and descriptor count in the name; "
                         "in the table, not charted")
            continue
        key = (p.parsed.family, p.parsed.active, p.parsed.extras)
        groups.setdefault(key, []).append(p)
    charts = []
    for (family, active, extras), pts in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] if kv[0][1] is not None else -1,
                                            str(kv[0][2]))):
        by_mech, marks = {}, []
        for p in pts:
            fam = style.family_of(p.parsed.mechanism)
            if p.error:
                marks.append(Mark(p.parsed.mechanism, fam, p.parsed.n, "failed",
                                  [(p.name, p.error)]))
                continue
            s = by_mech.setdefault(p.parsed.mechanism,
                                   Series(p.parsed.mechanism, fam, [], [], [], [], []))
            s.x.append(p.parsed.n)
            s.y.append(median(p.values_ns))
            s.lo.append(min(p.values_ns))
            s.hi.append(max(p.values_ns))
            s.n.append(len(p.values_ns))
        series = sorted(by_mech.values(), key=lambda s: style.strategy_sort_key(s.strategy,
                                                                                 s.family))
        for s in series:
            order = sorted(range(len(s.x)), key=lambda i: s.x[i])
            for attr in ("x", "y", "lo", "hi", "n"):
                setattr(s, attr, [getattr(s, attr)[i] for i in order])
        kinds = {p.value_kind for p in pts if not p.error}
        ylabel = _kind_label(kinds.pop()) if len(kinds) == 1 else "time (mixed counters!)"
        fig, axes = _new_figure(1)
        ax = axes[0]
        yscale = "log" if all(v > 0 for s in series for v in s.y) else "linear"
        _draw_series(ax, series, yscale)
        _draw_marks(ax, marks, "top")
        _set_xaxis(ax, [p.parsed.n for p in pts], "log")
        _set_yaxis(ax, yscale, "ns", _y_range(series, yscale))
        ax.set_xlabel("watched descriptors (N)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        bits = []
        if active is not None:
            bits.append(f"{active:g} active")
        bits.extend(f"{k}={v:g}" for k, v in extras)
        title = f"{_MICRO_TITLES.get(family, family)}: {family}" + \
            (f" ({', '.join(bits)})" if bits else "")
        stem = "micro-" + "-".join([family] + [b.replace(" ", "") for b in bits])
        chart = Chart(name=slugify(stem), section="micro", title=title,
                      caption=_MICRO_CAPTIONS.get(family, _MICRO_CAPTIONS[None]),
                      fig=fig, panels={"micro": ax}, series={"micro": series},
                      marks={"micro": marks}, footer="")
        ordered = sorted({(s.strategy, s.family) for s in series}
                         | {(m.strategy, m.family) for m in marks},
                         key=lambda kv: style.strategy_sort_key(*kv))
        _legend(fig, ordered, {m.kind for m in marks})
        chart.footer = micro_conditions(micro, results, pts)
        _finish(fig, title, chart.footer)
        charts.append(chart)
    return charts, notes


_MICRO_CAPTIONS = {
    "BM_Dispatch": "Micro-benchmark (micro/, libevent's bench.c workload): CPU time per "
                   "dispatched event versus the number of watched descriptors N, with A of them "
                   "active, both axes log, median over repetitions with min–max bars. A line "
                   "that rises with N is a mechanism whose cost scales with the descriptors "
                   "watched, not with the events delivered (select, poll); a flat one scales "
                   "with events (epoll, io_uring).",
    "BM_Register": "Micro-benchmark (micro/): registering and unregistering one descriptor "
                   "versus the number registered, both axes log. select and poll register "
                   "nothing with the kernel (they pay on every call instead).",
    None: "Micro-benchmark (micro/): the benchmark's counter versus its first numeric "
          "argument, one line per mechanism, both axes log, median over repetitions with "
          "min–max bars.",
}


def micro_conditions(micro, results, points):
    ctx = micro.context
    bits = []
    host = ctx.get("host_name")
    cpus = ctx.get("num_cpus")
    mhz = ctx.get("mhz_per_cpu")
    machine = (f"{host}: " if host else "") + (f"{cpus} CPUs" if cpus else "")
    if mhz:
        machine += f" @ {mhz} MHz"
    if machine:
        bits.append(machine)
    env = results.environment
    same_host = bool(host) and env.get("host") == host
    if same_host and env.get("cpu_model"):
        bits.append(str(env["cpu_model"]))
    kernel = ctx.get("kernel") or (env.get("kernel") if same_host else None)
    if kernel:
        bits.append(f"kernel {kernel}")
    if ctx.get("muxbench_build_type"):
        bits.append(f"muxbench {ctx['muxbench_build_type']}")
    if ctx.get("muxbench_sanitizer") not in (None, "", "none"):
        bits.append(f"sanitizer {ctx['muxbench_sanitizer']} (not a measurement!)")
    if ctx.get("cpu_scaling_enabled") is True:
        bits.append("CPU frequency scaling ON (noisy)")
    if ctx.get("date"):
        bits.append(str(ctx["date"]))
    how = ["pinning: as micro/ was run (not recorded)"]
    for key, text in (("io_uring_poll", "io_uring poll {}"), ("chained_writes", "W = {}"),
                      ("fd_setsize", "FD_SETSIZE {}"), ("rlimit_nofile", "RLIMIT_NOFILE {}")):
        if ctx.get(key) not in (None, ""):
            how.append(text.format(ctx[key]))
    reps = max((len(p.values_ns) for p in points if not p.error), default=0)
    srcs = {p.source for p in points if not p.error}
    if reps > 1:
        how.append(f"median of {reps} repetitions, bars min–max")
    elif srcs and srcs != {"iterations"}:
        how.append("from aggregates: " + ", ".join(sorted(srcs)))
    return " · ".join(bits) + "\n" + " · ".join(how) + f" · file {micro.path}"


# --- compare -----------------------------------------------------------------------

def compare_charts(compare, results):
    """One horizontal bar chart per metric: change in % per cell, coloured by
    the verdict compare gave."""
    by_metric = {}
    for r in compare.rows:
        by_metric.setdefault(r.metric, []).append(r)
    charts = []
    for metric, rows in by_metric.items():
        height = max(2.2, 0.28 * len(rows) + 1.4)
        fig = Figure(figsize=(PANEL_W * 1.6 + LEGEND_W, height))
        ax = fig.subplots(1, 1)
        ys = list(range(len(rows)))[::-1]
        widths = [r.change_pct if r.change_pct is not None else 0.0 for r in rows]
        colours = [style.verdict_colour(r.verdict) for r in rows]
        bars = ax.barh(ys, widths, color=colours, height=0.7, zorder=3)
        for bar, r in zip(bars, rows):
            bar.set_gid(f"bar:{r.id}")
        for y, r in zip(ys, rows):
            text = (f"{r.change_pct:+.1f}%" if r.change_pct is not None else "n/a")
            ax.annotate(f" {text} {r.verdict}", (r.change_pct or 0.0, y),
                        xytext=(3 if (r.change_pct or 0) >= 0 else -3, 0),
                        textcoords="offset points", va="center",
                        ha="left" if (r.change_pct or 0) >= 0 else "right", fontsize=7)
        ax.set_yticks(ys)
        ax.set_yticklabels([r.id for r in rows], fontsize=7)
        ax.axvline(0, color="#333333", linewidth=0.8)
        lim = max([abs(w) for w in widths] + [1.0]) * 1.45
        ax.set_xlim(-lim, lim)
        ax.xaxis.set_major_formatter(_formatter("pct"))
        ax.set_xlabel(f"change of {metric}, new vs base")
        ax.grid(True, axis="x", alpha=0.3)
        verdicts = []
        for r in rows:
            if r.verdict not in verdicts:
                verdicts.append(r.verdict)
        fig.legend(handles=[Patch(color=style.verdict_colour(v), label=v) for v in verdicts],
                   loc="upper left", bbox_to_anchor=(1.0, 0.92), frameon=False, fontsize=8,
                   title="verdict")
        title = f"Compare: {metric}"
        src = ", ".join(f"{k} {v}" for k, v in compare.meta.items()
                        if k in ("base", "new", "threshold_pct", "base_file", "new_file"))
        footer = conditions(results, results.cells) + "\n" + \
            f"compare file {compare.path}" + (f" · {src}" if src else "") + \
            " · the verdict, not the sign, says whether a change is good for this metric"
        chart = Chart(name=slugify(f"compare-{metric}"), section="compare", title=title,
                      caption="Per-cell change between two runs (from `muxbench compare --json`), "
                              "coloured by compare's verdict.",
                      fig=fig, panels={"compare": ax}, series={"compare": rows},
                      marks={"compare": []}, footer=footer)
        _finish(fig, title, footer)
        charts.append(chart)
    return charts

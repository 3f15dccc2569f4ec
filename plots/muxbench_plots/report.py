"""The static report: one index.html next to the charts, with relative image
paths and inline CSS only, so it opens from the file system with no server
and no network."""

import json
from html import escape

from . import registry, style
from .aggregate import median

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "DejaVu Sans", sans-serif; color: #222;
       margin: 0 auto; max-width: 1280px; padding: 0 18px 40px; background: #fff; }
h1 { font-size: 22px; margin: 18px 0 4px; }
h2 { font-size: 18px; margin: 30px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
th, td { border: 1px solid #d6d6d6; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; white-space: nowrap; }
td.k { font-weight: 600; white-space: nowrap; }
.banner { background: #fff3cd; border: 1px solid #e0c36a; padding: 8px 12px; margin: 10px 0; }
.bad { background: #fde8e8; }
.skip { background: #f1f1f1; color: #666; }
.failed { color: #b00020; font-weight: 700; }
.rate_not_met { color: #9a5b00; font-weight: 700; }
.ratemiss { background: #fff3e0; }
.skipped { color: #666; font-weight: 700; }
.warn { color: #9a5b00; font-size: 12px; }
.reps, .sub { color: #666; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px;
          border: 1px solid #0003; vertical-align: baseline; }
figure { margin: 14px 0 26px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; max-width: 1000px; }
pre { background: #f7f7f7; padding: 6px; font-size: 12px; white-space: pre-wrap; margin: 0; }
details { margin: 4px 0; }
.fam { font-size: 11px; color: #777; }
"""


def _e(x):
    return escape("" if x is None else str(x))


def _value(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    if v is None:
        return "null"
    return str(v)


class Footnotes:
    """Every cell that is not ok (failed, skipped, rate not met) gets a
    number; summary tables link to it."""

    def __init__(self, cells):
        self.cells = [c for c in cells if c.status != "ok"]
        self.number = {c.id: i + 1 for i, c in enumerate(self.cells)}

    def link(self, cell):
        n = self.number[cell.id]
        return f'<sup><a href="#fail-{n}" title="{_e(cell.reason)}">{n}</a></sup>'


def _swatch(strategy, family):
    colour = style.strategy_style(strategy, family)["color"]
    return f'<span class="swatch" style="background:{colour}"></span>'


def _summary_cell(point, notes):
    if point is None:
        return '<td class="skip">not run</td>'
    st = point.status
    cls = {"failed": "num bad", "skipped": "num skip", "rate_not_met": "num ratemiss"}.get(st, "num")
    bits = []
    if st in ("ok", "partial", "rate_not_met"):
        rps = point.stat("requests_per_s")
        p99 = point.stat("p99_ns")
        bits.append(f"<b>{_e(style.fmt_count(rps.median) if rps else '–')}</b>/s")
        bits.append(f'<br><span class="sub">p99 {_e(style.fmt_ns(p99.median) if p99 else "–")}'
                    "</span>")
        if len(point.cells) > 1:
            n = len(point.measured_cells)
            bits.append(f' <span class="reps" title="median of {n} measured '
                        f'repetitions">×{n}</span>')
        bounds = sorted({c.metrics.get("bound") for c in point.measured_cells
                         if isinstance(c.metrics.get("bound"), str)})
        if bounds:
            titles = {"server-bound": "the server's busiest thread was busy at least 90% of the "
                                      "measurement, the load generator's was not: the server's number",
                      "client-bound": "the load generator was saturated, the server was not: the "
                                      "server may be faster than this; read its CPU per request, "
                                      "or run it across hosts (docs/distributed.md)",
                      "both": "both sides were busy at least 90% of the measurement: read the "
                              "server's CPU per request; on one machine no load-generator "
                              "setting made the server the only bound side (docs/results.md)",
                      "neither": "neither side was busy 90% of the measurement: the network, "
                                 "the rate or the round trip set the pace"}
            cls_b = "warn" if any(b in ("client-bound", "both") for b in bounds) else "sub"
            bits.append(f'<br><span class="{cls_b} bound" title="{_e(titles.get(bounds[0], ""))}">'
                        f'{_e("/".join(bounds))}</span>')
        elif point.any_flag("client_saturated"):
            bits.append('<br><span class="warn" title="the load generator was saturated: the '
                        'server may be faster than this">client-bound</span>')
        errs = [c.metric("errors_total") for c in point.measured_cells]
        errs = [e for e in errs if e]
        if errs:
            bits.append(f'<br><span class="warn">errors {_e(style.fmt_count(max(errs)))}</span>')
    for c in point.not_ok_cells:
        word = {"failed": "FAILED", "rate_not_met": "RATE NOT MET"}.get(c.status, "skipped")
        rep = f" r{c.repetition}" if len(point.cells) > 1 else ""
        bits.append(f'<br><span class="{c.status}">{word}{rep}</span>{notes.link(c)}')
    html = "".join(bits)
    if html.startswith("<br>"):
        html = html[4:]
    return f'<td class="{cls}">{html}</td>'


def summary_tables(groups, notes):
    out = []
    for g in groups:
        counts = g.connection_counts
        out.append(f'<h3 id="table-{_e(g.slug)}">{_e(g.label)}</h3>')
        head = "".join(f"<th>{c}</th>" for c in counts)
        rows = []
        for s in g.strategies:
            fam = next(p.family for p in g.points if p.strategy == s)
            tds = "".join(_summary_cell(g.point(s, n), notes) for n in counts)
            rows.append(f"<tr><td class=\"k\">{_swatch(s, fam)}{_e(s)} "
                        f"<span class=\"fam\">{_e(fam or '')}</span></td>{tds}</tr>")
        label = "connections" if not registry.keeps_idle(g.workload) else "connections (incl. active)"
        out.append(f"<table><tr><th>strategy \\ {label}</th>{head}</tr>{''.join(rows)}</table>")
    return "\n".join(out)


def _kv_table(pairs):
    rows = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_e(_value(v))}</td></tr>'
                   for k, v in pairs)
    return f"<table>{rows}</table>"


def _flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _chart_html(chart):
    alt = _e(chart.title)
    marks = {}
    for panel_marks in chart.marks.values():
        for m in panel_marks:
            for cid, reason in m.reasons:
                marks.setdefault((cid, m.kind), reason)
    extra = ""
    if marks:
        items = "".join(f"<li><code>{_e(cid)}</code> {_e(kind)}: {_e(reason)}</li>"
                        for (cid, kind), reason in marks.items())
        extra += (f"<details><summary>{len(marks)} cell(s) marked at the axis edge"
                  f"</summary><ul>{items}</ul></details>")
    if chart.notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in chart.notes)
        extra += f"<details open><summary>notes</summary><ul>{items}</ul></details>"
    return (f'<figure id="chart-{_e(chart.name)}"><img src="{_e(chart.file)}" alt="{alt}">'
            f"<figcaption>{_e(chart.caption)}{extra}</figcaption></figure>")


_SECTIONS = [("throughput", "Throughput"), ("latency", "Latency"),
             ("c10k", "C10K: idle connections"), ("cost", "Server cost"),
             ("spectrum", "Latency spectrum"), ("micro", "Micro-benchmarks"),
             ("compare", "Compare")]


def _failures(results, notes):
    if not notes.cells:
        return "<p>No cell failed, missed its rate or was skipped.</p>"
    rows = []
    for c in notes.cells:
        n = notes.number[c.id]
        server = c.raw.get("server") if isinstance(c.raw.get("server"), dict) else {}
        tail = server.get("stderr_tail")
        tail_html = (f"<details><summary>server stderr</summary><pre>{_e(tail)}</pre></details>"
                     if tail else "")
        lgp = c.raw.get("loadgen_process") if isinstance(c.raw.get("loadgen_process"), dict) \
            else {}
        if lgp.get("stderr_tail"):
            tail_html += (f"<details><summary>loadgen stderr ({_e(lgp.get('exit') or '')})"
                          f"</summary><pre>{_e(lgp['stderr_tail'])}</pre></details>")
        lg = c.loadgen or {}
        lg_reason = lg.get("failure_reason") if lg.get("status") == "failed" else None
        rows.append(
            f'<tr id="fail-{n}"><td class="num">{n}</td><td><code>{_e(c.id)}</code></td>'
            f'<td class="{_e(c.status)}">{_e(c.status)}</td>'
            f"<td>{_e(c.reason or 'no reason recorded')}"
            + (f"<br><span class=\"sub\">loadgen: {_e(lg_reason)}</span>" if lg_reason else "")
            + f"</td><td>{_e(server.get('exit', ''))}{tail_html}</td></tr>")
    return ("<table><tr><th>#</th><th>cell</th><th>status</th><th>reason</th>"
            f"<th>server exit</th></tr>{''.join(rows)}</table>")


def _warnings(results):
    rows = []
    for c in results.cells:
        if c.status != "ok":
            continue
        why = []
        if c.metrics.get("client_saturated") is True:
            why.append("load generator saturated (the server may be faster than measured)")
        if c.metric("errors_total"):
            why.append(f"{c.metric('errors_total'):g} request errors")
        if c.metric("mismatches"):
            why.append(f"{c.metric('mismatches'):g} mismatched replies")
        if why:
            rows.append(f"<tr><td><code>{_e(c.id)}</code></td><td>{_e('; '.join(why))}</td></tr>")
    if not rows:
        return ""
    return ("<h3>Cells that completed with warnings</h3><table><tr><th>cell</th><th>warning</th>"
            f"</tr>{''.join(rows)}</table>")


def _micro_table(micro):
    rows = []
    for p in micro.points:
        val = "–" if p.error else f"{median(p.values_ns):.4g} ns"
        rows.append(
            f"<tr><td><code>{_e(p.name)}</code></td><td>{_e(p.parsed.mechanism)}</td>"
            f"<td class=\"num\">{_e('' if p.parsed.n is None else f'{p.parsed.n:g}')}</td>"
            f"<td class=\"num\">{_e('' if p.parsed.active is None else f'{p.parsed.active:g}')}"
            f"</td><td class=\"num\">{_e(val)}</td><td>{_e(p.value_kind)}</td>"
            f"<td class=\"num\">{len(p.values_ns)}</td><td>{_e(p.label or '')}</td>"
            f"<td>{'<span class=failed>' + _e(p.error) + '</span>' if p.error else ''}</td></tr>")
    for name, why in micro.skipped:
        rows.append(f"<tr><td><code>{_e(name)}</code></td><td colspan=8>{_e(why)}</td></tr>")
    return ("<table><tr><th>benchmark</th><th>mechanism</th><th>N</th><th>active</th>"
            "<th>median</th><th>counter</th><th>reps</th><th>label</th><th>error</th></tr>"
            f"{''.join(rows)}</table>")


def _compare_table(compare):
    rows = []
    for r in compare.rows:
        chg = "n/a" if r.change_pct is None else f"{r.change_pct:+.1f}%"
        colour = style.verdict_colour(r.verdict)
        rows.append(
            f"<tr><td><code>{_e(r.id)}</code></td><td>{_e(r.metric)}</td>"
            f"<td class=\"num\">{_e('–' if r.base is None else f'{r.base:.4g}')}</td>"
            f"<td class=\"num\">{_e('–' if r.new is None else f'{r.new:.4g}')}</td>"
            f"<td class=\"num\">{_e(chg)}</td><td><span class=\"swatch\" "
            f"style=\"background:{colour}\"></span>{_e(r.verdict)}</td></tr>")
    meta = _kv_table(compare.meta.items()) if compare.meta else ""
    return (meta + "<table><tr><th>cell</th><th>metric</th><th>base</th><th>new</th>"
            f"<th>change</th><th>verdict</th></tr>{''.join(rows)}</table>")


def render(results, groups, charts, micro=None, compare=None, extra_notes=(), title=None):
    """The whole page as a string."""
    notes = Footnotes(results.cells)
    title = title or "muxbench results"
    n_ok = sum(c.status == "ok" for c in results.cells)
    n_rate = sum(c.status == "rate_not_met" for c in results.cells)
    n_failed = sum(c.status == "failed" for c in results.cells)
    n_skipped = sum(c.status == "skipped" for c in results.cells)
    suite = results.suite
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{_e(title)}</h1>")
    parts.append(f"<p>Suite <b>{_e(suite.get('name', '?'))}</b> · started {_e(results.started)}"
                 f" · finished {_e(results.finished or 'not finished')} · "
                 f"{len(results.cells)} cells: {n_ok} ok, "
                 + (f"<a href=\"#failures\" class=\"rate_not_met\">{n_rate} RATE NOT MET</a>, "
                    if n_rate else "")
                 + f"<a href=\"#failures\">{n_failed} failed, {n_skipped} skipped</a> · "
                 f"source <code>{_e(results.path)}</code></p>")
    cmd = results.raw.get("command_line")
    if isinstance(cmd, list) and cmd:
        parts.append(f"<p>Command: <code>{_e(' '.join(map(str, cmd)))}</code></p>")
    resumed = results.raw.get("resumed")
    if isinstance(resumed, list) and resumed:
        def when(r):
            if isinstance(r, dict):
                return f"{r.get('at', '?')} (after {r.get('cells_before', '?')} cells)"
            return str(r)
        parts.append(f"<p>Resumed at {_e(', '.join(when(r) for r in resumed))}.</p>")
    if results.finished is None:
        parts.append('<div class="banner">This run did not finish (<code>finished</code> is '
                     "null): it was interrupted or is still running; the results are partial."
                     "</div>")
    present = [(key, name) for key, name in _SECTIONS if any(c.section == key for c in charts)]
    nav = ['<a href="#summary">Summary tables</a>']
    nav += [f'<a href="#{key}">{_e(name)}</a>' for key, name in present]
    nav += ['<a href="#failures">Failures</a>', '<a href="#environment">Environment</a>']
    parts.append(f"<nav>{' '.join(nav)}</nav>")

    parts.append('<h2 id="summary">Summary tables</h2>')
    parts.append("<p>Per workload: requests/s (bold) and p99 latency per strategy and connection "
                 "count, the median over repetitions (×n: measured repetitions). Failed and "
                 "skipped cells are marked and numbered, and so are open-loop cells that missed "
                 "their target rate (RATE NOT MET: their numbers are what got through, their "
                 "latency includes the backlog); the numbers link to their reasons.</p>")
    parts.append(summary_tables(groups, notes) if groups else "<p>The results file holds no "
                                                               "cells.</p>")
    for key, name in present:
        parts.append(f'<h2 id="{key}">{_e(name)}</h2>')
        if key == "micro" and micro is not None:
            parts.append(f"<p>From <code>{_e(micro.path)}</code>.</p>")
        parts.extend(_chart_html(c) for c in charts if c.section == key)
        if key == "micro" and micro is not None:
            parts.append(_micro_table(micro))
        if key == "compare" and compare is not None:
            parts.append(_compare_table(compare))
    if micro is not None and not any(c.section == "micro" for c in charts):
        parts.append('<h2 id="micro">Micro-benchmarks</h2>' + _micro_table(micro))
    if compare is not None and not any(c.section == "compare" for c in charts):
        parts.append('<h2 id="compare">Compare</h2>' + _compare_table(compare))
    if extra_notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in extra_notes)
        parts.append(f"<h3>Not charted</h3><ul>{items}</ul>")

    parts.append('<h2 id="failures">Failures, missed rates and skipped cells</h2>')
    parts.append(_failures(results, notes))
    parts.append(_warnings(results))

    parts.append('<h2 id="environment">Environment</h2>')
    parts.append(_kv_table(_flatten(results.environment)) if results.environment
                 else "<p>No environment recorded.</p>")
    parts.append("<h3>Suite (as run)</h3>")
    parts.append(_kv_table(suite.items()) if suite else "<p>No suite recorded.</p>")
    parts.append("<h3>Strategies</h3><p>"
                 + " ".join(f"{_swatch(s, f)}{_e(s)} <span class=\"fam\">{_e(f or '?')}</span>"
                            for s, f in _strategies(results)) + "</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _strategies(results):
    seen = {}
    for c in results.cells:
        seen.setdefault(c.strategy, c.family)
    return sorted(seen.items(), key=lambda kv: style.strategy_sort_key(*kv))

"""The charts draw exactly the data of the input: checked on the matplotlib
Line2D objects, not on the files."""

import copy

import pytest
from matplotlib.colors import to_hex

from helpers import fixture, fixture_doc, write_json
from muxbench_plots import charts as ch
from muxbench_plots import registry, spectrum, style
from muxbench_plots.aggregate import group_cells
from muxbench_plots.cli import build
from muxbench_plots.inputs import histogram_buckets, load_compare, load_micro, load_results


def _by_label(groups, label):
    return next(g for g in groups if g.label == label)


def _xy(line):
    return list(map(float, line.get_xdata())), list(map(float, line.get_ydata()))


def _marks(chart, panel):
    """[(kind, strategy, x, y_axes_fraction)] of the edge markers."""
    out = []
    for ln in chart.mark_lines(panel):
        _, kind, strategy = ln.get_gid().split(":", 2)
        out.append((kind, strategy, float(ln.get_xdata()[0]), float(ln.get_ydata()[0])))
    return sorted(out)


def test_throughput_lines_match_the_medians(small):
    g = _by_label(group_cells(small.cells), "pingpong")
    chart = ch.throughput_chart(small, g)
    lines = chart.lines("requests_per_s")
    assert set(lines) == {"thread", "select", "epoll", "epoll-oneshot", "libevent", "io_uring"}
    assert _xy(lines["epoll"]) == ([10, 100, 2000], [50000, 89000, 81000])
    assert _xy(lines["select"]) == ([10, 100], [48000, 70000])
    assert _xy(lines["epoll-oneshot"]) == ([100], [86000])        # a single point
    assert _xy(lines["io_uring"]) == ([10, 100, 2000], [55000, 99000, 95000])
    ax = chart.panels["requests_per_s"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert ax.get_ylim()[0] == 0
    # min-max bars only where there are repetitions (epoll)
    ranges = [c for c in ax.collections if (c.get_gid() or "").startswith("range:")]
    assert [c.get_gid() for c in ranges] == ["range:epoll"]
    segs = sorted((float(s[0][0]), float(s[0][1]), float(s[1][1]))
                  for s in ranges[0].get_segments())
    assert segs == [(10, 47000, 52000), (100, 88000, 90000), (2000, 80000, 82000)]


def test_failed_and_skipped_cells_are_marked_at_the_bottom_edge(small):
    g = _by_label(group_cells(small.cells), "pingpong")
    chart = ch.throughput_chart(small, g)
    marks = _marks(chart, "requests_per_s")
    assert [(k, s, x) for k, s, x, _ in marks] == [
        ("failed", "epoll", 100), ("failed", "thread", 2000), ("skipped", "select", 2000)]
    for _, _, _, y in marks:
        assert 0 <= y < 0.2                       # axes fraction: at the bottom edge
    # They are in the legend, in the strategy's colour.
    ln = next(ln for ln in chart.mark_lines("requests_per_s")
              if ln.get_gid() == "mark:skipped:select")
    assert to_hex(ln.get_color()) == style.strategy_style("select", "readiness")["color"]
    legend_texts = [t.get_text() for t in chart.fig.legends[0].get_texts()]
    assert "failed (reason in report)" in legend_texts
    assert "skipped (reason in report)" in legend_texts


def test_latency_panels_are_log_and_mark_at_the_top(small):
    g = _by_label(group_cells(small.cells), "pingpong")
    chart = ch.latency_chart(small, g)
    assert set(chart.panels) == {"p50_ns", "p99_ns"}
    assert _xy(chart.lines("p99_ns")["epoll"]) == ([10, 100, 2000], [90000, 102000, 150000])
    assert _xy(chart.lines("p50_ns")["thread"]) == ([10, 100], [45000, 60000])
    for key in ("p50_ns", "p99_ns"):
        assert chart.panels[key].get_yscale() == "log"
        assert chart.panels[key].get_xscale() == "log"
        marks = _marks(chart, key)
        assert len(marks) == 3 and all(y > 0.8 for *_, y in marks)


def test_cost_chart_marks_unmeasured_memory(small):
    g = _by_label(group_cells(small.cells), "pingpong")
    chart = ch.cost_chart(small, g)
    assert _xy(chart.lines("server_cpu_us_per_request")["epoll"]) == \
        ([10, 100, 2000], [8.0, 7.1, 7.5])
    mem = chart.lines("server_memory_per_connection_bytes")
    assert _xy(mem["io_uring"]) == ([10, 100], [5300, 4300])
    assert ("no data", "io_uring", 2000) in [
        (k, s, x) for k, s, x, _ in _marks(chart, "server_memory_per_connection_bytes")]
    assert chart.panels["server_memory_per_connection_bytes"].get_yscale() == "log"


def test_c10k_chart_plots_idle_connections_at_fixed_active(small):
    groups = group_cells(small.cells)
    chart = ch.c10k_chart(small, _by_label(groups, "idle · active 10"))
    lines = chart.lines("requests_per_s")
    assert _xy(lines["epoll"]) == ([0, 90, 1990], [40000, 39500, 39000])
    assert _xy(lines["select"]) == ([0, 90], [38000, 30000])
    assert chart.panels["requests_per_s"].get_xscale() == "symlog"     # 0 idle is a point
    assert [(k, s, x) for k, s, x, _ in _marks(chart, "requests_per_s")] == [
        ("failed", "thread", 1990), ("skipped", "select", 1990)]
    assert "10 active" in chart.title


def test_colours_and_line_styles_are_consistent(small):
    groups = group_cells(small.cells)
    pp = _by_label(groups, "pingpong")
    charts = [ch.throughput_chart(small, pp), ch.latency_chart(small, pp),
              ch.cost_chart(small, pp)]
    charts += [ch.spectrum_chart(small, n, t, c, w) for n, t, c, w in
               ch.default_spectrum_cells(small)]
    seen = {}
    for chart in charts:
        for panel in chart.panels:
            for label, ln in chart.lines(panel).items():
                strategy = label.split(" ")[0]
                seen.setdefault(strategy, set()).add(to_hex(ln.get_color()))
    assert all(len(c) == 1 for c in seen.values()), seen
    colours = [next(iter(c)) for c in seen.values()]
    assert len(set(colours)) == len(colours)             # strategies tell apart
    lines = charts[0].lines("requests_per_s")
    # One line style per family.
    assert lines["select"].get_linestyle() == lines["epoll"].get_linestyle() == "-"
    assert lines["thread"].get_linestyle() == ":"
    assert lines["libevent"].get_linestyle() == "--"
    assert lines["io_uring"].get_linestyle() == "-."


def test_style_is_stable_and_has_fallbacks():
    a = style.strategy_style("epoll", "readiness")
    assert a == style.strategy_style("epoll") == style.strategy_style("epoll", "readiness")
    # Known families map to their colormap; names we have never heard of get a
    # stable colour (and grey without a family).
    unknown = style.strategy_style("kqueue-emulated")
    assert unknown == style.strategy_style("kqueue-emulated")
    r, g, b = (int(unknown["color"][i:i + 2], 16) for i in (1, 3, 5))
    assert r == g == b                                   # grey
    assert style.family_of("libevent-select") == "libevent"
    assert style.family_of("libevent-kqueue") == "libevent"
    assert style.family_of("whatever", "completion") == "completion"
    names = [n for fam in style.KNOWN_STRATEGIES.values() for n in fam]
    assert len({style.strategy_style(n)["color"] for n in names}) == len(names)


def test_new_families_and_thread_series():
    # The families are the registry's (docs/registry.json, from the binaries'
    # exports), each with a look of its own.
    assert style.FAMILIES == registry.FAMILIES
    assert set(style.FAMILIES) <= set(style._FAMILY_LOOK)
    assert "readiness" in style.FAMILIES and "epoll" in style.KNOWN_STRATEGIES["readiness"]
    assert style.family_of("libuv") == "libuv" and style.family_of("asio") == "asio"
    assert style.family_of("epoll-handoff") == "readiness"
    assert style.family_of("libevent-handoff") == "libevent"
    # Each family its own colour and line style.
    looks = {fam: style.strategy_style(names[0]) for fam, names in style.KNOWN_STRATEGIES.items()}
    assert len({l["color"] for l in looks.values()}) == len(looks)
    assert len({str(l["linestyle"]) for l in looks.values()}) == len(looks)
    # "<strategy>/t<N>": the strategy's colour, family and line style, another marker.
    base = style.strategy_style("epoll-reuseport")
    t1, t2 = style.strategy_style("epoll-reuseport/t1"), style.strategy_style("epoll-reuseport/t2")
    assert base["color"] == t1["color"] == t2["color"]
    assert base["linestyle"] == t2["linestyle"]
    assert len({base["marker"], t1["marker"], t2["marker"]}) == 3
    assert style.split_threads("epoll-reuseport/t2") == ("epoll-reuseport", 2)
    assert style.split_threads("epoll") == ("epoll", None)
    names = ["epoll-exclusive/t2", "epoll-handoff", "epoll-reuseport/t1", "epoll-exclusive/t1",
             "epoll", "asio", "libuv", "io_uring"]
    assert sorted(names, key=style.strategy_sort_key) == [
        "epoll", "epoll-reuseport/t1", "epoll-exclusive/t1", "epoll-exclusive/t2",
        "epoll-handoff", "libuv", "asio", "io_uring"]


def test_spectrum_math():
    buckets = [(20000, 500), (30000, 300), (50000, 150), (100000, 40), (1000000, 9), (5000000, 1)]
    x, y = spectrum.spectrum(buckets)
    assert x == pytest.approx([1, 2, 5, 20, 100, 1000, 1000])
    assert y == [20000, 30000, 50000, 100000, 1000000, 5000000, 5000000]
    assert spectrum.value_at(buckets, 0.5) == 20000
    assert spectrum.value_at(buckets, 0.99) == 100000
    assert spectrum.value_at(buckets, 0.999) == 1000000
    assert spectrum.value_at(buckets, 1.0) == 5000000
    assert spectrum.spectrum([]) == ([], [])


def test_default_spectrum_rate_has_corrected_and_uncorrected(small):
    picks = {name: (cells, notes) for name, _, cells, notes in ch.default_spectrum_cells(small)}
    assert set(picks) == {"spectrum-rate", "spectrum-pingpong-c100"}
    cells, notes = picks["spectrum-rate"]
    # Each strategy's largest count with a histogram; select's c100 failed.
    assert [c.id for c in cells] == ["select/rate/c10/r0", "epoll/rate/c100/r0",
                                     "io_uring/rate/c100/r0"]
    assert any("select: c100" in n and "signal 11" in n for n in notes)
    chart = ch.spectrum_chart(small, "spectrum-rate", "t", cells, notes)
    assert set(chart.panels) == {"latency", "latency_uncorrected"}
    corrected = chart.lines("latency")["epoll c100"]
    assert corrected.get_drawstyle() == "steps-post"
    assert _xy(corrected) == (pytest.approx([1, 2, 5, 20, 100, 1000, 1000]),
                              [20000, 30000, 50000, 100000, 1000000, 5000000, 5000000])
    uncorrected = chart.lines("latency_uncorrected")["epoll c100"]
    assert _xy(uncorrected) == (pytest.approx([1, 2.5, 10, 100, 1000]),
                                [20000, 30000, 50000, 100000, 100000])
    assert chart.panels["latency"].get_xscale() == "log"
    assert chart.panels["latency"].get_yscale() == "log"


def test_default_spectrum_pingpong_count(small):
    picks = {name: (cells, notes) for name, _, cells, notes in ch.default_spectrum_cells(small)}
    cells, notes = picks["spectrum-pingpong-c100"]
    assert [c.strategy for c in cells] == ["thread", "select", "epoll", "epoll-oneshot",
                                           "libevent", "io_uring"]
    assert notes == []
    chart = ch.spectrum_chart(small, "p", "t", cells, notes)
    assert set(chart.panels) == {"latency"}                       # closed loop: one panel
    for c in cells:
        x, y = spectrum.spectrum(histogram_buckets(c.latency()))
        assert _xy(chart.lines("latency")[f"{c.strategy} c100"]) == (pytest.approx(x), y)


def test_selected_cells_for_the_spectrum(small):
    _, charts, _ = build(small, cells_spec="epoll/pingpong/c100,epoll/pingpong/c2000/r0")
    spec = [c for c in charts if c.section == "spectrum"]
    assert [c.name for c in spec] == ["spectrum-selected"]
    assert set(spec[0].lines("latency")) == {"epoll c100", "epoll c2000"}
    # Same strategy twice: same colour, different dashes.
    a, b = spec[0].lines("latency")["epoll c100"], spec[0].lines("latency")["epoll c2000"]
    assert a.get_color() == b.get_color() and a.get_linestyle() != b.get_linestyle()


def test_micro_chart_lines(small):
    micro = load_micro(fixture("micro.json"))
    charts, notes = ch.micro_charts(micro, small)
    assert [c.title for c in charts] == ["Dispatch cost per event: BM_Dispatch (1 active)",
                                         "Dispatch cost per event: BM_Dispatch (100 active)"]
    lines = charts[0].lines("micro")
    assert _xy(lines["select"]) == ([100, 1000], [950, 9200])
    assert _xy(lines["poll"]) == ([100, 1000], [800, 7000])
    assert _xy(lines["epoll"]) == ([100, 1000, 10000], [120, 125, 130])
    assert _xy(lines["io_uring-poll"]) == ([100], [300])
    assert [(k, s, x) for k, s, x, _ in _marks(charts[0], "micro")] == [("failed", "select", 10000)]
    sel = next(s for s in charts[0].series["micro"] if s.strategy == "select")
    assert (sel.lo, sel.hi) == ([900, 9000], [1000, 9500])
    assert charts[0].panels["micro"].get_yaxis().get_label().get_text() == "time per event"
    assert _xy(charts[1].lines("micro")["epoll"]) == ([10000], [60])
    assert notes == ["BM_Wakeup/epoll: no mechanism and descriptor count in the name; "
                     "in the table, not charted"]
    # The mechanism's colour is the strategy's colour.
    assert to_hex(lines["epoll"].get_color()) == style.strategy_style("epoll")["color"]


def test_compare_bars_by_verdict(small):
    compare = load_compare(fixture("compare.json"))
    charts = ch.compare_charts(compare, small)
    assert [c.name for c in charts] == ["compare-requests_per_s", "compare-p99_ns"]
    ax = charts[0].panels["compare"]
    bars = [p for p in ax.patches if (p.get_gid() or "").startswith("bar:")]
    assert [b.get_gid() for b in bars] == ["bar:epoll/pingpong/c100", "bar:select/pingpong/c100",
                                           "bar:thread/pingpong/c100", "bar:thread/pingpong/c2000"]
    assert [b.get_width() for b in bars] == [10.0, -20.0, 2.0, 0.0]
    assert [to_hex(b.get_facecolor()) for b in bars] == [
        style.verdict_colour("better"), style.verdict_colour("worse"),
        style.verdict_colour("noise"), style.VERDICT_FALLBACK_COLOUR]
    texts = [t.get_text() for t in ax.texts]
    assert " n/a new" in texts and " -20.0% worse" in texts
    bars2 = [p for p in charts[1].panels["compare"].patches
             if (p.get_gid() or "").startswith("bar:")]
    assert [b.get_width() for b in bars2] == pytest.approx([20.0, -25.0])


def test_every_chart_has_a_conditions_footer(small):
    micro = load_micro(fixture("micro.json"))
    compare = load_compare(fixture("compare.json"))
    _, charts, _ = build(small, micro, compare)
    assert len(charts) == 15
    for chart in charts:
        texts = [t.get_text() for t in chart.fig.texts]
        footer = next(t for t in texts if "CPU" in t)
        if chart.section == "micro":
            assert "2 CPUs @ 2600 MHz" in footer and "kernel 6.1.0-18-amd64" in footer
            continue
        assert "Intel(R) Xeon(R) CPU E5-2690 v4" in footer
        assert "kernel 6.1.0-18-amd64" in footer
        if chart.section == "compare":
            continue
        assert "message 64 B" in footer
        assert "pinning: server CPUs 0, loadgen CPUs 1" in footer
        assert "duration 2 s after 1 s warm-up" in footer
    pp = next(c for c in charts if c.name == "throughput-pingpong")
    assert "median of up to 3 repetitions" in pp.footer


def test_single_strategy_single_point_renders(single, tmp_path):
    groups, charts, notes = build(single)
    assert [c.name for c in charts] == ["throughput-pingpong", "latency-pingpong",
                                        "cost-pingpong", "spectrum-pingpong-c100"]
    assert _xy(charts[0].lines("requests_per_s")["epoll"]) == ([100], [90000])
    for c in charts:
        ch.save(c, tmp_path, "png")
        assert (tmp_path / c.file).stat().st_size > 5000


def test_all_failed_workload_still_renders(tmp_path):
    doc = fixture_doc("results-single.json")
    doc["cells"][0].update(status="failed", reason="server did not print READY within 5 s",
                           metrics={}, loadgen=None)
    results = load_results(write_json(tmp_path, doc))
    _, charts, notes = build(results)
    chart = charts[0]
    assert chart.lines("requests_per_s") == {}
    assert [(k, s, x) for k, s, x, _ in _marks(chart, "requests_per_s")] == [
        ("failed", "epoll", 100)]
    assert "no data" in [t.get_text() for t in chart.panels["requests_per_s"].texts]
    assert any("no histogram" in n for n in notes)
    ch.save(chart, tmp_path, "svg")
    assert (tmp_path / "throughput-pingpong.svg").read_text().lstrip().startswith("<?xml")


def test_micro_charts_of_the_real_binary_output(small):
    micro = load_micro(fixture("micro-real-sample.json"))
    charts, notes = ch.micro_charts(micro, small)
    assert [c.name for c in charts] == ["micro-bm_dispatch-1active", "micro-bm_register"]
    # This output is from before the mechanism "io_uring" (POLL_ADD readiness)
    # was named "io_uring-poll": it is read under the new name.
    assert set(charts[0].lines("micro")) == {"select", "epoll", "io_uring-poll", "libevent-poll"}
    for s in charts[0].series["micro"]:
        assert s.x == [10, 100]
        for x, y in zip(s.x, s.y):
            p = next(p for p in micro.points if p.parsed.family == "BM_Dispatch"
                     and p.parsed.mechanism == s.strategy and p.parsed.n == x
                     and p.parsed.active == 1)
            assert y == pytest.approx(p.median)
    assert charts[1].panels["micro"].get_ylabel() == "time per fd"
    assert sorted(n.split(":")[0] for n in notes) == ["BM_HistogramRecord", "BM_Rot13/64"]
    assert "io_uring poll multishot" in charts[0].footer


def test_nothing_drawn_is_outside_the_axes(small):
    """Every line point, min-max bar and edge marker of every chart lies within
    its panel's limits: no data is clipped away."""
    micro = load_micro(fixture("micro.json"))
    _, charts, _ = build(small, micro)
    for chart in charts:
        for key, ax in chart.panels.items():
            x0, x1 = sorted(ax.get_xlim())
            y0, y1 = sorted(ax.get_ylim())
            for label, ln in chart.lines(key).items():
                x, y = _xy(ln)
                assert all(x0 <= v <= x1 for v in x), (chart.name, key, label, x, (x0, x1))
                assert all(y0 <= v <= y1 for v in y), (chart.name, key, label, y, (y0, y1))
            for s in chart.series[key]:
                assert all(y0 <= v <= y1 for v in s.lo + s.hi), (chart.name, key, s.strategy)
            for ln in chart.mark_lines(key):
                assert x0 <= float(ln.get_xdata()[0]) <= x1, (chart.name, ln.get_gid())


def test_output_of_the_real_harness_renders():
    """A sample written by `muxbench run --suite smoke` (cells trimmed to
    epoll and thread; numbers meaningless): the format the harness writes."""
    results = load_results(fixture("results-harness-sample.json"))
    groups, charts, notes = build(results)
    names = [c.name for c in charts]
    assert "throughput-pingpong" in names and "spectrum-rate" in names
    assert any(n.startswith("c10k-idle-active") for n in names)
    raw = fixture_doc("results-harness-sample.json")
    chart = next(c for c in charts if c.name == "throughput-pingpong")
    for strategy in ("epoll", "thread"):
        cells = [c for c in raw["cells"] if c["strategy"] == strategy
                 and c["workload"] == "pingpong" and c["status"] == "ok"]
        counts = sorted({c["connections"] for c in cells})
        medians = []
        for n in counts:
            vals = sorted(c["metrics"]["requests_per_s"] for c in cells if c["connections"] == n)
            medians.append(vals[len(vals) // 2] if len(vals) % 2 else
                           (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2)
        x, y = _xy(chart.lines("requests_per_s")[strategy])
        assert x == counts and y == pytest.approx(medians)
    spec = next(c for c in charts if c.name == "spectrum-rate")
    assert set(spec.panels) == {"latency", "latency_uncorrected"}
    assert set(spec.lines("latency")) == {"epoll c4", "thread c4"}


def test_spectrum_notes_cells_without_a_histogram(tmp_path):
    doc = fixture_doc("results-single.json")
    c2 = copy.deepcopy(doc["cells"][0])
    c2.update(id="select/pingpong/c100/r0", strategy="select")
    c2["loadgen"]["latency"]["histogram"]["buckets"] = []
    doc["cells"].append(c2)
    results = load_results(write_json(tmp_path, doc))
    (name, _, cells, notes), = ch.default_spectrum_cells(results)
    assert name == "spectrum-pingpong-c100" and [c.strategy for c in cells] == ["epoll"]
    assert notes == ["select: no histogram at c100 (no histogram buckets recorded)"]


def _bound_letters(chart, panel):
    """{(strategy, x): (class, letter)} of the bound letters drawn in a panel."""
    out = {}
    for t in chart.panels[panel].texts:
        gid = t.get_gid() or ""
        if gid.startswith("bound:"):
            _, cls, strategy = gid.split(":", 2)
            out[(strategy, float(t.xy[0]))] = (cls, t.get_text())
    return out


def test_the_side_that_limited_a_point_is_lettered_above_it(tmp_path):
    doc = fixture_doc()
    bounds = {"epoll/pingpong/c10/r0": "client-bound", "epoll/pingpong/c10/r1": "client-bound",
              "epoll/pingpong/c10/r2": "neither",
              # a tie between server-bound and neither: not called the server's
              "epoll/pingpong/c100/r0": "server-bound", "epoll/pingpong/c100/r1": "neither",
              "epoll/pingpong/c2000/r0": "both", "epoll/pingpong/c2000/r1": "both",
              "epoll/pingpong/c2000/r2": "both",
              "io_uring/pingpong/c10/r0": "server-bound"}
    for c in doc["cells"]:
        if c["id"] in bounds:
            c["metrics"]["bound"] = bounds[c["id"]]
    results = load_results(write_json(tmp_path, doc))
    g = _by_label(group_cells(results.cells), "pingpong")
    chart = ch.throughput_chart(results, g)
    assert _bound_letters(chart, "requests_per_s") == {
        ("epoll", 10.0): ("client-bound", "C"), ("epoll", 2000.0): ("both", "SC"),
        ("io_uring", 10.0): ("server-bound", "S")}
    legend = [t.get_text() for t in chart.fig.legends[0].get_texts()]
    assert ch.BOUND_LEGEND in legend



def test_no_letter_and_no_legend_entry_without_a_classified_cell(small):
    chart = ch.throughput_chart(small, _by_label(group_cells(small.cells), "pingpong"))
    assert _bound_letters(chart, "requests_per_s") == {}
    assert ch.BOUND_LEGEND not in [t.get_text() for t in chart.fig.legends[0].get_texts()]


# --- an open-loop cell that missed its target rate ---------------------------------

def _rate_missed_doc(tmp_path):
    """results-small with epoll's rate cell at c100 recorded as rate_not_met:
    it ran, so its numbers are drawn, hollow."""
    doc = fixture_doc()
    for c in doc["cells"]:
        if c["id"] == "epoll/rate/c100/r0":
            c["status"] = "rate_not_met"
            c["reason"] = ("rate not met: 2178 of 4000 requests due (54.5 %, more than 1 %) "
                           "were not sent on schedule; target 20000/s, achieved 19990/s")
            c["metrics"]["rate_met"] = False
            c["metrics"]["rate_missed_fraction"] = 0.5445
    return load_results(write_json(tmp_path, doc))


def _hollow(chart, panel):
    return {ln.get_gid()[len("ratemiss:"):]: ln for ln in chart.panels[panel].get_lines()
            if (ln.get_gid() or "").startswith("ratemiss:")}


def test_a_missed_rate_is_drawn_hollow_with_a_legend_note(tmp_path):
    res = _rate_missed_doc(tmp_path)
    g = _by_label(group_cells(res.cells), "rate")
    for chart, panel in ((ch.throughput_chart(res, g), "requests_per_s"),
                         (ch.latency_chart(res, g), "p99_ns")):
        # The value is drawn on the strategy's line, not dropped to the edge...
        x, y = _xy(chart.lines(panel)["epoll"])
        assert 100 in x
        assert not any(s == "epoll" and k == "failed" for k, s, _, _ in _marks(chart, panel))
        # ...with a hollow marker over it, in the strategy's colour.
        hollow = _hollow(chart, panel)
        assert set(hollow) == {"epoll"}
        ln = hollow["epoll"]
        assert _xy(ln) == ([100], [y[x.index(100)]])
        assert ln.get_markerfacecolor() == "white"
        assert to_hex(ln.get_markeredgecolor()) == style.strategy_style("epoll", "readiness")["color"]
        assert ln.get_marker() == chart.lines(panel)["epoll"].get_marker()
        legend = [t.get_text() for t in chart.fig.legends[0].get_texts()]
        assert ch.RATE_MISSED_LEGEND in legend


def test_no_hollow_marker_or_note_when_every_rate_was_met(small):
    g = _by_label(group_cells(small.cells), "rate")
    chart = ch.throughput_chart(small, g)
    assert _hollow(chart, "requests_per_s") == {}
    legend = [t.get_text() for t in chart.fig.legends[0].get_texts()]
    assert ch.RATE_MISSED_LEGEND not in legend


def test_the_spectrum_labels_a_missed_rate(tmp_path):
    res = _rate_missed_doc(tmp_path)
    specs = {name: cells for name, _, cells, _ in ch.default_spectrum_cells(res)}
    chart = ch.spectrum_chart(res, "spectrum-rate", "t", specs["spectrum-rate"])
    assert "epoll c100 (rate not met)" in chart.lines("latency")

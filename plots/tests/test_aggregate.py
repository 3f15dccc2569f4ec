"""Points, repetitions and workload variants."""

import copy

import pytest

from helpers import fixture_doc, write_json
from muxbench_plots.aggregate import build_series, group_cells
from muxbench_plots.inputs import load_results


def _group(groups, label):
    found = [g for g in groups if g.label == label]
    assert found, [g.label for g in groups]
    return found[0]


def test_groups_of_the_fixture(small):
    groups = group_cells(small.cells)
    assert [g.label for g in groups] == ["pingpong", "idle · active 10", "rate"]
    assert [g.slug for g in groups] == ["pingpong", "idle-active10", "rate"]
    pp = groups[0]
    assert pp.strategies == ["thread", "select", "epoll", "epoll-oneshot", "libevent", "io_uring"]
    assert pp.connection_counts == [10, 100, 2000]


def test_repetitions_median_min_max(small):
    pp = _group(group_cells(small.cells), "pingpong")
    p = pp.point("epoll", 10)
    st = p.stat("requests_per_s")
    assert (st.median, st.min, st.max, st.n) == (50000, 47000, 52000, 3)
    assert p.status == "ok"
    # Two ok repetitions and one failed: median of the two, status partial.
    p = pp.point("epoll", 100)
    st = p.stat("requests_per_s")
    assert (st.median, st.min, st.max, st.n) == (89000, 88000, 90000, 2)
    assert p.status == "partial"
    assert pp.point("select", 2000).status == "skipped"
    assert pp.point("thread", 2000).status == "failed"
    assert pp.point("epoll-oneshot", 10) is None


def test_build_series_marks_every_cell_without_a_value(small):
    pp = _group(group_cells(small.cells), "pingpong")
    series, marks = build_series(pp.points, "requests_per_s")
    by = {s.strategy: s for s in series}
    assert by["epoll"].x == [10, 100, 2000]
    assert by["epoll"].y == [50000, 89000, 81000]
    assert by["epoll"].lo == [47000, 88000, 80000]
    assert by["epoll"].hi == [52000, 90000, 82000]
    assert by["select"].x == [10, 100]
    assert {(m.strategy, m.x, m.kind) for m in marks} == {
        ("thread", 2000, "failed"), ("select", 2000, "skipped"), ("epoll", 100, "failed")}
    reasons = {cid: why for m in marks for cid, why in m.reasons}
    assert reasons["select/pingpong/c2000/r0"] == \
        "select: 2000 connections exceed FD_SETSIZE (1024)"
    # An ok cell that did not measure the metric is marked too.
    _, marks = build_series(pp.points, "server_memory_per_connection_bytes")
    assert ("io_uring", 2000, "no data") in {(m.strategy, m.x, m.kind) for m in marks}


def test_idle_x_is_idle_connections(small):
    idle = _group(group_cells(small.cells), "idle · active 10")
    series, marks = build_series(idle.points, "requests_per_s",
                                 x_of=lambda p: p.connections - p.active)
    by = {s.strategy: s for s in series}
    assert by["epoll"].x == [0, 90, 1990]
    assert by["epoll"].y == [40000, 39500, 39000]
    assert {(m.strategy, m.x, m.kind) for m in marks} == {("thread", 1990, "failed"),
                                                           ("select", 1990, "skipped")}


def test_a_parameter_that_differs_at_one_point_splits_the_workload(tmp_path):
    doc = fixture_doc("results-single.json")
    base = doc["cells"][0]
    cells = []
    for i, (conns, size) in enumerate([(10, 64), (10, 4096), (100, 64), (100, 4096)]):
        c = copy.deepcopy(base)
        c.update(id=f"epoll/bulk/c{conns}/m{size}/r0", workload="bulk", connections=conns,
                 active=conns)
        c["params"]["message_size_bytes"] = size
        c["metrics"]["requests_per_s"] = 1000 * (i + 1)
        cells.append(c)
    doc["cells"] = cells
    groups = group_cells(load_results(write_json(tmp_path, doc)).cells)
    assert [g.label for g in groups] == ["bulk · message 64 B", "bulk · message 4096 B"]
    assert [g.slug for g in groups] == ["bulk-msg64", "bulk-msg4096"]
    s, _ = build_series(groups[1].points, "requests_per_s")
    assert (s[0].x, s[0].y) == ([10, 100], [2000, 4000])


def test_a_parameter_that_follows_connections_does_not_split(tmp_path):
    doc = fixture_doc("results-single.json")
    base = doc["cells"][0]
    cells = []
    for conns in (10, 100, 1000):
        c = copy.deepcopy(base)
        c.update(id=f"epoll/rate/c{conns}/r0", workload="rate", connections=conns, active=conns)
        c["params"]["rate_per_s"] = conns * 100     # the rate scales with connections
        cells.append(c)
    doc["cells"] = cells
    groups = group_cells(load_results(write_json(tmp_path, doc)).cells)
    assert len(groups) == 1 and groups[0].connection_counts == [10, 100, 1000]


def test_single_point(single):
    groups = group_cells(single.cells)
    assert len(groups) == 1
    series, marks = build_series(groups[0].points, "p99_ns")
    assert len(series) == 1 and series[0].x == [100] and series[0].y == [100000]
    assert marks == []


@pytest.mark.parametrize("statuses, expect", [
    (["ok", "ok"], "ok"), (["ok", "failed"], "partial"), (["failed", "skipped"], "failed"),
    (["skipped", "skipped"], "skipped"), (["ok", "rate_not_met"], "rate_not_met"),
    (["rate_not_met", "failed"], "partial")])
def test_point_status(tmp_path, statuses, expect):
    doc = fixture_doc("results-single.json")
    base = doc["cells"][0]
    doc["cells"] = []
    for rep, st in enumerate(statuses):
        c = copy.deepcopy(base)
        c.update(id=f"epoll/pingpong/c100/r{rep}", repetition=rep, status=st)
        doc["cells"].append(c)
    groups = group_cells(load_results(write_json(tmp_path, doc)).cells)
    assert groups[0].point("epoll", 100).status == expect


def test_idle_is_split_by_active(tmp_path):
    """The C10K chart holds active fixed: idle cells with another active count
    form another group (and chart)."""
    doc = fixture_doc("results-single.json")
    base = doc["cells"][0]
    cells = []
    for conns, active in ((100, 10), (1000, 10), (1000, 100), (5000, 100)):
        c = copy.deepcopy(base)
        c.update(id=f"epoll/idle/c{conns}/r{len(cells)}", workload="idle", connections=conns,
                 active=active, repetition=len(cells))
        cells.append(c)
    doc["cells"] = cells
    groups = group_cells(load_results(write_json(tmp_path, doc)).cells)
    assert [(g.label, g.connection_counts) for g in groups] == [
        ("idle · active 10", [100, 1000]), ("idle · active 100", [1000, 5000])]


def test_server_threads_make_their_own_series(tmp_path):
    # A strategy run with suite.server_threads [1, 2] is two series
    # ("<strategy>/t1", "<strategy>/t2") of its strategy's family and colour,
    # listed right after it; the threads never split a workload into variants.
    cells = []
    for strategy, family, threads in (("epoll", "readiness", None),
                                      ("epoll-exclusive", "readiness", 1),
                                      ("epoll-exclusive", "readiness", 2),
                                      ("libuv", "libuv", None),
                                      ("asio", "asio", None)):
        params = {"message_size_bytes": 64, "server_args": []}
        tid = ""
        if threads is not None:
            params["server_threads"] = threads
            tid = f"/t{threads}"
        cells.append({"id": f"{strategy}/pingpong/c10{tid}/r0", "strategy": strategy,
                      "family": family, "workload": "pingpong", "connections": 10,
                      "repetition": 0, "status": "ok", "params": params,
                      "metrics": {"requests_per_s": 1000.0 * (len(cells) + 1)}})
    doc = fixture_doc()
    doc["cells"] = cells
    r = load_results(write_json(tmp_path, doc))
    groups = group_cells(r.cells)
    assert [g.label for g in groups] == ["pingpong"]
    assert groups[0].strategies == ["epoll", "epoll-exclusive/t1", "epoll-exclusive/t2",
                                    "libuv", "asio"]
    series, marks = build_series(groups[0].points, "requests_per_s")
    assert [s.strategy for s in series] == groups[0].strategies and not marks
    assert [s.family for s in series] == ["readiness", "readiness", "readiness", "libuv", "asio"]


def test_io_uring_options_split_a_workload_into_variants(tmp_path):
    # Cells of io_uring with and without an option (params.server_args, e.g.
    # --server-arg=--uring-send-zc) are different experiments: one chart each,
    # titled by the flags, and the cells without any "server defaults".
    cells = []
    for strategy, family, args in (("epoll", "readiness", []),
                                   ("io_uring", "completion", []),
                                   ("io_uring", "completion", ["--uring-send-zc"]),
                                   ("io_uring", "completion", ["--uring-recv-bundle"])):
        cells.append({"id": f"{strategy}/bulk/c10/r{len(cells)}", "strategy": strategy,
                      "family": family, "workload": "bulk", "connections": 10,
                      "repetition": len(cells), "status": "ok",
                      "params": {"message_size_bytes": 4096, "server_args": args},
                      "metrics": {"requests_per_s": 1000.0 * (len(cells) + 1)}})
    doc = fixture_doc()
    doc["cells"] = cells
    groups = group_cells(load_results(write_json(tmp_path, doc)).cells)
    by_label = {g.label: g for g in groups}
    assert set(by_label) == {"bulk · server defaults", "bulk · server --uring-send-zc",
                             "bulk · server --uring-recv-bundle"}
    assert by_label["bulk · server defaults"].strategies == ["epoll", "io_uring"]
    zc = by_label["bulk · server --uring-send-zc"]
    assert zc.strategies == ["io_uring"]
    assert zc.point("io_uring", 10).stat("requests_per_s").median == 3000.0
    assert len({g.slug for g in groups}) == 3

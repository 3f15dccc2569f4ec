"""Reading results, micro-benchmark and compare files; rejecting bad ones."""

import json

import pytest

from helpers import fixture, fixture_doc, run_plot, write_json
from muxbench_plots.inputs import (InputError, _entry_value, load_compare, load_micro,
                                   load_results, parse_micro_name, select_cells)


def test_results_fixture_loads(small):
    assert len(small.cells) == 36
    assert small.environment["kernel"] == "6.1.0-18-amd64"
    by_status = {s: sum(c.status == s for c in small.cells) for s in ("ok", "failed", "skipped")}
    assert by_status == {"ok": 30, "failed": 4, "skipped": 2}
    c = small.cell("epoll/pingpong/c10/r1")
    assert (c.strategy, c.family, c.workload, c.connections, c.active, c.repetition) == \
        ("epoll", "readiness", "pingpong", 10, 10, 1)
    assert c.metric("requests_per_s") == 52000


def test_missing_optional_fields_default(tmp_path):
    doc = {"schema_version": 1, "tool": "muxbench", "finished": None, "environment": {},
           "suite": {}, "cells": [
               {"id": "x/pingpong/c5/r0", "strategy": "x", "workload": "pingpong",
                "connections": 5, "repetition": 0, "params": {}, "status": "ok"}]}
    r = load_results(write_json(tmp_path, doc))
    c = r.cells[0]
    assert (c.active, c.repetition, c.family, c.metrics, c.loadgen) == (5, 0, None, {}, None)
    assert r.finished is None and r.environment == {} and r.started is None


# The same rules and messages as the C++ readers (harness/results.cc; docs/results.md,
# "Reading results files"): "file: field: problem".
@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(schema_version=2), "schema_version: 2 is not 1"),
    (lambda d: d.pop("schema_version"), "schema_version: missing"),
    (lambda d: d.update(tool="muxbench-loadgen"), "tool: 'muxbench-loadgen' is not muxbench"),
    (lambda d: d.pop("cells"), "cells: missing"),
    (lambda d: d.pop("finished"), "finished: missing"),
    (lambda d: d.update(environment=[]), "environment: [] is not an object"),
    (lambda d: d["cells"][0].pop("strategy"), "cells[0].strategy: missing"),
    (lambda d: d["cells"][0].update(workload=7), "cells[0].workload: 7 is not a string"),
    (lambda d: d["cells"][0].update(status="running"),
     "cells[0].status: 'running' is not a status"),
    (lambda d: d["cells"][0].update(connections="many"),
     "cells[0].connections: 'many' is not an integer"),
    (lambda d: d["cells"][0].update(connections=0), "cells[0].connections: 0 is out of range"),
    (lambda d: d["cells"][0].update(connections=5.0),
     "cells[0].connections: 5.0 is not an integer"),
    (lambda d: d["cells"][0]["metrics"].update(p99_ns="slow"),
     "cells[0].metrics.p99_ns: 'slow' is not a number"),
    (lambda d: d["cells"][0].update(loadgen={"status": 1}), "cells[0].loadgen.status: 1 is not a"),
    (lambda d: d["cells"].append(dict(d["cells"][0])), "cells[1].id: 'epoll/pingpong/c100/r0' "
                                                       "appears twice"),
])
def test_bad_results_are_rejected_with_one_line(tmp_path, mutate, message):
    doc = fixture_doc("results-single.json")
    mutate(doc)
    path = write_json(tmp_path, doc)
    with pytest.raises(InputError) as e:
        load_results(path)
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_results_not_an_object(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"r.json: \(top level\): \[1,2\] is not an object"):
        load_results(path)


@pytest.mark.parametrize("token", ["1e400", "-1e999", "1" + "0" * 400])
def test_a_number_no_double_holds_names_the_field(tmp_path, token):
    text = json.dumps(fixture_doc("results-single.json")).replace('"elapsed_s": ',
                                                                 f'"elapsed_s": {token}, "x": ', 1)
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_results(path)
    assert str(e.value).startswith(f"{path}: cells[0].elapsed_s: {token[:20]}")
    assert "is out of range" in str(e.value)


def test_nan_is_not_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(fixture_doc("results-single.json")).replace(
        '"elapsed_s": ', '"elapsed_s": NaN, "x": ', 1))
    with pytest.raises(InputError, match="not valid JSON: NaN is not JSON"):
        load_results(path)


@pytest.mark.parametrize("name", [
    "BM_Dispatch/epoll/1000/1",
    "BM_Dispatch/epoll/1000/1/real_time",
    "BM_Dispatch/epoll/1000/1/min_time:0.500/repeats:3",
    "BM_Dispatch/epoll/fds:1000/active:1",
    "BM_Dispatch/epoll/active:1/n:1000",
])
def test_micro_name_variants(name):
    p = parse_micro_name(name)
    assert (p.family, p.mechanism, p.n, p.active, p.extras) == ("BM_Dispatch", "epoll", 1000, 1, ())


def test_micro_mechanism_renamed_since_is_read_under_its_name():
    assert parse_micro_name("BM_Dispatch/io_uring/100/1").mechanism == "io_uring-poll"
    assert parse_micro_name("BM_Dispatch/io_uring-poll/100/1").mechanism == "io_uring-poll"


def test_micro_name_extra_components():
    p = parse_micro_name("BM_Dispatch/epoll/et/100/10/7/threads:2")
    assert (p.mechanism, p.n, p.active) == ("epoll-et", 100, 10)
    assert p.extras == (("threads", 2), ("arg3", 7))
    q = parse_micro_name("BM_epoll/64")
    assert (q.family, q.mechanism, q.n, q.active, q.has_mechanism) == \
        ("BM_epoll", "epoll", 64, None, False)
    assert parse_micro_name("BM_Register/poll/5000").has_mechanism
    r = parse_micro_name("BM_Wakeup/epoll")
    assert (r.mechanism, r.n) == ("epoll", None)


def test_micro_fixture_values():
    m = load_micro(fixture("micro.json"))
    by_name = {p.name: p for p in m.points}
    sel = by_name["BM_Dispatch/select/100/1"]
    # Three repetitions from the iteration entries; the _mean aggregate is not a fourth.
    assert sorted(sel.values_ns) == [900, 950, 1000] and sel.median == 950
    assert sel.value_kind == "ns_per_event" and sel.source == "iterations"
    ur = by_name["BM_Dispatch/io_uring/100/1"]
    assert ur.values_ns == [300] and ur.source == "aggregate median"
    err = by_name["BM_Dispatch/select/10000/1"]
    assert "FD_SETSIZE" in err.error and err.values_ns == []
    wake = by_name["BM_Wakeup/epoll"]
    assert wake.values_ns == [2500] and wake.value_kind == "real_time"
    et = by_name["BM_Dispatch/epoll/10000/100/real_time"]
    assert (et.parsed.n, et.parsed.active, et.values_ns) == (10000, 100, [60])


def test_micro_value_fallbacks():
    assert _entry_value({"real_time": 2.5, "time_unit": "us"}) == (2500.0, "real_time")
    assert _entry_value({"real_time": 3, "time_unit": "ms", "items_per_second": 1e6}) == \
        (1000.0, "items_per_second")
    assert _entry_value({"ns_per_event": 7, "real_time": 3}) == (7.0, "ns_per_event")


def test_micro_rejects_other_json(tmp_path):
    with pytest.raises(InputError, match="no 'benchmarks' list"):
        load_micro(fixture("compare.json"))


def test_compare_fixture():
    c = load_compare(fixture("compare.json"))
    assert len(c.rows) == 6
    assert c.meta["base"] == "results/base.json" and c.meta["threshold_pct"] == 5
    last = c.rows[-1]
    assert last.id == "io_uring/rate/c100"            # composed: the row has no id
    assert last.change_pct == pytest.approx(-25.0)     # computed: the row has no change_pct
    new = c.rows[3]
    assert new.change_pct is None and new.verdict == "new"


def test_compare_tolerates_a_bare_list_and_missing_fields(tmp_path):
    path = write_json(tmp_path, [{"metric": "p99_ns"}, {"id": "a", "base": 1, "new": 2}])
    c = load_compare(path)
    assert [r.id for r in c.rows] == ["cells[0]", "a"]
    assert c.rows[1].change_pct == pytest.approx(100.0)
    assert c.rows[0].verdict == "unknown"


def test_select_cells(small):
    picked = select_cells(small, "epoll/pingpong/c100, epoll/rate/c10/r0")
    assert [c.id for c in picked] == ["epoll/pingpong/c100/r0", "epoll/rate/c10/r0"]
    with pytest.raises(InputError, match="no cell with id 'nope'"):
        select_cells(small, "nope")


# --- the command on bad input: one line, exit status 2 ------------------------

def _one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0]
    assert proc.stdout == ""


def test_cli_missing_file(tmp_path):
    _one_line_error(run_plot(tmp_path / "nope.json", "--out", tmp_path / "o"),
                    "nope.json: cannot open")
    assert not (tmp_path / "o").exists()


def test_cli_not_json(tmp_path):
    _one_line_error(run_plot(fixture("not-json.json"), "--out", tmp_path / "o"),
                    "not-json.json", "not valid JSON")


def test_cli_wrong_schema_version(tmp_path):
    _one_line_error(run_plot(fixture("schema-v2.json"), "--out", tmp_path / "o"),
                    "schema-v2.json: schema_version: 2 is not 1")


def test_cli_binary_garbage(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(b"\xff\xfe\x00binary")
    _one_line_error(run_plot(path, "--out", tmp_path / "o"), "garbage.json: not valid JSON")


def test_cli_bad_micro_and_compare(tmp_path):
    _one_line_error(run_plot(fixture("results-single.json"), "--micro", tmp_path / "m.json",
                             "--out", tmp_path / "o"), "micro-benchmark file", "does not exist")
    _one_line_error(run_plot(fixture("results-single.json"), "--compare",
                             fixture("not-json.json"), "--out", tmp_path / "o"),
                    "compare file", "not valid JSON")


def test_cli_usage_errors(tmp_path):
    _one_line_error(run_plot(fixture("results-single.json"), "--format", "jpg"), "--format")
    _one_line_error(run_plot(), "RESULTS.json")
    _one_line_error(run_plot(fixture("results-single.json"), "--cells", "nope/rate/c1",
                             "--out", tmp_path / "o"), "nope/rate/c1")


def test_micro_output_of_the_real_binary():
    """A sample written by build/bin/muxbench-micro (short run, format only)."""
    m = load_micro(fixture("micro-real-sample.json"))
    by_name = {p.name: p for p in m.points}
    d = by_name["BM_Dispatch/epoll/100/1"]
    assert (d.parsed.mechanism, d.parsed.n, d.parsed.active) == ("epoll", 100, 1)
    assert len(d.values_ns) == 2 and d.value_kind == "ns_per_event" and d.source == "iterations"
    assert by_name["BM_Register/epoll/10"].value_kind == "ns_per_fd"
    assert by_name["BM_HistogramRecord"].value_kind == "ns_per_sample"
    assert not by_name["BM_Rot13/64"].parsed.has_mechanism
    assert m.context["kernel"]


def test_micro_counters_fill_in_n_and_active(tmp_path):
    path = write_json(tmp_path, {"benchmarks": [
        {"name": "BM_Dispatch/epoll", "run_type": "iteration", "real_time": 1, "time_unit": "ns",
         "ns_per_event": 5, "watched": 1000, "active": 100}]})
    p = load_micro(path).points[0]
    assert (p.parsed.mechanism, p.parsed.n, p.parsed.active) == ("epoll", 1000, 100)

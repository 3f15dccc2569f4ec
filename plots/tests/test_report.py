"""The command end to end: files, the HTML report, check-report.sh."""

import json
import os
import shutil
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers import PLOTS, ROOT, fixture, fixture_doc, run_plot, run_script, write_json
from muxbench_plots.check import screenshot_problems, static_problems

EXPECTED_CHARTS = [
    "throughput-pingpong", "latency-pingpong", "cost-pingpong",
    "c10k-idle-active10", "latency-idle-active10", "cost-idle-active10",
    "throughput-rate", "latency-rate", "cost-rate",
    "spectrum-rate", "spectrum-pingpong-c100",
    "micro-bm_dispatch-1active", "micro-bm_dispatch-100active",
    "compare-requests_per_s", "compare-p99_ns",
]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.ids, self.text = [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if "id" in a:
            self.ids.add(a["id"])

    def handle_data(self, data):
        self.text.append(data)


def _page(path):
    p = _Page()
    p.feed(Path(path).read_text(encoding="utf-8"))
    p.text = " ".join(p.text)
    return p


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = run_plot(fixture("results-small.json"), "--micro", fixture("micro.json"),
                    "--compare", fixture("compare.json"), "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return out, proc


def test_expected_files_appear(full_report):
    out, proc = full_report
    assert f"{out}/index.html" in proc.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([f"{n}.png" for n in EXPECTED_CHARTS] + ["index.html"])
    for n in EXPECTED_CHARTS:
        data = (out / f"{n}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10000, n


def test_report_shows_every_chart_with_relative_paths(full_report):
    out, _ = full_report
    page = _page(out / "index.html")
    # Grouped by section, in the order of the report's navigation.
    sections = ["throughput", "latency", "c10k", "cost", "spectrum", "micro", "compare"]
    order = sorted(EXPECTED_CHARTS, key=lambda n: sections.index(n.split("-")[0]))
    assert page.imgs == [f"{n}.png" for n in order]
    assert static_problems(out / "index.html") == []
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_report_lists_failures_with_reasons(full_report):
    out, _ = full_report
    page = _page(out / "index.html")
    for reason in ("server exited: signal 9", "select: 2000 connections exceed FD_SETSIZE (1024)",
                   "loadgen: 3 connections reset by peer", "server exited: signal 11",
                   "loadgen: connect: Resource temporarily unavailable (1500 of 2000 established)"):
        assert reason in page.text
    assert {f"fail-{i}" for i in range(1, 7)} <= page.ids
    assert "4 failed, 2 skipped" in page.text


def test_summary_tables(full_report):
    out, _ = full_report
    html = (out / "index.html").read_text(encoding="utf-8")
    page = _page(out / "index.html")
    for table in ("table-pingpong", "table-idle-active10", "table-rate"):
        assert table in page.ids
    pingpong = html[html.index('id="table-pingpong"'):html.index('id="table-idle-active10"')]
    # epoll at c100: median of the 2 ok repetitions, r2 failed and numbered.
    assert "<b>89k</b>/s" in pingpong and "p99 102 µs" in pingpong and "FAILED r2" in pingpong
    assert pingpong.count("FAILED") == 2 and pingpong.count(">skipped<") == 1
    assert "client-bound" in pingpong                     # io_uring c2000 saturated the client
    assert "not run" in pingpong                          # epoll-oneshot at c10


def test_report_environment_micro_compare(full_report):
    out, _ = full_report
    page = _page(out / "index.html")
    for text in ("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz", "6.1.0-18-amd64",
                 "sysctl.somaxconn", "ip_local_port_range", "2.1.12-stable",
                 "BM_Dispatch/select/10000/1", "fd 10003 does not fit in an fd_set",
                 "results/base.json", "-20.0%",
                 "BM_Wakeup/epoll: no mechanism and descriptor count",
                 "select: c100 has no histogram (failed: server exited: signal 11)"):
        assert text in page.text, text


def test_svg_format(tmp_path):
    proc = run_plot(fixture("results-single.json"), "--format", "svg", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = _page(tmp_path / "index.html")
    assert page.imgs == ["throughput-pingpong.svg", "latency-pingpong.svg", "cost-pingpong.svg",
                         "spectrum-pingpong-c100.svg"]
    assert not list(tmp_path.glob("*.png"))
    assert static_problems(tmp_path / "index.html") == []
    # An unfinished run says so.
    assert "did not finish" in page.text


def test_default_output_directory_is_plots_out_stem(tmp_path):
    stem = f"pytest-default-out-{os.getpid()}"
    src = tmp_path / f"{stem}.json"
    shutil.copy(fixture("results-single.json"), src)
    out = PLOTS / "out" / stem
    root_existed = out.parent.exists()
    try:
        proc = run_plot(src, cwd=tmp_path)               # from anywhere
        assert proc.returncode == 0, proc.stderr
        assert (out / "index.html").is_file() and (out / "throughput-pingpong.png").is_file()
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if not root_existed and out.parent.is_dir() and not any(out.parent.iterdir()):
            out.parent.rmdir()


def test_empty_results(tmp_path):
    doc = fixture_doc("results-single.json")
    doc["cells"] = []
    proc = run_plot(write_json(tmp_path, doc), "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    page = _page(tmp_path / "o" / "index.html")
    assert page.imgs == [] and "holds no cells" in page.text


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_plot(fixture("results-single.json"), "--out", blocker / "sub")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot write" in proc.stderr


# --- check-report.sh ----------------------------------------------------------

def _fake_chromium(tmp_path, body):
    """A stand-in for /usr/bin/chromium that writes a PNG to --screenshot=PATH."""
    script = tmp_path / "fake-chromium"
    script.write_text(f"""#!/usr/bin/python3
import sys
args = sys.argv[1:]
shot = next(a.split("=", 1)[1] for a in args if a.startswith("--screenshot="))
assert "--headless" in args and "--no-sandbox" in args and any(
    a.startswith("--user-data-dir=") for a in args), args
assert args[-1].startswith("file:///") and args[-1].endswith("/index.html"), args
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
fig = Figure(figsize=(6, 4))
{body}
fig.savefig(shot, dpi=100)
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_check_report_with_a_fake_chromium(full_report, tmp_path):
    out, _ = full_report
    good = _fake_chromium(tmp_path,
                          "ax = fig.subplots()\n"
                          "for i in range(6): ax.plot(range(10), [j * i for j in range(10)])\n"
                          "ax.set_title('report')")
    proc = run_script("check-report.sh", out, tmp_path / "shot.png",
                      env={"MUXBENCH_CHROMIUM": str(good)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "render check passed" in proc.stdout
    assert (tmp_path / "shot.png").is_file()
    blank = _fake_chromium(tmp_path, "pass")
    proc = run_script("check-report.sh", out / "index.html", tmp_path / "blank.png",
                      env={"MUXBENCH_CHROMIUM": str(blank)})
    assert proc.returncode == 1
    assert "distinct colours" in proc.stderr or "differ from the background" in proc.stderr


def test_check_report_static_failures(full_report, tmp_path):
    out, _ = full_report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "latency-rate.png").unlink()
    proc = run_script("check-report.sh", copy, env={"MUXBENCH_CHROMIUM": "/nonexistent"})
    assert proc.returncode == 1 and "latency-rate.png' does not exist" in proc.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    (copy / "index.html").write_text(html.replace("</head>", '<script src="https://x.js">'
                                                              "</script></head>"))
    (copy / "latency-rate.png").write_bytes((out / "latency-rate.png").read_bytes())
    problems = static_problems(copy / "index.html")
    assert any("network" in p for p in problems) and any("<script>" in p for p in problems)
    proc = run_script("check-report.sh", tmp_path / "nothing-here")
    assert proc.returncode == 1


def test_check_report_without_chromium_says_skipped(full_report):
    out, _ = full_report
    proc = run_script("check-report.sh", out, env={"MUXBENCH_CHROMIUM": "/nonexistent/chromium"})
    assert proc.returncode == 0
    assert "static checks passed" in proc.stdout
    assert "render check SKIPPED: /nonexistent/chromium is not installed" in proc.stdout


@pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK),
                    reason="/usr/bin/chromium is not installed: the headless render check needs "
                           "it (Debian package 'chromium'); the static checks ran in other tests")
def test_report_renders_in_headless_chromium(full_report, tmp_path):
    out, _ = full_report
    shot = tmp_path / "shot.png"
    proc = run_script("check-report.sh", out, shot, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "render check passed" in proc.stdout
    assert screenshot_problems(shot) == []


def test_screenshot_check_rejects_junk(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert screenshot_problems(bad)
    assert screenshot_problems(tmp_path / "missing.png") == [
        f"{tmp_path / 'missing.png'}: no screenshot was written"]


# --- the fixtures follow the contract ------------------------------------------

def test_fixtures_validate_against_the_results_schema():
    schema_path = ROOT / "docs" / "results.schema.json"
    import jsonschema  # python3-jsonschema, in scripts/deps.sh
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    for name in ("results-small.json", "results-single.json", "results-harness-sample.json"):
        jsonschema.validate(fixture_doc(name), schema)


def test_report_header_shows_command_and_resumes(tmp_path):
    doc = fixture_doc("results-single.json")
    doc["command_line"] = ["build/bin/muxbench", "run", "--suite", "smoke"]
    doc["resumed"] = [{"at": "2024-05-01T11:00:00Z", "host": "bench1", "git_commit": None,
                       "cells_before": 12}]
    proc = run_plot(write_json(tmp_path, doc), "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    page = _page(tmp_path / "o" / "index.html")
    assert "build/bin/muxbench run --suite smoke" in page.text
    assert "2024-05-01T11:00:00Z (after 12 cells)" in page.text


def test_report_marks_a_missed_rate(tmp_path):
    """An open-loop cell that missed its target rate: its numbers in the
    summary table, marked RATE NOT MET and numbered; counted in the header;
    listed with its reason."""
    from muxbench_plots.aggregate import group_cells
    from muxbench_plots.inputs import load_results
    from muxbench_plots.report import render
    doc = fixture_doc()
    reason = ("rate not met: 2178 of 4000 requests due (54.5 %, more than 1 %) were not sent "
              "on schedule; target 20000/s, achieved 19990/s")
    for c in doc["cells"]:
        if c["id"] == "epoll/rate/c100/r0":
            c.update(status="rate_not_met", reason=reason)
            c["metrics"].update(rate_met=False, rate_missed_fraction=0.5445)
    res = load_results(write_json(tmp_path, doc))
    html = render(res, group_cells(res.cells), [])
    rate = html[html.index('id="table-rate"'):html.index('id="failures"')]
    cell = next(td for td in rate.split("<td") if "RATE NOT MET" in td)
    assert 'class="num ratemiss"' in cell
    assert "<b>" in cell and "p99" in cell            # the numbers are shown
    assert 'class="rate_not_met"' in cell and 'href="#fail-' in cell
    assert rate.count("RATE NOT MET") == 1
    assert "1 RATE NOT MET</a>" in html
    failures = html[html.index('id="failures"'):]
    assert reason in failures
    assert '<td class="rate_not_met">rate_not_met</td>' in failures

"""The trend charts: one file per cell, change points as segments."""
import json

from muxbench_plots import trend


def doc():
    return {
        "tool": "muxbench trend",
        "files": [{"path": f"r{i}.json", "started": f"2025-12-0{i + 1}T00:00:00Z",
                   "git_commit": f"{i:040d}"} for i in range(6)],
        "series": [{"cell": "epoll/pingpong/c10", "metric": "throughput",
                    "direction": "higher_is_better", "file": list(range(6)),
                    "value": [100, 101, 99, 80, 81, 79],
                    "change_points": [{"file": 3, "git_commit": "3" * 40, "mean_before": 100,
                                       "mean_after": 80, "change_pct": -20, "p": 1e-5,
                                       "regression": True}]}],
    }


def test_segments_follow_the_change_points():
    s = doc()["series"][0]
    assert trend.segments(s) == [(0, 2, 100.0), (3, 5, 80.0)]


def test_draws_one_chart_per_cell(tmp_path):
    path = tmp_path / "trend.json"
    path.write_text(json.dumps(doc()))
    assert trend.main([str(path), "--out", str(tmp_path / "out")]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["trend-epoll_pingpong_c10.png"]


def test_bad_input_is_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tool": "muxbench compare"}))
    assert trend.main([str(path), "--out", str(tmp_path)]) == 2

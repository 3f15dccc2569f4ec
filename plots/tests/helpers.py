"""Shared by the tests: paths, fixture loading, running scripts/plot.sh."""

import json
import os
import subprocess
import sys
from pathlib import Path

PLOTS = Path(__file__).resolve().parent.parent
ROOT = PLOTS.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
if str(PLOTS) not in sys.path:
    sys.path.insert(0, str(PLOTS))


def fixture(name):
    return FIXTURES / name


def fixture_doc(name="results-small.json"):
    return json.loads(fixture(name).read_text(encoding="utf-8"))


def write_json(tmp_path, doc, name="results.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run_script(script, *args, env=None, cwd=ROOT, timeout=300):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(ROOT / "scripts" / script), *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def run_plot(*args, **kw):
    """scripts/plot.sh as a user runs it."""
    return run_script("plot.sh", *args, **kw)

"""The committed fixtures are what fixtures/make_fixtures.py writes."""

import subprocess
import sys

from helpers import FIXTURES


def test_results_fixtures_are_generated_from_the_table(tmp_path):
    subprocess.run([sys.executable, str(FIXTURES / "make_fixtures.py"), str(tmp_path)],
                   check=True, timeout=60)
    for name in ("results-small.json", "results-single.json"):
        assert (tmp_path / name).read_text(encoding="utf-8") == \
            (FIXTURES / name).read_text(encoding="utf-8"), \
            f"{name} differs from make_fixtures.py's output: rerun it"

import pytest

import helpers  # noqa: F401  (puts plots/ on sys.path)
import muxbench_plots  # noqa: F401  (sets the Agg backend before any figure)
from muxbench_plots.inputs import load_results


@pytest.fixture
def small():
    return load_results(helpers.fixture("results-small.json"))


@pytest.fixture
def single():
    return load_results(helpers.fixture("results-single.json"))

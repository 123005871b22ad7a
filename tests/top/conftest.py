"""Run files for top's tests, written by real short simulations (a second or two each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from juggler.scenario import load_scenario
from juggler.simulate import run_simulation

from .runs import SQUEEZE


@pytest.fixture(scope="session")
def squeeze_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 40 s run of ``squeeze``: host swapping, decisions for A, no balloon on B."""
    out = tmp_path_factory.mktemp("top") / "squeeze.sqlite"
    run_simulation(load_scenario(SQUEEZE), out)
    return out

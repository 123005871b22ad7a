"""diagnose's findings as a live series, from a run file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.scrape import Scrape

from juggler.diagnose import diagnose
from juggler.metrics.exporter import MetricsExporter
from juggler.metrics.findings import NAME
from juggler.scenario import load_scenario
from juggler.simulate import run_simulation

HOSTSWAP = Path(__file__).resolve().parents[1] / "lab" / "data" / "hostswap.toml"


@pytest.fixture(scope="module")
def hostswap_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host-swap scenario, simulated: both VMs are host-swapped after B grows."""
    out = tmp_path_factory.mktemp("findings") / "run.sqlite"
    run_simulation(load_scenario(HOSTSWAP), out)
    return out


def test_findings_are_exported_as_seconds_per_vm_and_cause(hostswap_run: Path) -> None:
    exporter = MetricsExporter()
    watcher = exporter.watch_findings(hostswap_run, diagnose, period_s=3600)
    try:
        assert NAME not in Scrape(exporter.text()).names()  # nothing until diagnosed
        watcher.refresh()
    finally:
        watcher.stop()
    samples = {
        (dict(labels)["vm"], dict(labels)["cause"]): value
        for labels, value in Scrape(exporter.text()).samples[NAME].items()
    }
    assert samples.get(("A", "host_swap"), 0) > 10
    assert all(cause != "none" for _, cause in samples)


def test_a_run_file_that_is_not_there_yet_exports_nothing(tmp_path: Path) -> None:
    exporter = MetricsExporter()
    watcher = exporter.watch_findings(tmp_path / "later.sqlite", diagnose, period_s=3600)
    watcher.refresh()
    watcher.stop()
    assert NAME not in Scrape(exporter.text()).names()

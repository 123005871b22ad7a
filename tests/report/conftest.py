"""Runs the report tests draw: the built-in seed story, simulated once per session
through ``juggler simulate --report`` (so the CLI path is what is tested)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The whole seed story (10 simulated minutes): its run file and its report."""
    where = tmp_path_factory.mktemp("seed")
    run, html = where / "seed.sqlite", where / "seed.html"
    result = CliRunner().invoke(
        app, ["simulate", "--quiet", "--out", str(run), "--report", str(html)]
    )
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    return run, html


@pytest.fixture(scope="session")
def compare_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small comparison: 2 policies × the seed and host-swap scenarios, 1 seed, 3 minutes,
    its report written into the run directory it creates."""
    where = tmp_path_factory.mktemp("compare") / "runs"
    html = where / "compare.html"
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(EXAMPLES / "seed.toml"),
            str(EXAMPLES / "host-swap.toml"),
            "--policies",
            "static,juggler",
            "--duration",
            "3m",
            "--jobs",
            "2",
            "--quiet",
            "--out-dir",
            str(where),
            "--report",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    return where, html

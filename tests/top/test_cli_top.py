"""``juggler top`` and ``simulate --top/--speed`` options: user errors exit 2 with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app

from .runs import SQUEEZE

runner = CliRunner()


def _user_error(args: list[str], pattern: str) -> None:
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert output.startswith("error: "), output
    assert re.search(pattern, output), f"{pattern!r} not in {output!r}"


def test_top_refuses_a_file_that_is_not_a_run(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    _user_error(["top", str(notes)], rf"error: {re.escape(str(notes))}: not a juggler run file$")


def test_top_needs_a_terminal(squeeze_run: Path) -> None:
    _user_error(["top", str(squeeze_run)], r"needs a terminal; stdin or stdout is not one")


@pytest.mark.parametrize(
    ("refresh", "pattern"),
    [("0s", r"--refresh: '0s' must be at least 100ms"), ("soon", r"--refresh: 'soon' is not a")],
)
def test_top_bad_refresh(squeeze_run: Path, refresh: str, pattern: str) -> None:
    _user_error(["top", str(squeeze_run), "--refresh", refresh], pattern)


@pytest.mark.parametrize("speed", ["0", "-2"])
def test_simulate_speed_must_be_positive(speed: str, tmp_path: Path) -> None:
    _user_error(
        ["simulate", str(SQUEEZE), f"--speed={speed}", "--out", str(tmp_path / "r.sqlite")],
        rf"--speed: {speed} must be more than 0 \(simulated seconds per wall second\)",
    )
    assert not (tmp_path / "r.sqlite").exists()


def test_simulate_top_without_a_terminal_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r.sqlite"
    _user_error(["simulate", str(SQUEEZE), "--top", "--out", str(out)], r"needs a terminal")
    assert not out.exists()


def test_simulate_speed_without_top_paces_a_normal_run(tmp_path: Path) -> None:
    out = tmp_path / "r.sqlite"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(SQUEEZE),
            "--speed",
            "40",
            "--duration",
            "8s",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["duration_s"] == 8
    assert [vm["name"] for vm in summary["vms"]] == ["A", "B"]

"""Command-line overrides change only what they override.

Regression: ``with_overrides`` once rebuilt the scenario from a full dump, so every
field counted as set and an idle phase without its own ``rate`` ran at the active
default (200,000 accesses/s) in every ``simulate``/``compare`` run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from juggler.cli import app
from juggler.scenario import load_scenario
from juggler.simulate import run_simulation

IDLE_SCENARIO = """\
name = "idle-override"
[host]
memory = "1GiB"
[run]
duration = "40s"
[[vm]]
name = "sleeper"
memory = "512MiB"
  [[vm.workload]]
  duration = "10s"
  working_set = "200MiB"
  [[vm.workload]]
  pattern = "idle"
[[vm]]
name = "worker"
memory = "512MiB"
  [[vm.workload]]
  working_set = "300MiB"
"""


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "idle.toml"
    path.write_text(IDLE_SCENARIO, encoding="utf-8")
    return path


def _same_run(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary (as ``--json`` prints it) less what differs between two runs of the
    same scenario."""
    return {key: value for key, value in summary.items() if key != "run" and "wall" not in key}


def test_override_keeps_unset_fields_unset(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path))
    overridden = scenario.with_overrides(duration_s=30.0, seed=3, policy="static")
    idle = overridden.vm[0].workload[1]
    assert idle.pattern == "idle"
    assert "rate" not in idle.model_fields_set
    assert overridden.run.duration == 30.0
    assert overridden.run.seed == 3
    assert overridden.manager.policy == "static"
    # an override of nothing is the scenario itself
    assert scenario.with_overrides() == scenario


def test_cli_and_api_agree_on_an_idle_phase(tmp_path: Path) -> None:
    path = _write(tmp_path)
    api = run_simulation(load_scenario(path), tmp_path / "api.sqlite")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(path),
            "--duration",
            "40s",
            "--json",
            "-q",
            "--out",
            str(tmp_path / "cli.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert _same_run(cli) == _same_run(json.loads(api.to_json()))


def test_profile_on_the_command_line_is_the_profile_in_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path)
    in_file = tmp_path / "free.toml"
    in_file.write_text(
        IDLE_SCENARIO.replace('memory = "1GiB"\n', 'memory = "1GiB"\nprofile = "free"\n', 1),
        encoding="utf-8",
    )
    api = run_simulation(load_scenario(in_file), tmp_path / "api.sqlite")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(path),
            "--profile",
            "free",
            "--json",
            "-q",
            "-o",
            str(tmp_path / "c.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert _same_run(json.loads(result.stdout)) == _same_run(json.loads(api.to_json()))


def test_a_profile_that_is_none_is_refused_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", str(_write(tmp_path)), "--profile", "xen"])
    assert result.exit_code == 2
    assert "with --profile xen" in result.output and "no profile 'xen'" in result.output

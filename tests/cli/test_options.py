"""What the shared options turn into (juggler.cli.options)."""

from __future__ import annotations

import pytest
import typer

from juggler.cli.options import (
    duration_option,
    load_scenario_argument,
    overridden_scenario,
    parsed_option,
)
from juggler.errors import ScenarioError
from juggler.units import parse_size


def test_a_bad_value_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert parsed_option(parse_size, "4GiB", "--host-memory") == 4 * 1024**3
    with pytest.raises(typer.Exit) as exit_:
        parsed_option(parse_size, "lots", "--host-memory")
    assert exit_.value.exit_code == 2
    assert "error: --host-memory: 'lots' is not a size" in capsys.readouterr().err


def test_a_duration_must_be_more_than_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert duration_option(None) is None
    assert duration_option("1m30s") == 90.0
    with pytest.raises(typer.Exit):
        duration_option("0s", "--interval", "5s")
    assert "--interval: '0s' must be more than 0 (such as 5s)" in capsys.readouterr().err


def test_overrides_change_the_scenario_and_name_themselves_in_its_source() -> None:
    loaded, _, source = load_scenario_argument(None)
    assert source == "built-in seed"
    changed = overridden_scenario(
        loaded, source, policy="static", duration="90s", duration_s=90.0, seed=7
    )
    assert (changed.manager.policy, changed.run.duration, changed.run.seed) == ("static", 90, 7)
    with pytest.raises(ScenarioError, match=r"built-in seed with --policy nope --seed 7"):
        overridden_scenario(loaded, source, policy="nope", duration=None, duration_s=None, seed=7)
    same = overridden_scenario(loaded, source, policy=None, duration=None, duration_s=None)
    assert same.model_dump() == loaded.model_dump()

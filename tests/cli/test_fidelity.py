"""``juggler fidelity`` on the command line: bad input is one clear line (exit 2), and
the table rebuilt from recorded run files (``--from``) without any lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli.app import app
from tests.test_fidelity import hand_run, simulate_pair

runner = CliRunner()
TINY = Path(__file__).parents[1] / "lab" / "data" / "tiny.toml"


def _fails(args: list[str], *expected: str) -> None:
    result = runner.invoke(app, ["fidelity", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output


def test_an_unknown_policy_is_named_with_the_known_ones() -> None:
    _fails([str(TINY), "--policies", "juggler,nope"], "--policies: unknown policy 'nope'", "static")


@pytest.mark.parametrize("scale", ["0", "-0.5", "1.5"])
def test_a_scale_outside_0_1_is_refused(scale: str) -> None:
    _fails([str(TINY), "--scale", scale], "--scale:", "must be more than 0 and at most 1")


def test_a_missing_scenario_file_is_named(tmp_path: Path) -> None:
    _fails([str(tmp_path / "nope.toml")], "nope.toml", "no such file")


def test_a_missing_recorded_file_is_named(tmp_path: Path) -> None:
    _fails(["--from", str(tmp_path / "gone.sqlite")], "--from", "gone.sqlite: no such file")


def test_an_empty_directory_holds_no_run_file(tmp_path: Path) -> None:
    _fails(["--from", str(tmp_path)], "holds no run file")


def test_a_file_that_is_not_a_run_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite")
    _fails(["--from", str(junk)], "junk.sqlite", "not a juggler run file")


def test_options_that_do_not_go_together(tmp_path: Path) -> None:
    run = hand_run(tmp_path / "lab.sqlite", "static", {"A": 1.0, "B": 1.0})
    _fails([str(TINY), "--from", str(run)], "not both")
    _fails(["--from", str(run), "--scale", "0.5"], "--scale and --duration are the run files'")
    _fails([str(TINY), "--resimulate"], "--resimulate needs --from")


def test_a_report_path_that_cannot_be_written_fails_before_any_run(tmp_path: Path) -> None:
    _fails([str(TINY), "--report", str(tmp_path)], "is a directory")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory as ``juggler fidelity`` leaves it: lab-like runs written by hand
    (far from the simulator's figures) and two simulations."""
    base = tmp_path_factory.mktemp("recorded")
    hand_run(base / "lab-pair-static.sqlite", "static", {"A": 1000.0, "B": 200_000.0})
    hand_run(base / "lab-pair-juggler.sqlite", "juggler", {"A": 1000.0, "B": 250_000.0})
    simulate_pair(base / "sim-pair-static.sqlite", "static")
    simulate_pair(base / "sim-pair-juggler.sqlite", "juggler")
    return base


def test_the_table_from_recorded_files_as_json(recorded: Path) -> None:
    result = runner.invoke(app, ["fidelity", "--from", str(recorded), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["scenario"], document["scale"]) == ("pair", 0.25)
    policies = {row["policy"] for row in document["rows"]}
    assert policies == {"juggler", "static"}
    assert all(row["lab"] is not None and row["sim"] is not None for row in document["rows"])


def test_the_text_table_marks_the_misses(recorded: Path) -> None:
    result = runner.invoke(app, ["fidelity", "--from", str(recorded), "--policies", "juggler"])
    assert result.exit_code == 0, result.output
    assert "pair · scale 0.25 · policy juggler · lab vs simulator" in result.output
    assert "miss" in result.output  # a hand-written lab is far from the simulator
    assert "lab-pair-juggler.sqlite" in result.output
    assert "rows miss it" in result.output or "row miss it" in result.output
    # static is not compared, but its runs still give juggler's throughputs
    assert "no throughput_vs_static" not in result.output
    assert "throughput_vs_static    1.250×" in result.output


def test_without_static_runs_the_throughput_says_why(recorded: Path) -> None:
    files = ["--from", str(recorded / "lab-pair-juggler.sqlite")]
    files += ["--from", str(recorded / "sim-pair-juggler.sqlite")]
    result = runner.invoke(app, ["fidelity", *files])
    assert result.exit_code == 0, result.output
    assert "no throughput_vs_static: it needs a static run in each world" in result.output


def test_the_report_overlays_both_worlds(recorded: Path, tmp_path: Path) -> None:
    page = tmp_path / "fidelity.html"
    result = runner.invoke(app, ["fidelity", "--from", str(recorded), "--report", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "VM B under juggler" in html and "VM A under static" in html
    assert 'class="f-resident f-lab"' in html and 'class="f-resident f-sim"' in html
    assert 'class="f-balloon f-sim"' in html

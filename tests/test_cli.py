"""The ``juggler`` command: user errors exit 2 with one clear message, good runs summarize.

Most checks go through typer's CliRunner; a few run the installed console script in a
subprocess, as a user would. Simulations are kept to 20-30 simulated seconds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app
from juggler.units import GIB
from tests.scenario_cases import BAD_PARAMS, GOOD, KNOWN_POLICIES, Bad

EXAMPLE_SEED = Path(__file__).resolve().parents[1] / "examples" / "seed.toml"

runner = CliRunner()


def _juggler() -> str:
    """The installed console script (next to this Python, or on PATH)."""
    beside = Path(sys.executable).parent / "juggler"
    found = str(beside) if beside.exists() else shutil.which("juggler")
    if found is None:
        pytest.skip("the juggler console script is not installed")
    return found


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_juggler(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _assert_user_error(exit_code: int, output: str, *patterns: str) -> None:
    assert "Traceback" not in output, output
    assert exit_code == 2, output
    assert output.lstrip().startswith("error: "), output
    for pattern in patterns:
        assert re.search(pattern, output), f"{pattern!r} not in:\n{output}"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("case", BAD_PARAMS)
def test_bad_scenario_exits_2_naming_file_and_field(case: Bad, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(case.text, encoding="utf-8")
    run_file = tmp_path / "run.sqlite"
    result = runner.invoke(
        app, ["simulate", str(path), "--duration", "20s", "--out", str(run_file)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _assert_user_error(
        result.exit_code,
        result.stderr,
        rf"^error: {re.escape(str(path))}: invalid scenario:\n",
        rf"\n  {case.expected}",
    )
    assert result.stdout == ""
    assert not run_file.exists(), "no run file is started for a bad scenario"


def test_bad_scenario_in_a_real_subprocess(tmp_path: Path) -> None:
    bad = next(case for case in BAD_PARAMS if case.id == "malformed-size").values[0]
    (tmp_path / "bad.toml").write_text(bad.text, encoding="utf-8")
    proc = _run("simulate", "bad.toml", cwd=tmp_path)
    _assert_user_error(
        proc.returncode,
        proc.stderr,
        r"^error: bad\.toml: invalid scenario:\n  vm\[1\] 'B'\.memory: '12 parsecs' is not a size "
        r"\(write a number with a unit, such as 512MiB, 2GiB or 4096\)\n$",
    )
    assert proc.stdout == ""


def test_missing_scenario_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(tmp_path / "nope.toml")])
    _assert_user_error(
        result.exit_code,
        result.stderr,
        rf"{re.escape(str(tmp_path / 'nope.toml'))}: invalid scenario:\n  no such file "
        r"\(give the path of a scenario TOML file, or one of the built-in scenarios: seed\)",
    )


def test_scenario_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    result = runner.invoke(app, ["simulate", str(path)])
    _assert_user_error(
        result.exit_code,
        result.stderr,
        r"latin1\.toml: invalid scenario:\n  not UTF-8 text \(byte 11\)",
    )


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (
            "5 fortnights",
            r"^error: --duration: '5 fortnights' is not a duration \(write a number with a "
            r"unit, such as 500ms, 30s, 10m, 1h or 1h30m\)$",
        ),
        ("-3s", r"^error: --duration: duration '-3s' must not be negative$"),
        ("inf", r"^error: --duration: 'inf' is not a duration"),
        ("0", r"^error: --duration: '0' must be more than 0 \(such as 30s or 10m\)$"),
    ],
)
def test_bad_duration_option(duration: str, expected: str) -> None:
    result = runner.invoke(app, ["simulate", "--duration", duration])
    _assert_user_error(result.exit_code, result.stderr.strip(), expected)


def test_bad_duration_option_in_a_real_subprocess(tmp_path: Path) -> None:
    proc = _run("simulate", "--duration", "5 fortnights", cwd=tmp_path)
    _assert_user_error(
        proc.returncode, proc.stderr, r"^error: --duration: '5 fortnights' is not a duration"
    )


def test_unknown_policy_option_lists_the_known_policies() -> None:
    result = runner.invoke(app, ["simulate", "--policy", "nosuch", "--duration", "20s"])
    _assert_user_error(
        result.exit_code,
        result.stderr.strip(),
        rf"^error: --policy: unknown policy 'nosuch' \(choose one of: {KNOWN_POLICIES}\)$",
    )


def test_negative_seed_option() -> None:
    result = runner.invoke(app, ["simulate", "--seed", "-1", "--duration", "20s"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--seed" in result.output


def test_overrides_that_break_the_scenario_name_the_file_and_the_options(tmp_path: Path) -> None:
    # juggler's parameter stays in the file when --policy switches to static, which has none
    path = tmp_path / "params.toml"
    path.write_text(
        GOOD.replace("[run]\n", "[manager.params]\nreserve_free = 0.07\n\n[run]\n"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["simulate", str(path), "--policy", "static", "--seed", "3"])
    _assert_user_error(
        result.exit_code,
        result.stderr,
        rf"^error: {re.escape(str(path))} with --policy static --seed 3: invalid scenario:\n"
        r"  manager: params: policy 'static' has no parameter 'reserve_free' "
        r"\(its parameters: none\)",
    )


def test_bad_out_path_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--duration", "20s", "--quiet", "--out", str(tmp_path)]
    )
    _assert_user_error(
        result.exit_code, result.stderr, rf"{re.escape(str(tmp_path))}: cannot create run file"
    )


# ----------------------------------------------------------------------- help


@pytest.mark.parametrize("args", [["--help"], ["simulate", "--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "simulate" in result.output.lower()


def test_help_in_a_real_subprocess(tmp_path: Path) -> None:
    for args in (["--help"], ["simulate", "--help"]):
        proc = _run(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "Usage" in proc.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("juggler ")


# ------------------------------------------------------------------- good runs

_VM_KEYS = {
    "name",
    "configured_bytes",
    "reservation_bytes",
    "peak_working_set_bytes",
    "balloon_max_bytes",
    "balloon_final_bytes",
    "min_resident_bytes",
    "guest_swap_in_bytes",
    "guest_swap_out_bytes",
    "host_swap_in_bytes",
    "host_swap_out_bytes",
    "slowdown",
    "stall_seconds",
}
_HOST_KEYS = {
    "memory_bytes",
    "overcommit_ratio",
    "min_available_bytes",
    "host_swap_in_bytes",
    "host_swap_out_bytes",
    "seconds_in_state",
}


def test_simulate_runs_the_oracle_which_reads_the_truth(tmp_path: Path) -> None:
    run_file = tmp_path / "run.sqlite"
    result = runner.invoke(
        app,
        ["simulate", str(EXAMPLE_SEED), "-p", "oracle", "-d", "20s", "--json", "-o", str(run_file)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["policy"] == "oracle" and summary["decisions"] > 0
    assert any(vm["balloon_max_bytes"] > 0 for vm in summary["vms"])


def test_seed_run_prints_the_json_summary_and_writes_the_run_file(tmp_path: Path) -> None:
    # "seed" names the built-in story (no file of that name in the working directory)
    proc = _run(
        "simulate", "seed", "--duration", "30s", "--json", "--out", "tmp/run.sqlite", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)

    assert {"scenario", "policy", "duration_s", "run", "host", "vms", "violations"} <= set(summary)
    assert summary["scenario"] == "seed"
    assert summary["policy"] == "juggler"
    assert summary["duration_s"] == pytest.approx(30.0)
    run_file = tmp_path / "tmp" / "run.sqlite"
    assert run_file.is_file()
    assert (tmp_path / summary["run"]).resolve() == run_file.resolve()

    host = summary["host"]
    assert set(host) >= _HOST_KEYS
    assert set(host["seconds_in_state"]) == {"high", "soft", "hard", "low"}
    assert sum(host["seconds_in_state"].values()) == pytest.approx(30.0, abs=1.0)
    assert host["memory_bytes"] == 2 * GIB
    assert host["overcommit_ratio"] == pytest.approx(2.0)
    assert 0 <= host["min_available_bytes"] <= host["memory_bytes"]

    assert [vm["name"] for vm in summary["vms"]] == ["A", "B", "C", "D"]
    for vm in summary["vms"]:
        assert set(vm) >= _VM_KEYS, vm["name"]
        assert set(vm["stall_seconds"]) == {"guest_swap", "host_swap", "cache_miss", "balloon"}
        assert vm["configured_bytes"] == GIB
        assert 0 < vm["peak_working_set_bytes"] <= vm["configured_bytes"]
        assert vm["slowdown"] >= 1.0
    assert set(summary["violations"]) >= {"reservation", "guest_oom"}
    assert summary["violations"] == {**summary["violations"], "reservation": 0, "guest_oom": 0}


@pytest.mark.skipif(not EXAMPLE_SEED.exists(), reason="examples/seed.toml is not there")
def test_run_from_a_file_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "table.sqlite"
    result = runner.invoke(
        app, ["simulate", str(EXAMPLE_SEED), "--duration", "20s", "--quiet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "policy juggler" in result.stdout
    assert "over-commit 2.00x" in result.stdout
    assert "violations: reservation 0, guest OOM 0" in result.stdout
    assert str(out) in result.stdout.replace("\n", "")

"""``juggler compare``: every policy on every scenario with the same seeds, side by side.

The runs use two tiny scenarios (three VMs of 64-96 MiB, 20 simulated seconds, 2000
accesses per tick), so each job takes well under a second once numba has compiled
(cached on disk; the first job in a fresh process can take a few seconds more).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from juggler import compare as cmp
from juggler.cli import app
from juggler.policy import POLICIES
from juggler.units import MIB

runner = CliRunner()

POLICY_NAMES = ("static", "freemem", "oracle")
SEEDS = 2
SCENARIO_SEED = 3

# host memory is over-committed (256 MiB of guests on 192 MiB): the host swaps
TINY = """\
name = "{name}"
[host]
memory = "192MiB"
swap = "256MiB"
vm_overhead = "8MiB"
[manager]
policy = "freemem"
interval = "5s"
[run]
duration = "20s"
seed = {seed}
accesses_per_tick = 2000
[[vm]]
name = "A"
memory = "96MiB"
guest_kernel = "8MiB"
guest_swap = "64MiB"
  [[vm.workload]]
  working_set = "64MiB"
  pattern = "zipf"
[[vm]]
name = "B"
memory = "96MiB"
guest_kernel = "8MiB"
  [[vm.workload]]
  working_set = "48MiB"
[[vm]]
name = "C"
memory = "64MiB"
guest_kernel = "8MiB"
reservation = "32MiB"
  [[vm.workload]]
  working_set = "{third}"
"""

SPEC_KEYS = {
    "scenario",
    "policy",
    "seed",
    "mean_slowdown",
    "worst_slowdown",
    "guest_swap_bytes",
    "host_swap_bytes",
    "balloon_moved_bytes",
    "reservation_violations",
    "guest_oom",
    "seconds_hard_low",
    "reversals_per_vm_per_10min",
    "reversals_max_vm_per_10min",
    "oom_rescues",
    "host_in_use_bytes",
    "excess_slowdown",
    "run",
}


def _scenarios(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, third in (("tiny-a", "40MiB"), ("tiny-b", "20MiB")):
        path = directory / f"{name}.toml"
        path.write_text(TINY.format(name=name, seed=SCENARIO_SEED, third=third), "utf-8")
        paths.append(path)
    return paths


def _compare(*args: str) -> Any:
    result = runner.invoke(app, ["compare", *args])
    assert "Traceback" not in result.output, result.output
    return result


def _numbers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without where their run file went, nor their excess over the oracle
    (which depends on whether the oracle ran beside them)."""
    return [
        {key: value for key, value in row.items() if key not in ("run", "excess_slowdown")}
        for row in rows
    ]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One compare run in local processes: its rows, out dir, CSV file and scenario files."""
    base = tmp_path_factory.mktemp("compare-local")
    paths = _scenarios(base / "scenarios")
    out_dir = base / "runs"
    csv_path = base / "rows.csv"
    result = _compare(
        *map(str, paths),
        "--policies",
        ",".join(POLICY_NAMES),
        "--seeds",
        str(SEEDS),
        "--jobs",
        "2",
        "--out-dir",
        str(out_dir),
        "--csv",
        str(csv_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    return {
        "rows": json.loads(result.stdout)["results"],
        "out_dir": out_dir,
        "csv": csv_path,
        "paths": paths,
    }


# ------------------------------------------------------------------ local processes


def test_local_run_has_every_row_with_sane_values(local_run: dict[str, Any]) -> None:
    rows = local_run["rows"]
    expected = [
        (scenario, policy, SCENARIO_SEED + i)
        for scenario in ("tiny-a", "tiny-b")
        for policy in POLICY_NAMES
        for i in range(SEEDS)
    ]
    assert [(r["scenario"], r["policy"], r["seed"]) for r in rows] == expected
    for row in rows:
        assert set(row) >= SPEC_KEYS, row
        assert row["error"] is None, row
        assert 1.0 <= row["mean_slowdown"] <= row["worst_slowdown"] < 100, row
        for key in ("guest_swap_bytes", "host_swap_bytes", "balloon_moved_bytes"):
            assert isinstance(row[key], int) and row[key] >= 0, (key, row)
        assert 0 <= row["seconds_hard_low"] <= 20, row
        assert row["reservation_violations"] >= 0 and row["guest_oom"] >= 0, row
        run = Path(row["run"])
        assert run.is_file(), row
        assert run.parent == local_run["out_dir"]
        assert run.name == f"{row['scenario']}-{row['policy']}-s{row['seed']}.sqlite"
    # the over-committed scenario makes the host swap under the policy that never balloons
    static_a = [r for r in rows if r["scenario"] == "tiny-a" and r["policy"] == "static"]
    assert all(r["host_swap_bytes"] > 0 and r["balloon_moved_bytes"] == 0 for r in static_a)
    # static never sends a target: nothing turns, nothing is rescued
    assert all(r["reversals_max_vm_per_10min"] == 0 and r["oom_rescues"] == 0 for r in static_a)
    for row in rows:
        assert 0 < row["host_in_use_bytes"] <= 192 * MIB, row
        assert 0 <= row["reversals_per_vm_per_10min"] <= row["reversals_max_vm_per_10min"], row
        oracle = next(
            r
            for r in rows
            if r["policy"] == "oracle"
            and (r["scenario"], r["seed"]) == (row["scenario"], row["seed"])
        )
        assert row["excess_slowdown"] == round(row["mean_slowdown"] - oracle["mean_slowdown"], 4)


def test_same_seed_same_numbers_in_a_second_local_run(
    local_run: dict[str, Any], tmp_path: Path
) -> None:
    result = _compare(
        str(local_run["paths"][0]),
        "-p",
        "freemem",
        "--seeds",
        str(SEEDS),
        "--jobs",
        "1",
        "--out-dir",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["results"]
    first = [r for r in local_run["rows"] if r["scenario"] == "tiny-a" and r["policy"] == "freemem"]
    assert _numbers(again) == _numbers(first)


def test_csv_has_a_header_and_one_row_per_job(local_run: dict[str, Any]) -> None:
    with open(local_run["csv"], newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        assert list(reader.fieldnames) == list(cmp.ROW_KEYS)
        lines = list(reader)
    rows = local_run["rows"]
    assert len(lines) == len(rows) == 2 * len(POLICY_NAMES) * SEEDS
    for line, row in zip(lines, rows, strict=True):
        assert (line["scenario"], line["policy"], int(line["seed"])) == (
            row["scenario"],
            row["policy"],
            row["seed"],
        )
        assert float(line["mean_slowdown"]) == row["mean_slowdown"]
        assert int(line["host_swap_bytes"]) == row["host_swap_bytes"]
        assert line["run"] == row["run"] and line["error"] == ""


def test_table_output_has_a_table_per_scenario(local_run: dict[str, Any], tmp_path: Path) -> None:
    result = _compare(
        *map(str, local_run["paths"]), "-p", "static,freemem", "--out-dir", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    for scenario in ("tiny-a", "tiny-b"):
        assert f"{scenario} · mean of 1 seed" in result.stdout
    assert re.search(r"^\s+static\s+1\.\d{3}x", result.stdout, re.M), result.stdout
    assert re.search(r"^\s+freemem\s+1\.\d{3}x", result.stdout, re.M), result.stdout


def test_table_marks_the_best_cells_bold_green(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from juggler.cli import output

    def row(policy: str, seed: int, slowdown: float, host_swap: int) -> dict[str, Any]:
        values = dict.fromkeys(cmp.ROW_KEYS, 0)
        values.update(scenario="s", policy=policy, seed=seed, run="runs/x.sqlite", error=None)
        values.update(mean_slowdown=slowdown, worst_slowdown=slowdown, host_swap_bytes=host_swap)
        return values

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=200)
    monkeypatch.setattr(output, "out", console)
    mib = 1024**2
    output.print_comparison(
        [
            row("p", 1, 1.25, 100 * mib),
            row("p", 2, 1.75, 100 * mib),  # means 1.5x, 100 MiB
            row("q", 1, 1.2, 0),
            row("q", 2, 1.2, 0),
        ],
        seeds=2,
    )
    text = buffer.getvalue()

    def marked(cell: str) -> bool:
        return re.search(rf"\x1b\[1;32m *{re.escape(cell)}\x1b\[0m", text) is not None

    assert marked("1.200x") and not marked("1.500x"), text
    assert marked("0 B") and not marked("100 MiB"), text
    assert "1.500x" in text and "100 MiB" in text


# ------------------------------------------------------------------ dask


def test_dask_local_cluster_gives_the_same_numbers(
    local_run: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    result = _compare(
        *map(str, local_run["paths"]),
        "--policies",
        ",".join(POLICY_NAMES),
        "--seeds",
        str(SEEDS),
        "--jobs",
        "2",
        "--dask",
        "local",
        "--out-dir",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert _numbers(rows) == _numbers(local_run["rows"])
    assert all(Path(row["run"]).parent == tmp_path and Path(row["run"]).is_file() for row in rows)


def test_dask_missing_says_how_to_install(
    local_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = _compare(str(local_run["paths"][0]), "--dask", "local", "--out-dir", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "pip install 'juggler[dask]'" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing runs"


# ------------------------------------------------------------------ aggregate and best


def test_best_marks_lowest_with_ties_within_one_percent() -> None:
    by_policy = {
        "a": {"mean_slowdown": 1.50, "host_swap_bytes": 0, "guest_oom": None},
        "b": {"mean_slowdown": 1.20, "host_swap_bytes": 10, "guest_oom": 3},
        "c": {"mean_slowdown": 1.211, "host_swap_bytes": 0, "guest_oom": 2},  # within 1% of b
        "d": {"mean_slowdown": 1.2125, "host_swap_bytes": 5, "guest_oom": 2},  # just outside
    }
    marks = cmp.best_marks(by_policy, ("mean_slowdown", "host_swap_bytes", "guest_oom"))
    assert marks == {
        "mean_slowdown": {"b", "c"},
        "host_swap_bytes": {"a", "c"},  # zero ties only with zero
        "guest_oom": {"c", "d"},  # a policy without a value is never best
    }
    assert cmp.best_marks({"a": {"guest_oom": None}}, ("guest_oom",)) == {"guest_oom": set()}


def test_aggregate_means_over_seeds_and_counts_failures() -> None:
    def row(policy: str, seed: int, slowdown: float | None, error: str | None = None) -> dict:
        base = dict.fromkeys(cmp.ROW_KEYS, 0)
        base.update(scenario="s", policy=policy, seed=seed, error=error, run="x")
        base.update(mean_slowdown=slowdown, worst_slowdown=slowdown)
        if error:
            base.update(dict.fromkeys(cmp.METRICS))
        return base

    result = cmp.aggregate(
        [row("p", 1, 1.0), row("p", 2, 2.0), row("q", 1, 1.5), row("q", 2, None, "boom")]
    )
    assert list(result) == ["s"] and list(result["s"]) == ["p", "q"]
    assert result["s"]["p"]["mean_slowdown"] == 1.5 and result["s"]["p"]["runs"] == 2
    assert result["s"]["q"]["mean_slowdown"] == 1.5
    assert (result["s"]["q"]["runs"], result["s"]["q"]["failed"]) == (1, 1)


def test_build_jobs_seeds_follow_each_scenario_seed(tmp_path: Path) -> None:
    files = [
        cmp.ScenarioFile(source="x.toml", text="", name="x", seed=5),
        cmp.ScenarioFile(source="y.toml", text="", name="y z", seed=0),
    ]
    jobs = cmp.build_jobs(files, ["static", "mom"], 3, tmp_path, duration_s=30.0)
    assert [(j.scenario, j.policy, j.seed) for j in jobs][:3] == [
        ("x", "static", 5),
        ("x", "static", 6),
        ("x", "static", 7),
    ]
    assert len(jobs) == 2 * 2 * 3
    assert {j.seed for j in jobs if j.scenario == "y z"} == {0, 1, 2}
    assert jobs[-1].out == str(tmp_path / "y_z-mom-s2.sqlite")
    assert all(j.duration_s == 30.0 for j in jobs)


# ------------------------------------------------------------------ errors


def test_unknown_policy_exits_2_listing_the_known_ones(
    local_run: dict[str, Any], tmp_path: Path
) -> None:
    out_dir = tmp_path / "runs"
    result = _compare(
        str(local_run["paths"][0]), "--policies", "static,nope", "--out-dir", str(out_dir)
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --policies: unknown policy 'nope'"), result.stderr
    assert ", ".join(sorted(POLICIES)) in result.stderr
    assert result.stdout == ""
    assert not out_dir.exists(), "nothing runs before the policies are known"


def test_no_scenario_files_is_a_clear_error() -> None:
    result = _compare("--policies", "static")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: no scenario files given"), result.stderr


def test_a_missing_scenario_file_stops_before_anything_runs(
    local_run: dict[str, Any], tmp_path: Path
) -> None:
    result = _compare(
        str(local_run["paths"][0]), str(tmp_path / "nope.toml"), "--out-dir", str(tmp_path / "r")
    )
    assert result.exit_code == 2, result.output
    assert "nope.toml: invalid scenario:\n  no such file" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_failed_job_is_reported_in_its_row_and_the_others_run(
    local_run: dict[str, Any], tmp_path: Path
) -> None:
    # a directory where one run file should go: that job cannot create its run file
    (tmp_path / f"tiny-a-static-s{SCENARIO_SEED}.sqlite").mkdir()
    result = _compare(
        str(local_run["paths"][0]), "-p", "static,freemem", "--out-dir", str(tmp_path), "--json"
    )
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)["results"]
    failed, ok = rows
    assert "cannot create run file" in failed["error"]
    assert failed["mean_slowdown"] is None
    assert ok["error"] is None and Path(ok["run"]).is_file()
    assert "failed: tiny-a static seed 3" in result.stderr


def test_run_job_turns_a_juggler_error_into_its_row(tmp_path: Path) -> None:
    job = cmp.Job(
        scenario="bad",
        source="bad.toml",
        text="name = [",
        policy="static",
        seed=1,
        duration_s=None,
        out=str(tmp_path / "bad.sqlite"),
    )
    row = cmp.run_job(job)
    assert set(row) == set(cmp.ROW_KEYS)
    assert row["error"].startswith("bad.toml: invalid scenario:\n  not valid TOML")
    assert (row["scenario"], row["policy"], row["seed"]) == ("bad", "static", 1)


# ------------------------------------------------------------------ control figures


def test_reversals_count_turns_back_and_ignore_steps_below_a_mib() -> None:
    from juggler.control import reversals

    assert reversals([]) == reversals([5 * MIB]) == 0
    # up, up, down (1), a half-MiB wobble ignored, up (2)
    steps = [0, 100, 200, 150, 150.5, 300]
    assert reversals([round(s * MIB) for s in steps]) == 2
    # a wobble is no direction: down then a tiny up then down again is no turn
    assert reversals([round(s * MIB) for s in (300, 200, 200.5, 100)]) == 0


def _hand_run(path: Path) -> Path:
    """Host samples at 0, 10 and 20 s on a 1000 MiB host with 400, 600 and 200 MiB
    available; a and b have balloons, c has none; a's targets go 0 → 100 → 200 → 150
    → 150.5 → 300 MiB (two turns), b's one rescued step and one rescued and limited."""
    from juggler.metrics.store import RunStore
    from juggler.observation import HostSample, Observation, VmSample

    with RunStore.create(path, {"scenario": "hand", "policy": "p"}) as store:
        for t, available, balloon in ((0.0, 400, 0), (10.0, 600, 40), (20.0, 200, 10)):
            vms = tuple(
                VmSample(
                    name,
                    configured_bytes=512 * MIB,
                    balloon_present=name != "c",
                    balloon_actual_bytes=balloon * MIB if name != "c" else None,
                )
                for name in ("a", "b", "c")
            )
            store.record_observation(Observation(t, HostSample(1000 * MIB, available * MIB), vms))
        targets = [0, 100, 200, 150, 150.5, 300]
        for i, (before, after) in enumerate(itertools.pairwise(targets)):
            store.record_decision(i, "a", round(after * MIB), round(before * MIB), "wish")
        store.record_decision(1.0, "b", 50 * MIB, 80 * MIB, "rescued", ("oom_rescue",))
        store.record_decision(
            2.0, "b", 20 * MIB, 50 * MIB, "rescued", ("oom_rescue", "step_limited")
        )
    return path


def test_control_figures_by_hand(tmp_path: Path) -> None:
    from juggler.control import control_figures

    figures = control_figures(_hand_run(tmp_path / "run.sqlite"))
    # a: 2 turns in 20 s = 60 per 10 min; b: none; c has no balloon and does not count
    assert figures.reversals_per_vm_per_10min == 30.0
    assert figures.reversals_max_vm_per_10min == 60.0
    assert figures.oom_rescues == 2
    # in use 400 MiB over 0-10 s and 800 MiB over 10-20 s (a sample covers the period
    # since the one before)
    assert figures.host_in_use_bytes == 600 * MIB
    # a and b each move 40 then 30 MiB
    assert (
        figures.balloon_moved_bytes == 140 * MIB == cmp.balloon_moved_bytes(tmp_path / "run.sqlite")
    )


def test_excess_slowdown_is_over_the_oracle_on_the_same_scenario_and_seed() -> None:
    def row(policy: str, seed: int, slowdown: float | None, scenario: str = "s") -> dict:
        base = dict.fromkeys(cmp.ROW_KEYS)
        base.update(scenario=scenario, policy=policy, seed=seed, mean_slowdown=slowdown)
        return base

    rows = [
        row("oracle", 1, 1.10),
        row("oracle", 2, 1.20),
        row("p", 1, 1.25),
        row("p", 2, 1.30),
        row("q", 1, 1.05),  # better than the bound: a negative excess, shown as it is
        row("q", 3, 1.50),  # no oracle run with seed 3
        row("p", 1, 1.40, scenario="other"),  # no oracle on that scenario
    ]
    excess = [r["excess_slowdown"] for r in cmp.with_excess_slowdown(rows)]
    assert excess == [0.0, 0.0, 0.15, 0.1, -0.05, None, None]
    assert all(r["excess_slowdown"] is None for r in rows), "the rows given are not changed"
    table = cmp.aggregate(rows)
    assert table["s"]["p"]["excess_slowdown"] == pytest.approx(0.125)
    assert table["s"]["q"]["excess_slowdown"] == pytest.approx(-0.05)
    assert table["other"]["p"]["excess_slowdown"] is None
    assert cmp.with_excess_slowdown([row("p", 1, 1.2)])[0]["excess_slowdown"] is None

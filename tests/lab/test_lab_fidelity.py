"""``juggler fidelity``'s lab side: the matched scenario (fast), and the command on
real QEMU guests (the ``lab`` lane)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_helpers import lab
from typer.testing import CliRunner

from juggler.cli.app import app
from juggler.errors import FidelityError, LabError, ScenarioError
from juggler.fidelity import BASELINE, HOST, METRICS
from juggler.lab.fidelity import matched_scenario, recorded_scenario, run_path
from juggler.lab.run import lab_limits, plan, workload_phases
from juggler.scenario import Scenario, load_scenario
from juggler.units import MIB

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.toml"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize(
    ("path", "scale"),
    [
        (TINY, 0.25),
        (EXAMPLES / "lab-seed.toml", 1.0),
        (EXAMPLES / "lab-seed.toml", 0.25),
        (EXAMPLES / "host-swap.toml", 0.25),
        (EXAMPLES / "guest-swap.toml", 0.5),
        (DATA / "outgrow.toml", 0.25),
    ],
)
def test_the_simulator_gets_the_sizes_the_lab_boots(path: Path, scale: float) -> None:
    """The lab's own scaling of the matched scenario at scale 1 is its scaling of the
    scenario at ``scale``: same host, host swap, guests, workload phases, guard."""
    scenario = load_scenario(path)
    matched = matched_scenario(scenario, scale)
    lab, again = plan(scenario, scale), plan(matched, 1.0)
    assert (again.host_bytes, again.host_swap_bytes) == (lab.host_bytes, lab.host_swap_bytes)
    assert again.specs == lab.specs
    assert again.vms == lab.vms
    assert lab_limits(matched, 1.0) == lab_limits(scenario, scale)
    for vm, copy in zip(scenario.vm, matched.vm, strict=True):
        assert workload_phases(matched, copy, 1.0) == workload_phases(scenario, vm, scale)


def test_the_matched_scenario_is_the_tcg_host_without_overhead() -> None:
    scenario = load_scenario(EXAMPLES / "lab-seed.toml")
    matched = matched_scenario(scenario, 0.5)
    assert matched.host.profile == "tcg"
    assert matched.host.vm_overhead == 0
    assert matched.host.memory == 1024 * MIB
    assert (matched.run.duration, matched.run.seed) == (scenario.run.duration, scenario.run.seed)
    assert matched.name == scenario.name
    a = matched.vm[0]
    assert (a.memory, a.guest_swap, a.vcpus, a.balloon) == (512 * MIB, 256 * MIB, 1, True)
    assert a.guest_kernel == scenario.vm[0].guest_kernel  # the same kernel at every scale
    assert [p.working_set for p in a.workload] == [128 * MIB, 360 * MIB, 128 * MIB]
    assert [p.duration for p in a.workload] == [30.0, 70.0, None]
    assert a.workload[0].cache_rate == 2 * MIB


def test_what_the_lab_cannot_play_is_dropped(tmp_path: Path) -> None:
    text = TINY.read_text().replace(
        '[host]\nmemory = "1GiB"',
        '[host]\nmemory = "1GiB"\nballoon_rate = "1GiB/s"\nreclaim = "random"\nprofile = "free"',
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    matched = matched_scenario(load_scenario(path), 0.25)
    assert matched.host.balloon_rate is None
    assert matched.host.reclaim is None
    assert matched.host.profile == "tcg"


def test_a_scale_the_lab_cannot_run_is_refused() -> None:
    scenario = load_scenario(TINY)
    with pytest.raises(LabError, match=r"scale\(=0\) must be more than 0 and at most 1"):
        matched_scenario(scenario, 0)
    with pytest.raises(LabError, match="below the lab's 64 MiB"):
        matched_scenario(scenario, 0.05)


def test_a_matched_copy_that_does_not_validate_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "big-kernel.toml"
    path.write_text(TINY.read_text().replace('name = "A"', 'name = "A"\nguest_kernel = "300MiB"'))
    with pytest.raises(ScenarioError, match=r"guest_kernel .* leaves no memory"):
        matched_scenario(load_scenario(path), 0.25)


def test_a_simulated_run_is_not_a_recorded_lab_run(tmp_path: Path) -> None:
    from juggler.simulate import run_simulation

    out = tmp_path / "sim.sqlite"
    run_simulation(load_scenario(TINY).with_overrides(duration_s=4.0), out)
    with pytest.raises(FidelityError, match="not a lab run"):
        recorded_scenario(out)


def _check_table(document: dict, scenario: Scenario, policies: list[str]) -> None:
    assert set(document) == {"scenario", "scale", "rows"}
    assert document["scenario"] == scenario.name
    rows = {(r["policy"], r["vm"], r["metric"]): r for r in document["rows"]}
    for policy in policies:
        for vm in [*(v.name for v in scenario.vm), HOST]:
            for metric in METRICS:
                if metric == "throughput_vs_static" and (policy == BASELINE or vm == "A"):
                    continue  # A idles: no work under static, no ratio in either world
                row = rows[policy, vm, metric]
                assert isinstance(row["lab"], int | float), row
                assert isinstance(row["sim"], int | float), row
                if row["lab"]:
                    expected = (row["sim"] - row["lab"]) / row["lab"]
                    assert row["relative_error"] == pytest.approx(expected)
                else:
                    assert row["relative_error"] is None


@lab
def test_fidelity_runs_tiny_in_both_worlds_and_rebuilds_the_table(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    report = tmp_path / "fidelity.html"
    args = ["fidelity", str(TINY), "--scale", "0.25", "--policies", "juggler,static"]
    args += ["--duration", "30s", "-o", str(out), "--json", "--report", str(report)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["scale"] == 0.25
    scenario = load_scenario(TINY)
    _check_table(document, scenario, ["juggler", "static"])
    for world in ("lab", "sim"):
        for policy in ("juggler", "static"):
            assert run_path(out, world, "tiny", policy).is_file()
    page = report.read_text()
    assert "f-lab" in page and "f-sim" in page and "VM B under juggler" in page
    # the same table again from the run files kept, nothing run
    again = CliRunner().invoke(app, ["fidelity", "--from", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == document
    # and the lab's runs against fresh simulations of what each ran: the same rows
    fresh = tmp_path / "fresh"
    resim = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--from",
            str(out / "lab-tiny-juggler.sqlite"),
            "--from",
            str(out / "lab-tiny-static.sqlite"),
            "--resimulate",
            "-o",
            str(fresh),
            "--json",
        ],
    )
    assert resim.exit_code == 0, resim.output
    assert json.loads(resim.stdout) == document

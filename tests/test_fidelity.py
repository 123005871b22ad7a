"""The fidelity comparison (``juggler.fidelity``): run files in, rows out.

The simulated run files come from short simulations of a small scenario where the
host runs short and balloons move (:data:`PAIR`); the
"lab" files are written by hand where a check needs the lab's own measure (the
workload's accesses per second) or numbers that can be worked out on paper.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from juggler.errors import FidelityError, StoreError
from juggler.fidelity import (
    BASELINE,
    HOST,
    METRICS,
    compare_runs,
    meets_goal,
    relative_error,
    run_figures,
    sort_runs,
)
from juggler.metrics.store import RunStore
from juggler.observation import HostSample, Observation, VmSample
from juggler.scenario import parse_scenario
from juggler.simulate import run_simulation
from juggler.summary import summarize
from juggler.units import MIB

#: two 512 MiB VMs on a 512 MiB host: A shrinks at 10 s, B grows, 30 s
PAIR = """\
name = "pair"
[host]
memory = "512MiB"
swap = "256MiB"
[manager]
policy = "juggler"
interval = "2s"
max_step = "64MiB"
[run]
duration = "60s"
[[vm]]
name = "A"
memory = "512MiB"
guest_swap = "128MiB"
  [[vm.workload]]
  duration = "10s"
  working_set = "300MiB"
  [[vm.workload]]
  working_set = "64MiB"
  pattern = "idle"
[[vm]]
name = "B"
memory = "512MiB"
guest_swap = "128MiB"
  [[vm.workload]]
  duration = "10s"
  working_set = "64MiB"
  [[vm.workload]]
  working_set = "360MiB"
"""


def simulate_pair(out: Path, policy: str, seed: int = 1, name: str = "pair") -> Path:
    """:data:`PAIR` under ``policy`` (as scenario ``name``)."""
    scenario = parse_scenario(PAIR.replace('name = "pair"', f"name = {name!r}"), "PAIR")
    run_simulation(scenario.with_overrides(policy=policy, seed=seed), out)
    return out


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """juggler and static on the tiny scenario, and juggler again under another seed."""
    base = tmp_path_factory.mktemp("sims")
    return {
        "juggler": simulate_pair(base / "juggler.sqlite", "juggler"),
        "static": simulate_pair(base / "static.sqlite", "static"),
        "juggler-seed2": simulate_pair(base / "juggler2.sqlite", "juggler", seed=2),
    }


def hand_run(path: Path, policy: str, accesses: dict[str, float], backend: str = "qemu") -> Path:
    """A lab-like run file: samples at 0, 1 and 3 s of VMs A (resident 100, 200, 300 MiB,
    balloon 0, 64, 32 MiB) and B (resident 50 MiB, no balloon movement), each
    workload reporting ``accesses`` per second."""
    meta = {
        "scenario": "pair",
        "policy": policy,
        "backend": backend,
        "lab_scale": 0.25,
        "lab_overhead_bytes": {"A": 100 * MIB, "B": 90 * MIB},
        "lab_overhead_final_bytes": {"A": 110 * MIB, "B": 95 * MIB},
    }
    with RunStore.create(path, meta) as store:
        for step, t in enumerate((0.0, 1.0, 3.0)):
            vms = tuple(
                VmSample(
                    name,
                    configured_bytes=256 * MIB,
                    balloon_actual_bytes=(0, 64, 32)[step] * MIB if name == "A" else 0,
                    resident_bytes=((100, 200, 300)[step] if name == "A" else 50) * MIB,
                    host_swapped_bytes=0,
                    guest_swap_out_bytes_per_s=float(MIB) if name == "A" else 0.0,
                    guest_swap_in_bytes_per_s=0.0,
                    vm_host_swap_out_bytes_per_s=float(MIB),
                    vm_host_swap_in_bytes_per_s=0.0,
                    workload_accesses_per_s=accesses[name],
                    workload_latency_p50_seconds=1e-6,
                    workload_latency_p99_seconds=1e-5,
                )
                for name in ("A", "B")
            )
            host = HostSample(
                256 * MIB,
                10 * MIB,
                host_swap_in_bytes_per_s=0.0,
                host_swap_out_bytes_per_s=2.0 * MIB,
            )
            store.record_observation(Observation(t, host, vms))
    return path


def test_json_has_exactly_the_shape_the_issue_gives(sims: dict[str, Path]) -> None:
    table = compare_runs(
        {"juggler": sims["juggler-seed2"], "static": sims["static"]},
        {"juggler": sims["juggler"], "static": sims["static"]},
    )
    document = json.loads(table.to_json())
    assert set(document) == {"scenario", "scale", "rows"}
    assert document["scenario"] == "pair"
    assert {tuple(sorted(row)) for row in document["rows"]} == {
        ("lab", "metric", "policy", "relative_error", "sim", "vm")
    }
    seen = {(row["policy"], row["vm"], row["metric"]) for row in document["rows"]}
    for policy in ("juggler", "static"):
        for vm in ("A", "B", HOST):
            for metric in METRICS:
                # throughput is relative to static: static's own would be 1 by definition
                assert ((policy, vm, metric) in seen) == (
                    metric != "throughput_vs_static" or policy != BASELINE
                )
    assert ("juggler", HOST, "decisions") in seen


def test_a_run_against_itself_reads_the_summarys_figures(sims: dict[str, Path]) -> None:
    run = sims["juggler"]
    table = compare_runs({"juggler": run}, {"juggler": run})
    with RunStore.open(run) as store:
        summary = summarize(store)
        moved = store.balloon_moved_bytes()
    host_out = table.row(HOST, "juggler", "host_swap_out_bytes")
    assert host_out.lab == host_out.sim == summary.host.host_swap_out_bytes
    vm_moved = [table.row(vm.name, "juggler", "balloon_moved_bytes").lab for vm in summary.vms]
    assert moved > 0  # the policy moved balloons: the sums below compare something
    assert sum(v or 0 for v in vm_moved) == table.row(HOST, "juggler", "balloon_moved_bytes").lab
    assert table.row(HOST, "juggler", "balloon_moved_bytes").lab == moved
    b = next(vm for vm in summary.vms if vm.name == "B")
    assert table.row("B", "juggler", "guest_swap_out_bytes").lab == b.guest_swap_out_bytes
    assert table.row(HOST, "juggler", "decisions").lab == summary.decisions
    for row in table.rows:
        assert row.lab == row.sim
        assert row.relative_error == (None if not row.lab else 0.0)


def test_relative_error_is_sim_minus_lab_over_lab(sims: dict[str, Path]) -> None:
    table = compare_runs({"juggler": sims["juggler-seed2"]}, {"juggler": sims["juggler"]})
    lab, sim = run_figures(sims["juggler-seed2"]), run_figures(sims["juggler"])
    row = table.row("B", "juggler", "mean_resident_bytes")
    expected_lab, expected_sim = (
        lab.figures["B", "mean_resident_bytes"],
        sim.figures["B", "mean_resident_bytes"],
    )
    assert expected_lab and expected_sim and expected_lab != expected_sim
    assert (row.lab, row.sim) == (expected_lab, expected_sim)
    assert row.relative_error == pytest.approx((expected_sim - expected_lab) / expected_lab)


def test_mean_and_peak_resident_weigh_each_sample_by_its_period(tmp_path: Path) -> None:
    figures = run_figures(hand_run(tmp_path / "lab.sqlite", "static", {"A": 1.0, "B": 1.0}))
    # A: 200 MiB covers (0, 1], 300 MiB covers (1, 3]: (200 + 2 × 300) / 3
    assert figures.figures["A", "mean_resident_bytes"] == pytest.approx(800 / 3 * MIB)
    assert figures.figures["A", "peak_resident_bytes"] == 300 * MIB
    # the host: A + B at each sample time (150, 250, 350 MiB)
    assert figures.figures[HOST, "mean_resident_bytes"] == pytest.approx(950 / 3 * MIB)
    assert figures.figures[HOST, "peak_resident_bytes"] == 350 * MIB
    # A's balloon 0 → 64 → 32 MiB; B's never moves
    assert figures.figures["A", "balloon_moved_bytes"] == 96 * MIB
    assert figures.figures[HOST, "balloon_moved_bytes"] == 96 * MIB
    # guest swap-out of 1 MiB/s over 3 s, A only; host swap-out 2 MiB/s
    assert figures.figures[HOST, "guest_swap_out_bytes"] == 3 * MIB
    assert figures.figures[HOST, "host_swap_out_bytes"] == 6 * MIB
    assert figures.scale == 0.25


def test_throughput_is_each_worlds_own_measure_over_static(
    sims: dict[str, Path], tmp_path: Path
) -> None:
    lab = {
        "static": hand_run(tmp_path / "static.sqlite", "static", {"A": 0.0, "B": 200_000.0}),
        "juggler": hand_run(tmp_path / "juggler.sqlite", "juggler", {"A": 0.0, "B": 150_000.0}),
    }
    table = compare_runs(lab, {"juggler": sims["juggler"], "static": sims["static"]})
    b = table.row("B", "juggler", "throughput_vs_static")
    assert b.lab == pytest.approx(0.75)  # the workload's own accesses per second
    with RunStore.open(sims["juggler"]) as mine, RunStore.open(sims["static"]) as base:
        achieved = mine.truth_totals("B").achieved_accesses
        baseline = base.truth_totals("B").achieved_accesses
    assert achieved and baseline
    assert b.sim == pytest.approx(achieved / baseline)  # the simulator's achieved work
    assert b.relative_error == pytest.approx((b.sim - 0.75) / 0.75)
    # static's runs serve the throughput though static itself is not compared
    alone = compare_runs(
        lab, {"juggler": sims["juggler"], "static": sims["static"]}, policies=["juggler"]
    )
    assert alone.row("B", "juggler", "throughput_vs_static") == b
    assert alone.policies == ("juggler",)
    # A idles in the lab: no work under static, no ratio
    assert table.row("A", "juggler", "throughput_vs_static").lab is None
    assert table.row(HOST, "juggler", "throughput_vs_static").lab == pytest.approx(0.75)
    # the lab's QEMU overhead, summed over VMs; a simulated run has none to say
    assert table.overheads["juggler"] == (190 * MIB, 205 * MIB)
    assert run_figures(sims["juggler"]).overhead_bytes == (None, None)


def test_a_missing_side_or_baseline_leaves_the_cells_empty(sims: dict[str, Path]) -> None:
    table = compare_runs({"juggler": sims["juggler"]}, {}, policies=["juggler"])
    row = table.row("A", "juggler", "mean_resident_bytes")
    assert row.lab is not None and row.sim is None and row.relative_error is None
    assert table.row("B", "juggler", "throughput_vs_static").lab is None  # no static run
    assert table.runs == {"juggler": {"lab": str(sims["juggler"]), "sim": None}}


def test_relative_error_and_goal_on_hand_cases() -> None:
    assert relative_error(100.0, 125.0) == 0.25
    assert relative_error(0.0, 5.0) is None
    assert relative_error(None, 5.0) is None
    assert meets_goal("mean_resident_bytes", 1000 * MIB, 1250 * MIB) is True
    assert meets_goal("mean_resident_bytes", 1000 * MIB, 1260 * MIB) is False
    # small: within 32 MiB though far more than 25% apart
    assert meets_goal("guest_swap_out_bytes", 1 * MIB, 30 * MIB) is True
    assert meets_goal("guest_swap_out_bytes", 1 * MIB, 40 * MIB) is False
    assert meets_goal("peak_resident_bytes", 1 * MIB, 900 * MIB) is None  # no goal set
    assert meets_goal("host_swap_out_bytes", None, 900 * MIB) is None
    # throughput: the same side of 1 in both worlds
    assert meets_goal("throughput_vs_static", 0.9, 0.97) is True
    assert meets_goal("throughput_vs_static", 0.9, 1.03) is False
    assert meets_goal("throughput_vs_static", 0.9, 1.0) is False  # the lab's loss unseen
    # within 2% of static is no change, in both worlds alike
    assert meets_goal("throughput_vs_static", 1.001, 1.0) is True
    assert meets_goal("throughput_vs_static", 1.01, 0.99) is True
    assert meets_goal("throughput_vs_static", 1.05, 1.03) is True


def test_run_files_of_different_scenarios_are_refused(
    sims: dict[str, Path], tmp_path: Path
) -> None:
    other = simulate_pair(tmp_path / "other.sqlite", "juggler", name="other")
    with pytest.raises(FidelityError, match="different scenarios"):
        compare_runs({"juggler": sims["juggler"]}, {"juggler": other})


def test_recorded_files_are_sorted_by_their_backend(sims: dict[str, Path], tmp_path: Path) -> None:
    lab_run = hand_run(tmp_path / "lab.sqlite", "static", {"A": 1.0, "B": 1.0})
    lab, sim = sort_runs([lab_run, sims["juggler"], sims["static"]])
    assert lab == {"static": lab_run}
    assert sim == {"juggler": sims["juggler"], "static": sims["static"]}
    with pytest.raises(FidelityError, match="both sim runs of policy 'juggler'"):
        sort_runs([sims["juggler"], sims["juggler-seed2"]])
    odd = hand_run(tmp_path / "odd.sqlite", "static", {"A": 1.0, "B": 1.0}, backend="libvirt")
    with pytest.raises(FidelityError, match="backend 'libvirt' is neither"):
        sort_runs([odd])
    with pytest.raises(StoreError, match="no such run file"):
        sort_runs([tmp_path / "missing.sqlite"])

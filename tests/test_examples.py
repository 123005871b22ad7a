"""The stories the examples tell, run in full as a user would run them."""

from __future__ import annotations

from pathlib import Path

import pytest

from juggler.metrics.store import RunStore
from juggler.scenario import builtin_scenario, builtin_scenario_text, load_scenario
from juggler.simulate import run_simulation
from juggler.summary import RunSummary, Violations, VmSummary
from tests.runfile import run_sql

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, tmp_path: Path, policy: str | None = None) -> RunSummary:
    scenario = load_scenario(EXAMPLES / f"{name}.toml").with_overrides(policy=policy)
    return run_simulation(scenario, tmp_path / f"{name}-{scenario.manager.policy}.sqlite")


def _vm(summary: RunSummary, name: str) -> VmSummary:
    return next(vm for vm in summary.vms if vm.name == name)


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seed")
    return _run("seed", tmp), _run("seed", tmp, "static")


def test_the_built_in_seed_is_the_example(seed_runs):
    assert builtin_scenario_text() == (EXAMPLES / "seed.toml").read_text()
    assert builtin_scenario() == load_scenario(EXAMPLES / "seed.toml")


def test_seed_balloons_b_then_deflates_and_spares_a(seed_runs):
    ballooning, static = seed_runs
    b = _vm(ballooning, "B")
    assert b.balloon_max_bytes > 0
    assert b.balloon_final_bytes < b.balloon_max_bytes
    assert _vm(ballooning, "A").slowdown < _vm(static, "A").slowdown
    assert _vm(static, "A").host_swap_out_bytes > 0
    assert ballooning.host.host_swap_out_bytes < static.host.host_swap_out_bytes
    for summary in seed_runs:
        assert summary.violations == Violations(reservation=0, guest_oom=0)


def test_seed_run_file_records_decisions_with_reasons(seed_runs):
    ballooning, _ = seed_runs
    with RunStore.open(ballooning.run) as store:
        decisions = store.decisions()
        truth = store.count("truth")
        samples = store.count("vm_samples")
    assert decisions and all(d.reason for d in decisions)
    assert any(d.vm == "B" and d.balloon_target_bytes > 0 for d in decisions)
    assert truth == samples == 4 * 601


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["juggler", "freemem", "static"])
def test_reservation_holds_while_an_unreserved_neighbour_is_squeezed(tmp_path, policy):
    summary = _run("reservation", tmp_path, policy)
    c, d = _vm(summary, "C"), _vm(summary, "D")
    assert c.reservation_bytes > 0 and d.reservation_bytes == 0
    assert c.min_resident_bytes >= c.reservation_bytes
    with RunStore.open(summary.run) as store:
        first = run_sql(
            store,
            "SELECT MIN(time_s) FROM vm_samples WHERE vm = 'D' AND resident_bytes >= ?",
            (c.reservation_bytes,),
        )[0][0]
        low = run_sql(
            store,
            "SELECT MIN(resident_bytes) FROM vm_samples WHERE vm = 'D' AND time_s >= ?",
            (first,),
        )[0][0]
    assert first is not None and low < c.reservation_bytes
    assert summary.violations.reservation == 0


def test_without_balloons_the_host_swaps_and_a_vm_that_never_swaps_slows_too(tmp_path):
    summary = _run("host-swap", tmp_path)
    b = _vm(summary, "B")
    assert b.guest_swap_in_bytes == 0 and b.guest_swap_out_bytes == 0
    assert b.stall_seconds.host_swap > 0
    assert b.slowdown > 1.0
    assert all(vm.balloon_max_bytes is None for vm in summary.vms)
    assert summary.violations.reservation == 0


@pytest.mark.slow
def test_a_vm_too_small_for_its_working_set_swaps_while_the_host_is_high(tmp_path):
    summary = _run("guest-swap", tmp_path)
    big = _vm(summary, "big")
    assert big.guest_swap_in_bytes > 0 and big.guest_swap_out_bytes > 0
    assert summary.host.seconds_in_state["high"] == summary.duration_s
    assert summary.host.host_swap_out_bytes == 0
    assert summary.violations.reservation == 0

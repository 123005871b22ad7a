"""The run file and the summary computed from it."""

from __future__ import annotations

import pytest

from juggler.errors import StoreError
from juggler.metrics.store import RunStore
from juggler.observation import HostSample, Observation, VmSample, VmTruth
from juggler.summary import StallSeconds, Violations, summarize
from juggler.units import MIB


def _obs(t, available, state, swap_in, resident, balloon, truth=True):
    vm = VmSample(
        "v",
        configured_bytes=1024 * MIB,
        reservation_bytes=300 * MIB,
        balloon_actual_bytes=balloon,
        balloon_target_bytes=balloon,
        resident_bytes=resident,
        guest_swap_in_bytes_per_s=swap_in,
        guest_swap_out_bytes_per_s=0.0,
        vm_host_swap_in_bytes_per_s=0.0,
        vm_host_swap_out_bytes_per_s=0.0,
    )
    host = HostSample(
        2048 * MIB, available, host_swap_in_bytes_per_s=swap_in, host_swap_out_bytes_per_s=0.0
    )
    t_truth = {"v": VmTruth(400 * MIB, 0.5, 0.25, 0.0, 0.125, 100.0, 80.0)} if truth else {}
    return Observation(t, host, (vm,), host_state=state, truth=t_truth)


def test_summary_integrates_rates_over_the_period_each_sample_covers(tmp_path):
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "hand", "policy": "static"}) as store:
        # samples at 0, 1, 3 s: the 3 s sample covers 2 seconds
        store.record_observation(_obs(0.0, 500 * MIB, "high", 0.0, 100 * MIB, 0))
        store.record_observation(_obs(1.0, 60 * MIB, "soft", 1 * MIB, 350 * MIB, 64 * MIB))
        store.record_observation(_obs(3.0, 10 * MIB, "hard", 2 * MIB, 320 * MIB, 32 * MIB))
        store.record_decision(1.0, "v", 64 * MIB, 0, "because")
    with RunStore.open(path) as store:
        summary = summarize(store)
    vm = summary.vms[0]
    assert summary.duration_s == 3.0
    assert summary.host.seconds_in_state == {
        "high": 0.0,
        "soft": 1.0,
        "hard": 2.0,
        "low": 0.0,
    }
    assert vm.guest_swap_in_bytes == 1 * MIB * 1 + 2 * MIB * 2
    assert summary.host.min_available_bytes == 10 * MIB
    # resident first reached the 300 MiB reservation at 1 s: 100 MiB before does not count
    assert vm.min_resident_bytes == 320 * MIB
    assert vm.balloon_max_bytes == 64 * MIB and vm.balloon_final_bytes == 32 * MIB
    assert vm.slowdown == pytest.approx(300 / 240)
    assert vm.stall_seconds == StallSeconds(
        guest_swap=1.5, host_swap=0.75, cache_miss=0.0, balloon=0.375
    )
    assert summary.decisions == 1
    assert summary.violations == Violations(reservation=0, guest_oom=0)


def test_summary_of_a_run_without_truth_has_nulls_not_guesses(tmp_path):
    path = tmp_path / "real.sqlite"
    with RunStore.create(path, {"scenario": "lab"}) as store:
        store.record_observation(_obs(0.0, 500 * MIB, "high", 0.0, 400 * MIB, 0, truth=False))
        store.record_observation(_obs(5.0, 500 * MIB, "high", 0.0, 200 * MIB, 0, truth=False))
    with RunStore.open(path) as store:
        summary = summarize(store)
    vm = summary.vms[0]
    assert vm.slowdown is None and vm.peak_working_set_bytes is None
    assert vm.stall_seconds == StallSeconds(None, None, None, None)
    assert summary.violations.reservation == 1


def test_opening_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no such run file"):
        RunStore.open(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    with pytest.raises(StoreError, match="not a juggler run file"):
        RunStore.open(junk)

"""Each mechanism of the simulated host, on VMs small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from juggler.hoststate import host_state
from juggler.observation import Decision, VmTarget
from juggler.sim import kernels
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from juggler.units import KIB, MIB
from tests.sim.conftest import tiny, vm

PAGE = 4 * KIB


def _settled(sim: SimulatedHost) -> dict[str, int]:
    row = sim.vm_i[0]
    return {
        k: int(row[c])
        for k, c in (
            ("free", L.N_FREE),
            ("anon", L.N_ANON),
            ("cache", L.N_CACHE),
            ("balloon", L.N_BALLOON),
            ("swap", L.SWAP_USED),
            ("resident", L.N_RESIDENT),
            ("low_wm", L.LOW_WM),
        )
    }


def _anon_and_cache_then_idle(**vm_fields) -> SimulatedHost:
    """1 MiB anonymous (256 pages) + 1 MiB page cache in a 4 MiB guest, then idle."""
    sim = SimulatedHost(
        tiny(
            [
                vm(
                    file_size="1MiB",
                    workload=[
                        {
                            "duration": "3s",
                            "working_set": "1MiB",
                            "pattern": "scan",
                            "rate": 4000,
                            "cache_rate": "512KiB/s",
                        },
                        {"pattern": "idle", "rate": 0},
                    ],
                    **vm_fields,
                )
            ]
        )
    )
    sim.advance(4)
    return sim


def _balloon(sim: SimulatedHost, n_bytes: int) -> None:
    sim.apply(Decision({"v": VmTarget(n_bytes, "test")}))
    sim.advance(1)
    sim.check_invariants()


def test_balloon_takes_free_pages_first_then_cache_then_anonymous():
    sim = _anon_and_cache_then_idle()
    start = _settled(sim)
    assert start["anon"] == 256 and start["cache"] == 256
    # 1) only free memory: the guest keeps every cache and anonymous page
    free_part = start["free"] - start["low_wm"]
    _balloon(sim, free_part * PAGE)
    s = _settled(sim)
    assert s["balloon"] == free_part
    assert (s["cache"], s["anon"], s["swap"]) == (256, 256, 0)
    # 2) more than the free memory: page cache goes, anonymous memory stays
    _balloon(sim, (free_part + 128) * PAGE)
    s = _settled(sim)
    assert s["balloon"] == free_part + 128
    assert s["anon"] == 256 and s["swap"] == 0
    assert s["cache"] <= 256 - 128 + 1
    # 3) beyond the cache: anonymous pages go to guest swap
    _balloon(sim, (free_part + 256 + 64) * PAGE)
    s = _settled(sim)
    assert s["cache"] == 0
    assert s["swap"] >= 64 and s["anon"] == 256 - s["swap"]


def test_balloon_releases_host_memory_and_deflating_gives_it_back():
    sim = _anon_and_cache_then_idle()
    resident = _settled(sim)["resident"]
    host_free = int(sim.host_i[L.HOST_FREE])
    _balloon(sim, 3 * MIB)
    s = _settled(sim)
    released = resident - s["resident"]
    assert released > 0
    assert int(sim.host_i[L.HOST_FREE]) == host_free + released
    obs = sim.observe()
    assert obs.vm("v").balloon_actual_bytes == s["balloon"] * PAGE
    assert obs.vm("v").guest_total_bytes == 4 * MIB - s["balloon"] * PAGE
    _balloon(sim, 0)
    s = _settled(sim)
    assert s["balloon"] == 0
    # deflated pages are free in the guest and unbacked until touched again
    assert s["resident"] == resident - released


def test_a_host_swapped_page_the_guest_reclaims_is_read_back_first():
    sim = _anon_and_cache_then_idle(guest_swap="4MiB")
    # the host swaps out every resident page of the VM (guest-blind victims)
    swapped = kernels.host_swap_out(
        10_000,
        0,
        sim.vm_i,
        sim.g_state,
        sim.h_state,
        sim.frame_page,
        sim.page_flags,
        sim.host_i,
        sim.rng,
    )
    assert swapped > 0
    sim.check_invariants()
    in_before = int(sim.host_i[L.HOST_SWAP_IN])
    kernels.clear_tick(sim.vm_i, sim.vm_f, *L.TICK_ACCUMULATORS)
    kernels.guest_reclaim(
        0,
        300 + 256,
        sim.vm_i,
        sim.vm_f,
        sim.g_state,
        sim.h_state,
        sim.frame_page,
        sim.page_frame,
        sim.page_flags,
        sim.free_stack,
        sim.host_i,
        sim.host_f,
        sim.rng,
    )
    sim.check_invariants()
    written = int(sim.vm_f[0, L.C_GUEST_SWAP_OUT])
    read_back = int(sim.host_i[L.HOST_SWAP_IN]) - in_before
    assert written > 0
    # every anonymous page the guest wrote out had been host-swapped: each was read back
    assert read_back == written
    assert sim.vm_f[0, L.STALL_HOST_SWAP] > 0


def test_host_never_backs_more_pages_than_it_has_and_swaps_below_hard():
    # three 4 MiB VMs each touching 3 MiB on a 6 MiB host: the host must swap
    scenario = tiny(
        [vm(f"v{i}", workload=[{"working_set": "3MiB", "rate": 8000}]) for i in range(3)],
        host={"memory": "6MiB", "swap": "16MiB"},
    )
    sim = SimulatedHost(scenario)
    for _ in range(20):
        sim.advance(1)
        sim.check_invariants()
        assert sim.host_i[L.HOST_FREE] >= 0
    assert sim.host_i[L.HOST_SWAP_OUT] > 0
    obs = sim.observe()
    assert obs.host.host_swap_used_bytes > 0
    assert sum(t.stall_seconds_host_swap for t in obs.truth.values()) > 0


@pytest.mark.parametrize("reclaim", ["random", "lru"])
def test_host_swap_never_takes_a_vm_below_its_reservation(reclaim):
    scenario = tiny(
        [
            vm("kept", reservation="3MiB", workload=[{"working_set": "3MiB", "rate": 8000}]),
            vm("open", workload=[{"working_set": "3MiB", "rate": 8000}]),
            vm("open2", workload=[{"working_set": "3MiB", "rate": 8000}]),
        ],
        host={"memory": "7MiB", "swap": "16MiB", "reclaim": reclaim},
    )
    sim = SimulatedHost(scenario)
    reached = False
    for _ in range(30):
        sim.advance(1)
        resident = int(sim.vm_i[0, L.N_RESIDENT]) * PAGE
        reached = reached or resident >= 3 * MIB
        if reached:
            assert resident >= 3 * MIB
    assert reached
    assert sim.vm_i[1, L.HOST_SWAP_OUT_PAGES] > 0


def test_page_cache_fills_free_memory_so_the_host_backs_more_than_the_working_set():
    sim = SimulatedHost(
        tiny(
            [
                vm(
                    file_size="8MiB",
                    workload=[{"working_set": "1MiB", "rate": 4000, "cache_rate": "1MiB/s"}],
                )
            ]
        )
    )
    sim.advance(10)
    obs = sim.observe()
    guest = obs.vm("v")
    assert guest.guest_cache_bytes > 2 * MIB
    assert guest.resident_bytes > 1 * MIB + 2 * MIB


def test_a_guest_that_would_oom_takes_pages_back_from_its_balloon():
    # no guest swap: a balloon of 3 MiB leaves too little for a 2 MiB working set
    sim = SimulatedHost(
        tiny(
            [
                vm(
                    guest_swap=0,
                    workload=[
                        {"duration": "2s", "working_set": "256KiB", "rate": 4000},
                        {"working_set": "2MiB", "rate": 8000},
                    ],
                )
            ]
        )
    )
    sim.advance(1)
    sim.apply(Decision({"v": VmTarget(3 * MIB, "squeeze")}))
    sim.advance(1)
    assert int(sim.vm_i[0, L.N_BALLOON]) * PAGE > 2 * MIB
    sim.advance(5)
    sim.check_invariants()
    assert int(sim.vm_i[0, L.OOM_EVENTS]) == 0
    assert int(sim.vm_i[0, L.N_ANON]) == 512
    assert int(sim.vm_i[0, L.N_BALLOON]) * PAGE < 2 * MIB


def test_a_guest_with_nothing_left_to_give_runs_out_of_memory():
    sim = SimulatedHost(tiny([vm(guest_swap=0, workload=[{"working_set": "5MiB", "rate": 8000}])]))
    sim.advance(5)
    assert int(sim.vm_i[0, L.OOM_EVENTS]) > 0
    assert sum(t.guest_oom_events for t in [sim.observe().truth["v"]]) > 0


def test_a_working_set_larger_than_the_guest_swaps_inside_the_guest():
    sim = SimulatedHost(tiny([vm(workload=[{"working_set": "5MiB", "rate": 8000}])]))
    sim.advance(10)
    obs = sim.observe()
    assert obs.vm("v").guest_swap_in_bytes_per_s > 0
    assert obs.vm("v").guest_swap_out_bytes_per_s > 0
    assert obs.truth["v"].stall_seconds_guest_swap > 0
    assert obs.host_state == "high"


def test_a_limit_caps_resident_memory():
    sim = SimulatedHost(
        tiny([vm(limit="2MiB", balloon=False, workload=[{"working_set": "3MiB", "rate": 8000}])])
    )
    for _ in range(6):
        sim.advance(1)
        assert int(sim.vm_i[0, L.N_RESIDENT]) * PAGE <= 2 * MIB
    assert sim.vm_i[0, L.HOST_SWAP_OUT_PAGES] > 0


def test_same_seed_same_run_other_seed_other_run():
    def run(seed: int) -> np.ndarray:
        scenario = tiny(
            [
                vm(f"v{i}", workload=[{"working_set": "3MiB", "rate": 8000, "pattern": "zipf"}])
                for i in range(3)
            ],
            host={"memory": "6MiB"},
            run={"seed": seed},
        )
        sim = SimulatedHost(scenario)
        sim.advance(8)
        return sim.h_state.copy()

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_free_memory_states_follow_the_thresholds():
    assert host_state(0.10) == "high"
    assert host_state(0.04) == "high"
    assert host_state(0.039) == "soft"
    assert host_state(0.02) == "soft"
    assert host_state(0.019) == "hard"
    assert host_state(0.0099) == "low"

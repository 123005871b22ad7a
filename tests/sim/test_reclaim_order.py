"""The host's reclaim order, ``[host] reclaim``: blind ("random") or by recency ("lru").

One VM scans 6 MiB once (its cold set: 1280 pages touched once) and then touches its
first 1 MiB every tick (its hot set: 256 pages, each ~16 times a tick). Of the
frames the host could take, the hot set is 256 of 1600 (the guest's 64 kernel frames
count, the engine never touches them): a blind host takes hot pages at that share
(16%), an LRU host (almost) only cold ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from juggler.sim import kernels
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from tests.sim.conftest import tiny, vm

HOT_PAGES = 256  # 1 MiB of 4 KiB pages, the first of the VM's anonymous pages
SWAPS_PER_TICK = 32
TICKS = 20


def _hot_and_cold(reclaim: str, **host: object) -> SimulatedHost:
    """The VM above, after its scan and one tick of its hot set."""
    workload = [
        # half its vCPU: the hot set comes back every tick, whatever the host took
        {"duration": "1s", "working_set": "6MiB", "pattern": "scan", "rate": 8000, "cpu": 0.5},
        {"working_set": "1MiB", "pattern": "uniform", "rate": 4000, "cpu": 0.5},
    ]
    sim = SimulatedHost(
        tiny(
            [vm("hc", memory="8MiB", guest_swap="0", workload=workload)],
            host={"reclaim": reclaim, **host},
        )
    )
    sim.advance(2)
    return sim


def _is_hot(sim: SimulatedHost, frames: np.ndarray) -> np.ndarray:
    pages = sim.frame_page[frames]
    first = sim.vm_i[0, L.ANON_BASE]
    return (pages >= first) & (pages < first + HOT_PAGES)


def _hot_share_of_host_swaps(sim: SimulatedHost) -> float:
    """Each tick the host swaps out SWAPS_PER_TICK pages of the VM, as a host under
    pressure would, and the VM touches its hot set again: the share of the swapped
    pages that were hot, each page classified by what its frame held when it went."""
    hot = total = 0
    for _ in range(TICKS):
        before = sim.h_state.copy()
        kernels.host_swap_out(
            SWAPS_PER_TICK,
            0,
            sim.vm_i,
            sim.g_state,
            sim.h_state,
            sim.frame_page,
            sim.page_flags,
            sim.host_i,
            sim.rng,
        )
        went = np.flatnonzero((before == L.H_RESIDENT) & (sim.h_state == L.H_SWAPPED))
        hot += int(_is_hot(sim, went).sum())
        total += went.size
        sim.check_invariants()
        sim.advance(1)
    assert total == SWAPS_PER_TICK * TICKS
    return hot / total


def test_the_vm_is_as_described():
    sim = _hot_and_cold("random")
    resident = np.flatnonzero(sim.h_state == L.H_RESIDENT)
    assert resident.size == 1600
    assert int(_is_hot(sim, resident).sum()) == HOT_PAGES


def test_a_blind_host_swaps_hot_pages_at_their_share():
    share = _hot_share_of_host_swaps(_hot_and_cold("random"))
    assert share == pytest.approx(HOT_PAGES / 1600, abs=0.05)


def test_an_lru_host_swaps_cold_pages_and_keeps_the_hot_set():
    sim = _hot_and_cold("lru")
    assert _hot_share_of_host_swaps(sim) < 0.10
    # the hot set is resident at the end: touched since, or never taken
    resident = np.flatnonzero(sim.h_state == L.H_RESIDENT)
    assert int(_is_hot(sim, resident).sum()) == HOT_PAGES


def _hot_share_under_real_pressure(reclaim: str) -> float:
    """The VM above shares an 8 MiB host with one that touches 50 new pages a tick
    (12 MiB, once each), so the host swaps from the sixth tick on, mostly the VM's
    pages (it has most resident). The VM's cold pages are never read again, and a
    hot page taken is read back within the tick after (it is touched ~16 times a
    tick), so the VM's host swap-ins count the hot pages the host took."""
    workload = [
        # half its vCPU: the hot set comes back every tick, whatever the host took
        {"duration": "1s", "working_set": "6MiB", "pattern": "scan", "rate": 8000, "cpu": 0.5},
        {"working_set": "1MiB", "pattern": "uniform", "rate": 4000, "cpu": 0.5},
    ]
    grower = [{"working_set": "12MiB", "pattern": "scan", "rate": 50}]
    sim = SimulatedHost(
        tiny(
            [
                vm("hc", memory="8MiB", guest_swap="0", workload=workload),
                vm("grower", memory="16MiB", guest_swap="0", workload=grower),
            ],
            host={"memory": "8MiB", "reclaim": reclaim},
        )
    )
    swap_ins = 0.0
    for _ in range(26):
        sim.advance(1)
        swap_ins += float(sim.vm_f[0, L.C_HOST_SWAP_IN])
        sim.check_invariants()
    swap_outs = int(sim.vm_i[0, L.HOST_SWAP_OUT_PAGES])
    assert swap_outs > 500  # under pressure, and not yet out of cold pages (1344)
    return swap_ins / swap_outs


def test_under_real_pressure_a_blind_host_swaps_hot_pages_at_their_share():
    assert _hot_share_under_real_pressure("random") == pytest.approx(HOT_PAGES / 1600, abs=0.06)


def test_under_real_pressure_an_lru_host_leaves_the_hot_set_alone():
    assert _hot_share_under_real_pressure("lru") < 0.05

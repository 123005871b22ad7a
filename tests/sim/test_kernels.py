"""The kernels against slow references and hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from juggler.sim import kernels
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from juggler.sim.workload import zipf_quantiles
from tests import naive
from tests.sim.conftest import tiny, vm


def _filled_host(seed: int = 3) -> SimulatedHost:
    """One 4 MiB VM holding 1 MiB of anonymous memory and about 1 MiB of page cache,
    then idle (so nothing moves unless a test moves it)."""
    scenario = tiny(
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
            )
        ],
        run={"seed": seed},
    )
    sim = SimulatedHost(scenario)
    sim.advance(4)
    return sim


def _arrays(sim: SimulatedHost) -> dict[str, np.ndarray]:
    return {
        name: getattr(sim, name).copy()
        for name in ("g_state", "frame_page", "page_frame", "page_flags", "free_stack", "vm_i")
    }


def _reference_every_third_frame(sim: SimulatedHost) -> None:
    """Clear every CLOCK reference bit, then set it on the pages of every third frame."""
    sim.page_flags &= ~np.uint8(L.PF_REF)
    pages = sim.frame_page[::3]
    sim.page_flags[pages[pages >= 0]] |= L.PF_REF


@pytest.mark.parametrize("want", [1, 40, 200, 400, 900])
def test_guest_reclaim_matches_reference(want):
    fast = _filled_host()
    slow = _filled_host()
    # the reference has no double paging: make sure nothing is host-swapped
    assert int(fast.vm_i[0, L.N_HSWAPPED]) == 0
    _reference_every_third_frame(fast)
    _reference_every_third_frame(slow)
    got = kernels.guest_reclaim(
        0,
        want,
        fast.vm_i,
        fast.vm_f,
        fast.g_state,
        fast.h_state,
        fast.frame_page,
        fast.page_frame,
        fast.page_flags,
        fast.free_stack,
        fast.host_i,
        fast.host_f,
        fast.rng,
    )
    expected = naive.guest_reclaim(slow, 0, want)
    assert got == expected
    for name, array in _arrays(fast).items():
        np.testing.assert_array_equal(array, getattr(slow, name), err_msg=name)
    fast.check_invariants()


def test_reclaim_takes_cache_before_anonymous():
    sim = _filled_host()
    anon, cache = int(sim.vm_i[0, L.N_ANON]), int(sim.vm_i[0, L.N_CACHE])
    assert anon == 256 and cache > 100
    freed = kernels.guest_reclaim(
        0,
        cache // 2,
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
    assert freed == cache // 2
    assert int(sim.vm_i[0, L.N_ANON]) == anon
    assert int(sim.vm_i[0, L.SWAP_USED]) == 0
    sim.check_invariants()


def test_zipf_table_follows_the_power_law():
    n, exponent = 1000, 0.9
    table = zipf_quantiles(n, exponent)
    rng = np.random.default_rng(0)
    x = rng.random(400_000) * (table.size - 1)
    k = x.astype(int)
    ranks = (table[k] + (x - k) * (table[k + 1] - table[k])).astype(int)
    counts = np.bincount(ranks, minlength=n) / ranks.size
    exact = naive.zipf_frequencies(n, exponent)
    # the hottest tenth of the pages gets the same share of accesses, within 2 points
    assert abs(counts[: n // 10].sum() - exact[: n // 10].sum()) < 0.02
    assert counts[0] > counts[10] > counts[500]


def test_random_streams_are_reproducible_and_independent():
    rng_a = np.array([7, 9], dtype=np.uint64)
    rng_b = rng_a.copy()
    first = [kernels.rand_u64(rng_a, 0) for _ in range(5)]
    kernels.rand_u64(rng_b, 1)  # drawing from another stream does not disturb stream 0
    assert first == [kernels.rand_u64(rng_b, 0) for _ in range(5)]
    units = np.array([kernels.rand_unit(rng_a, 1) for _ in range(10_000)])
    assert units.min() >= 0.0 and units.max() < 1.0
    assert abs(units.mean() - 0.5) < 0.02

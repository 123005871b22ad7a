"""The arithmetic that turns calibration readings into profile parameters, on
cases worked out by hand (no QEMU needed)."""

from __future__ import annotations

import pytest

from juggler.lab.calibration import (
    GuestMemory,
    Inflation,
    Measured,
    Snapshot,
    Sources,
    Squeeze,
    Window,
    boot_reserved_fit,
    cold_share,
    cost_per_gib_anon,
    cost_per_gib_cache,
    cost_per_gib_free,
    inflation_sources,
    move_cost,
    reclaim_order,
    retouch_cost,
)
from juggler.units import GIB, MIB


def test_a_window_is_the_difference_of_its_snapshots_and_run_queue_wait_is_not_guest_time() -> None:
    window = Window.between(Snapshot(100, 10.0, 1.0, 0.5), Snapshot(1100, 12.0, 1.5, 0.6))
    assert window == Window(1000, 2.0, 0.5, pytest.approx(0.1))
    assert window.ran_s == 1.5


def test_move_cost_is_the_time_the_accesses_made_do_not_explain() -> None:
    # baseline: 1e6 accesses in 2 s of vCPU (2 us each), host kernel 0.1 s (5% of it)
    baseline = Window(1_000_000, 2.5, 0.5, 0.1)
    # during: 3 s of vCPU of which the host gave 1 s to others; 0.5e6 accesses (1 s)
    during = Window(500_000, 4.0, 1.0, 0.4)
    cost = move_cost(baseline, during)
    assert cost.lost_s == pytest.approx(3.0 - 1.0)
    assert cost.host_s == pytest.approx(0.4 - 0.05 * 3.0)
    assert cost.guest_s == pytest.approx(2.0 - 0.25)


def test_a_move_that_costs_nothing_costs_zero() -> None:
    baseline = Window(1000, 1.0, 0.0, 0.0)
    assert move_cost(baseline, Window(3000, 3.0, 0.0, 0.0)).lost_s == pytest.approx(0.0)


def test_a_baseline_without_accesses_is_refused() -> None:
    with pytest.raises(ValueError, match="the workload did not run"):
        move_cost(Window(0, 1.0, 0.0, 0.0), Window(10, 1.0, 0.0, 0.0))


def test_inflation_sources_are_the_drops_of_free_and_cache_and_the_growth_of_swap() -> None:
    before = GuestMemory(total=500 * MIB, free=100 * MIB, cache=200 * MIB, anon=0, swap_used=0)
    after = GuestMemory(total=250 * MIB, free=50 * MIB, cache=50 * MIB, anon=0, swap_used=50 * MIB)
    sources = inflation_sources(before, after)
    assert (sources.free, sources.cache, sources.anon) == pytest.approx((0.2, 0.6, 0.2))


def test_a_source_that_grew_counts_as_none() -> None:
    before = GuestMemory(500 * MIB, 100 * MIB, 10 * MIB, 0, 0)
    after = GuestMemory(400 * MIB, 0, 20 * MIB, 0, 0)
    assert inflation_sources(before, after) == Sources(1.0, 0.0, 0.0)


def test_an_inflation_that_moved_nothing_is_refused() -> None:
    same = GuestMemory(500 * MIB, 100 * MIB, 10 * MIB, 0, 0)
    with pytest.raises(ValueError, match="neither"):
        inflation_sources(same, same)


def test_per_gib_costs_are_solved_free_then_cache_then_anon() -> None:
    # true costs: free 1 s/GiB, cache 3 s/GiB, anon 10 s/GiB
    free = [Inflation(GIB // 2, Sources(1.0, 0.0, 0.0), 0.5)]
    cache = [Inflation(GIB, Sources(0.25, 0.75, 0.0), 0.25 * 1 + 0.75 * 3)]
    anon = [Inflation(GIB // 4, Sources(0.2, 0.2, 0.6), 0.25 * (0.2 + 0.2 * 3 + 0.6 * 10))]
    assert cost_per_gib_free(free) == [pytest.approx(1.0)]
    assert cost_per_gib_cache(cache, 1.0) == [pytest.approx(3.0)]
    assert cost_per_gib_anon(anon, 1.0, 3.0) == [pytest.approx(10.0)]


def test_moves_without_a_part_of_the_source_are_left_out_of_its_cost() -> None:
    assert cost_per_gib_cache([Inflation(GIB, Sources(1.0, 0.0, 0.0), 1.0)], 1.0) == []
    assert cost_per_gib_anon([Inflation(GIB, Sources(0.5, 0.5, 0.0), 1.0)], 1.0, 1.0) == []


def test_boot_reserved_is_a_line_through_the_sizes() -> None:
    # 16 MiB + 24 MiB per GiB: 22 MiB at 256 MiB, 28 MiB at 512 MiB
    fixed, per_gib = boot_reserved_fit([(256 * MIB, 22 * MIB), (512 * MIB, 28 * MIB)])
    assert fixed == pytest.approx(16 * MIB)
    assert per_gib == pytest.approx(24 * MIB)


def test_boot_reserved_needs_two_sizes() -> None:
    with pytest.raises(ValueError, match="two sizes"):
        boot_reserved_fit([(256 * MIB, 22 * MIB), (256 * MIB, 23 * MIB)])


def test_retouch_is_the_extra_first_touch_time_of_a_returned_page() -> None:
    assert retouch_cost((1000, 0.09), (2000, 0.08)) == pytest.approx(50e-6)


def test_cold_share_is_what_the_hot_set_did_not_take_back() -> None:
    assert cold_share(Squeeze(100 * MIB, 25 * MIB, 0.3)) == pytest.approx(0.75)
    assert cold_share(Squeeze(100 * MIB, 0, 0.3)) == 1.0
    with pytest.raises(ValueError, match="swapped nothing"):
        cold_share(Squeeze(0, 0, 0.3))


def test_reclaim_is_lru_only_when_the_hot_set_lost_far_less_than_a_blind_host_would_take() -> None:
    # a blind host takes from the hot set its share of resident memory (30%)
    assert reclaim_order([Squeeze(100 * MIB, 2 * MIB, 0.3)]) == "lru"
    assert reclaim_order([Squeeze(100 * MIB, 28 * MIB, 0.3)]) == "random"
    assert reclaim_order([Squeeze(100 * MIB, 16 * MIB, 0.3)]) == "random"


def test_spread_is_the_range_over_the_median() -> None:
    row = Measured("x", (9.0, 10.0, 12.0), "s")
    assert row.median == 10.0
    assert row.spread == pytest.approx(0.3)
    assert Measured("x", (1.0,), "s").spread is None

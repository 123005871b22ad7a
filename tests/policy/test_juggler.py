"""The juggler policy: who gives, who gets, and why, on hand-made observations."""

from __future__ import annotations

import dataclasses

import pytest
from tests.policy.conftest import make_state

from juggler.observation import HostSample, Observation, VmSample
from juggler.policy import POLICIES
from juggler.policy.juggler import Params, State, decide, rho
from juggler.policy.workingset import WorkingSetEstimator
from juggler.units import MIB

GIB = 1024 * MIB


def guest(
    name,
    *,
    resident,
    available,
    touched=None,
    shares=1000,
    balloon=0,
    target=None,
    configured=2 * GIB,
    reservation=0,
    swap_in=0.0,
    cache=None,
):
    """A VM seen by a policy; `touched` of 200 sampled pages were active (None: no sampling).

    Its working-set estimate is the Manager's after this one observation."""
    total = configured - balloon
    sample = VmSample(
        name,
        configured_bytes=configured,
        reservation_bytes=reservation,
        shares=shares,
        balloon_target_bytes=balloon if target is None else target,
        balloon_actual_bytes=balloon,
        resident_bytes=resident,
        guest_total_bytes=total,
        guest_available_bytes=available,
        guest_free_bytes=available,
        guest_cache_bytes=cache,
        guest_swap_in_bytes_per_s=swap_in,
        sampled_pages=None if touched is None else 200,
        sampled_touched_pages=touched,
        sampled_at_s=None if touched is None else 20.0,
    )
    estimate = WorkingSetEstimator().update(sample)
    return dataclasses.replace(sample, working_set_estimate_bytes=estimate)


def host(available_fraction, *vms, memory=4 * GIB, swapping=False, time_s=20.0):
    return Observation(
        time_s,
        HostSample(
            memory,
            int(available_fraction * memory),
            host_swap_out_bytes_per_s=1e6 if swapping else 0.0,
        ),
        tuple(vms),
    )


def test_idle_pages_are_taxed():
    # k = 1 / (1 - 0.75) = 4: an idle page costs four active ones
    assert rho(1000, GIB, 1.0, 0.75) == pytest.approx(4 * rho(1000, GIB, 0.0, 0.75))
    assert rho(1000, GIB, 0.5, 0.0) == pytest.approx(rho(1000, GIB, 1.0, 0.0))


def test_the_donor_with_fewer_shares_per_page_gives_first():
    # each: 2 GiB guest, 1200 MiB resident, 1150 MiB available (so 898 MiB used): it can
    # give 1200 - (898 + 61 floor) = 241 MiB of page cache; 45% active (not idle)
    rich = guest("rich", resident=1200 * MIB, available=1150 * MIB, touched=90, shares=2000)
    poor = guest("poor", resident=1200 * MIB, available=1150 * MIB, touched=90, shares=500)
    # free 5.6% of 4 GiB: want (8% - 5.6%) * 4096 MiB ~ 98 MiB, all from the poorer donor
    decision = decide(host(0.056, rich, poor), Params(), make_state(State))
    poor_target = decision.targets["poor"]
    assert "reclaim 98" in poor_target.reason and "rho" in poor_target.reason
    assert poor_target.balloon_bytes == pytest.approx(
        2048 * MIB - 1200 * MIB + 98.3 * MIB, rel=0.002
    )
    assert "reclaim" not in decision.targets["rich"].reason  # only held where it is


def test_the_idle_memory_tax_takes_an_idle_hoarders_pages_despite_its_shares():
    # both use 1.5 GiB and have no page cache to give; the hoarder (2000 shares) touched
    # 5% of its sampled pages, the worker (1000 shares) 90%
    hoarder = guest("hoarder", resident=1600 * MIB, available=500 * MIB, touched=10, shares=2000)
    worker = guest("worker", resident=1600 * MIB, available=500 * MIB, touched=180)
    decision = decide(host(0.05, hoarder, worker), Params(), make_state(State))
    assert "hoarder" in decision.targets
    assert "worker" not in decision.targets or "hold" in decision.targets["worker"].reason
    assert decision.targets["hoarder"].balloon_bytes > 2 * GIB - 1600 * MIB


def test_active_memory_is_taken_only_while_the_host_swaps():
    # the only memory left is active anonymous memory: 1948 MiB used, 1229 MiB estimated
    # active (60%: not idle), kept with a 10% margin + 3% floor = 1413 MiB
    busy = guest("busy", resident=1900 * MIB, available=100 * MIB, touched=120)
    calm = decide(host(0.03, busy, swapping=False), Params(), make_state(State))
    assert "busy" not in calm.targets or "reclaim" not in calm.targets["busy"].reason
    swapping = decide(host(0.03, busy, swapping=True), Params(), make_state(State))
    assert "reclaim" in swapping.targets["busy"].reason


def test_a_needy_guest_gets_memory_back_first_and_says_why():
    needy = guest("needy", resident=900 * MIB, available=10 * MIB, balloon=GIB, swap_in=4 * MIB)
    decision = decide(host(0.10, needy), Params(), make_state(State))
    target = decision.targets["needy"]
    assert target.balloon_bytes == GIB // 2  # half its balloon back
    assert "shows need" in target.reason


def test_a_balloon_that_does_not_move_is_marked_uncooperative():
    stuck = guest(
        "stuck", resident=1500 * MIB, available=800 * MIB, touched=20, balloon=0, target=512 * MIB
    )
    state = make_state(State)
    for interval in range(4):
        decision = decide(host(0.05, stuck, time_s=20.0 + 5 * interval), Params(), state)
    assert any("uncooperative" in note and "stuck" in note for note in decision.notes)
    assert "stuck" not in decision.targets


def test_plenty_gives_back_to_the_most_deserving_first():
    a = guest("a", resident=600 * MIB, available=300 * MIB, touched=190, balloon=GIB)
    b = guest("b", resident=600 * MIB, available=300 * MIB, touched=10, balloon=GIB)
    # 13% free of 4 GiB: surplus (13% - 8%) * 4096 ~ 205 MiB, all of it to the busy one
    decision = decide(host(0.13, a, b), Params(), make_state(State))
    assert decision.targets["a"].balloon_bytes < GIB
    assert "b" not in decision.targets


def test_a_growing_guest_is_neither_donor_nor_held():
    state = make_state(State)
    before = guest("grow", resident=800 * MIB, available=1200 * MIB, touched=40)
    decide(host(0.10, before), Params(), state)
    after = guest("grow", resident=1100 * MIB, available=900 * MIB, touched=40)
    decision = decide(host(0.03, after, swapping=True, time_s=25.0), Params(), state)
    assert "grow" not in decision.targets


def test_a_held_guest_keeps_what_it_uses_unless_the_host_reads_its_memory_back():
    # the host swapped 450 MiB of the guest's cold pages: resident is below what it uses
    cold = guest("cold", resident=1200 * MIB, available=400 * MIB)
    used = 2 * GIB - 400 * MIB
    need_floor = int(0.05 * 2 * GIB)
    held = decide(host(0.03, cold, swapping=True), Params(), make_state(State)).targets["cold"]
    # held at what it uses plus the need floor: not needy at the next interval
    assert held.balloon_bytes == 2 * GIB - (used + need_floor)
    assert "hold at used" in held.reason
    # while the host reads its memory back, the guest is held at resident + 3%: it picks
    # what to page better than the host did
    read_back = dataclasses.replace(cold, vm_host_swap_in_bytes_per_s=4 * MIB)
    held = decide(host(0.03, read_back, swapping=True), Params(), make_state(State)).targets["cold"]
    assert held.balloon_bytes == 2 * GIB - (1200 * MIB + int(0.03 * 2 * GIB))
    assert "hold at resident" in held.reason


def test_registered_with_its_parameters():
    policy = POLICIES["juggler"]
    params = policy.make_params({"tax_rate": 0.5, "relief_bytes": "32MiB"})
    assert params.tax_rate == 0.5 and params.relief_bytes == 32 * MIB

"""What a VM is about to need (``VmTruth.upcoming_need_bytes``), checked by hand.

A tiny guest of 4 MiB holds 64 pages of kernel and a reclaim watermark of 64 pages
(``max(64, frames // 200)``), nothing reserved at boot (TOY_PROFILE).
"""

from __future__ import annotations

from juggler.scenario import Phase, PhaseSpan
from juggler.sim.host import SimulatedHost
from juggler.sim.layout import PAT_IDLE, PAT_UNIFORM
from juggler.sim.workload import PhaseSettings, upcoming_working_set_pages
from juggler.units import KIB
from tests.sim.conftest import tiny, vm

PAGE = 4 * KIB
HELD = 64 + 64


def _settings(pattern: int, pages: int, per_tick: float) -> PhaseSettings:
    return PhaseSettings(pattern, pages, 1.0, per_tick, 0.0, 0.0, False, 1.0)


#: the spans' phases are not read (their settings below are), only their times
SPANS = [
    PhaseSpan(0.0, 10.0, Phase(pattern="idle")),
    PhaseSpan(10.0, 30.0, Phase(pattern="idle")),
    PhaseSpan(30.0, 60.0, Phase(pattern="idle")),
]
#: 100 pages, then 1000, then idle touching one page a second (60 a minute)
SETTINGS = [
    _settings(PAT_UNIFORM, 100, 10.0),
    _settings(PAT_UNIFORM, 1000, 10.0),
    _settings(PAT_IDLE, -1, 1.0),
]


def _ahead(now_s: float, allocated: int = 100) -> int:
    return upcoming_working_set_pages(SPANS, SETTINGS, now_s, 5.0, 200, allocated, 1.0)


def test_a_phase_ahead_counts_less_a_step_for_each_decision_before_the_one_it_needs():
    # at 0 the phase at 10 s is two decisions away (0 and 5): held 1000 - 200 now
    assert _ahead(0.0) == 800
    # at 6 the next decision (11 s) comes after it starts: all of it now
    assert _ahead(6.0) == 1000
    assert _ahead(12.0) == 1000


def test_an_idle_phase_needs_only_what_its_trickle_touches_of_what_the_vm_holds():
    assert _ahead(31.0, allocated=1000) == 60
    assert _ahead(31.0, allocated=20) == 20


def _scenario(guest_swap: str):
    phases = [
        {"duration": "10s", "working_set": "1MiB", "pattern": "uniform", "rate": 4000},
        {"duration": "10s", "working_set": "3MiB", "pattern": "uniform", "rate": 4000},
        {"pattern": "idle", "rate": 1},
    ]
    return tiny(
        [vm(workload=phases, guest_swap=guest_swap)],
        manager={"interval": "5s", "max_step": "1MiB"},
        host={"memory": "16MiB"},
    )


def test_the_simulated_host_reports_the_need_of_the_phases_ahead():
    sim = SimulatedHost(_scenario("4MiB"))
    # the 3 MiB (768 pages) phase at 10 s is two decisions away: 768 - 256 now
    assert sim.observe().truth["v"].upcoming_need_bytes == (HELD + 512) * PAGE
    sim.advance(6.0)
    assert sim.observe().truth["v"].upcoming_need_bytes == (HELD + 768) * PAGE


def test_anonymous_pages_the_guest_cannot_swap_are_needed_even_when_idle():
    with_swap = SimulatedHost(_scenario("4MiB"))
    without = SimulatedHost(_scenario("0"))
    for sim in (with_swap, without):
        sim.advance(25.0)
    assert with_swap.observe().truth["v"].upcoming_need_bytes == (HELD + 60) * PAGE
    # 768 anonymous pages held and nowhere to swap them
    assert without.observe().truth["v"].upcoming_need_bytes == (HELD + 768) * PAGE

"""The balloon's vCPU cost on VMs small enough to check by hand.

A profile with round per-page figures (``_profile``) makes every charge a whole
number of pages times one figure: inflating from free memory, by dropping page
cache, by writing anonymous pages to guest swap, deflating, re-touching a page
the balloon gave back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from juggler.observation import Decision, VmTarget
from juggler.sim import kernels
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from juggler.units import KIB
from tests.sim.conftest import tiny, vm

PAGE = 4 * KIB
PAGES_PER_GIB = 2**30 // PAGE
#: vCPU seconds per page (the profile file states them per GiB)
FREE_S, CACHE_S, ANON_S, DEFLATE_S, RETOUCH_S = 1e-4, 3e-4, 7e-4, 2e-4, 5e-5


def _profile(tmp_path: Path) -> str:
    path = tmp_path / "costly.toml"
    path.write_text(
        f"""name = "costly"
[host]
reclaim = "random"
qemu_overhead = 0
[balloon]
inflate_rate = 1073741824.0
deflate_rate = 1073741824.0
inflate_cpu_free = {FREE_S * PAGES_PER_GIB!r}
inflate_cpu_cache = {CACHE_S * PAGES_PER_GIB!r}
inflate_cpu_anon = {ANON_S * PAGES_PER_GIB!r}
deflate_cpu = {DEFLATE_S * PAGES_PER_GIB!r}
retouch_s = {RETOUCH_S!r}
[guest]
boot_reserved = 0
boot_reserved_per_gib = 0
boot_touched = 0
""",
        "utf-8",
    )
    return str(path)


def _host(profile: str, workload: list[dict], **vm_fields) -> SimulatedHost:
    scenario = tiny(
        [vm(workload=workload, **vm_fields)],
        host={"profile": profile, "balloon_rate": None},
    )
    return SimulatedHost(scenario)


def _filled(profile: str, cache: bool) -> SimulatedHost:
    """1 MiB anonymous (256 pages), 1 MiB page cache if ``cache``, in a 4 MiB guest;
    then idle: nothing moves but the balloon."""
    fill: dict = {"duration": "3s", "working_set": "1MiB", "pattern": "scan", "rate": 4000}
    if cache:
        fill["cache_rate"] = "512KiB/s"
    sim = _host(profile, [fill, {"pattern": "idle", "rate": 0}], file_size="1MiB")
    sim.advance(4)
    return sim


def _balloon(sim: SimulatedHost, pages: int) -> float:
    """Set the balloon to ``pages``, run one tick, return its STALL_BALLOON."""
    sim.apply(Decision({"v": VmTarget(pages * PAGE, "test")}))
    sim.advance(1)
    sim.check_invariants()
    assert int(sim.vm_i[0, L.N_BALLOON]) == pages
    return float(sim.vm_f[0, L.STALL_BALLOON])


def _free_part(sim: SimulatedHost) -> int:
    return int(sim.vm_i[0, L.N_FREE] - sim.vm_i[0, L.LOW_WM])


def test_the_profile_figures_become_per_page_costs(tmp_path):
    sim = _filled(_profile(tmp_path), cache=False)
    got = [sim.host_f[c] for c in (L.INFLATE_CPU_FREE, L.INFLATE_CPU_CACHE, L.INFLATE_CPU_ANON)]
    assert got == pytest.approx([FREE_S, CACHE_S, ANON_S], rel=1e-12)
    assert sim.host_f[L.DEFLATE_CPU] == pytest.approx(DEFLATE_S, rel=1e-12)
    assert sim.host_f[L.RETOUCH] == RETOUCH_S
    # 1 GiB/s in 1 s ticks of 4 KiB pages, each way
    assert int(sim.vm_i[0, L.BALLOON_RATE]) == int(sim.vm_i[0, L.DEFLATE_RATE]) == PAGES_PER_GIB


def test_inflating_from_free_memory_costs_each_page_the_free_figure(tmp_path):
    sim = _filled(_profile(tmp_path), cache=True)
    free_part = _free_part(sim)
    cache, anon = int(sim.vm_i[0, L.N_CACHE]), int(sim.vm_i[0, L.N_ANON])
    stall = _balloon(sim, free_part)
    assert stall == pytest.approx(free_part * sim.host_f[L.INFLATE_CPU_FREE], rel=1e-12)
    # the guest gave only free pages: its cache and anonymous memory are all there
    assert (int(sim.vm_i[0, L.N_CACHE]), int(sim.vm_i[0, L.N_ANON])) == (cache, anon)


def test_inflating_by_dropping_page_cache_costs_each_page_the_cache_figure(tmp_path):
    sim = _filled(_profile(tmp_path), cache=True)
    free_part = _free_part(sim)
    _balloon(sim, free_part)
    cache = int(sim.vm_i[0, L.N_CACHE])
    stall = _balloon(sim, free_part + 128)
    # the reclaim dropped exactly the 128 cache pages the balloon then took
    assert cache - int(sim.vm_i[0, L.N_CACHE]) == 128
    assert int(sim.vm_i[0, L.SWAP_USED]) == 0
    assert stall == pytest.approx(128 * sim.host_f[L.INFLATE_CPU_CACHE], rel=1e-12)


def test_inflating_by_swapping_anonymous_memory_costs_each_page_the_anon_figure(tmp_path):
    sim = _filled(_profile(tmp_path), cache=False)
    assert int(sim.vm_i[0, L.N_CACHE]) == 0
    free_part = _free_part(sim)
    _balloon(sim, free_part)
    stall = _balloon(sim, free_part + 64)
    assert int(sim.vm_i[0, L.SWAP_USED]) == 64
    assert stall == pytest.approx(64 * sim.host_f[L.INFLATE_CPU_ANON], rel=1e-12)


def test_deflating_costs_each_page_the_deflate_figure(tmp_path):
    sim = _filled(_profile(tmp_path), cache=False)
    free_part = _free_part(sim)
    _balloon(sim, free_part)
    stall = _balloon(sim, 100)
    assert stall == pytest.approx((free_part - 100) * sim.host_f[L.DEFLATE_CPU], rel=1e-12)


def test_the_truth_and_the_period_report_the_balloon_stall(tmp_path):
    sim = _filled(_profile(tmp_path), cache=True)
    sim.observe()
    free_part = _free_part(sim)
    first = _balloon(sim, free_part)
    second = _balloon(sim, free_part + 128)
    truth = sim.observe().truth["v"]
    assert truth.stall_seconds_balloon == pytest.approx(first + second, rel=1e-12)


def test_a_busy_vm_loses_exactly_the_modelled_time(tmp_path):
    """A VM whose work fills its vCPU: inflating from free memory takes pages x the free
    figure of its time, and it does the work that fits in what is left (it stops when
    its time is spent, to one sampled access) -- against a twin without the balloon,
    which does all its work."""
    profile = _profile(tmp_path)
    busy = [{"working_set": "1MiB", "pattern": "uniform", "rate": 4000, "cpu": 1.0}]
    ballooned = _host(profile, busy)
    twin = _host(profile, busy)
    for sim in (ballooned, twin):
        sim.advance(5)  # the working set is resident: every access is a hit
        assert float(sim.vm_f[0, L.STALL_HOST_SWAP]) == 0.0
    pages = _free_part(ballooned)
    stall = _balloon(ballooned, pages)
    twin.advance(1)
    assert stall == pytest.approx(pages * FREE_S, rel=1e-12)
    row, other = ballooned.vm_f[0], twin.vm_f[0]
    need, budget = float(row[L.T_NOMINAL]), float(row[L.BUDGET])
    assert need == pytest.approx(budget, rel=1e-9)  # the work alone fills the vCPU
    assert float(other[L.T_NOMINAL]) == need  # the twin had the same work to do
    for stalled in (L.STALL_GUEST_SWAP, L.STALL_HOST_SWAP, L.STALL_CACHE_MISS):
        assert float(row[stalled]) == 0.0
    nominal = float(other[L.ACHIEVED])
    assert nominal == pytest.approx(4000 * min(1.0, budget / need))
    # each sampled access stands for one access here (4000 a tick, 4000 sampled)
    assert float(row[L.ACHIEVED]) == pytest.approx(4000 * (budget - stall) / need, abs=1.0)
    assert float(row[L.ACHIEVED]) < nominal


def test_a_returned_page_costs_retouch_and_a_new_one_only_the_zero_fill(tmp_path):
    sim = _filled(_profile(tmp_path), cache=True)
    free_part = _free_part(sim)
    # the free part was never touched (the host never backed it); the 128 cache
    # pages were: the balloon makes the host drop those
    _balloon(sim, free_part + 128)
    _balloon(sim, 0)
    base = int(sim.vm_i[0, L.FRAME_BASE])
    frames = np.arange(base, base + int(sim.vm_i[0, L.N_FRAMES]))
    returned = frames[sim.h_state[frames] == L.H_RETURNED]
    never = frames[(sim.h_state[frames] == L.H_UNBACKED) & (sim.g_state[frames] == L.G_FREE)]
    assert len(returned) == 128 and len(never) > 0

    def back(f: int) -> tuple[float, float]:
        sim.vm_f[0, L.STALL_BALLOON] = sim.vm_f[0, L.T_NOMINAL] = 0.0
        assert kernels.host_back_frame(
            0,
            f,
            1.0,
            sim.vm_i,
            sim.vm_f,
            sim.g_state,
            sim.h_state,
            sim.frame_page,
            sim.page_flags,
            sim.host_i,
            sim.host_f,
            sim.rng,
        )
        return float(sim.vm_f[0, L.T_NOMINAL]), float(sim.vm_f[0, L.STALL_BALLOON])

    zero_fill = float(sim.host_f[L.ZERO_FILL])
    # the zero fill is the work's own, as for any first touch; the rest is the balloon's
    assert back(int(returned[0])) == (zero_fill, pytest.approx(RETOUCH_S - zero_fill))
    assert back(int(never[0])) == (zero_fill, 0.0)


def test_the_free_profile_charges_nothing():
    sim = _filled("free", cache=True)
    free_part = _free_part(sim)
    assert _balloon(sim, free_part) == 0.0
    assert _balloon(sim, free_part + 200) == 0.0
    assert _balloon(sim, 0) == 0.0
    sim.apply(Decision({"v": VmTarget(0, "test")}))
    sim.advance(5)
    assert sim.observe().truth["v"].stall_seconds_balloon == 0.0

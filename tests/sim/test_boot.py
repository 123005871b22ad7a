"""What a guest holds once booted, and a host that keeps no free memory (a cgroup).

Counts by hand: 4 KiB pages; a 4 MiB guest has 1024 frames, a 256 KiB kernel 64.
"""

from __future__ import annotations

from juggler.hoststate import host_state
from juggler.observation import Decision, VmTarget
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from juggler.units import KIB, MIB
from tests.sim.conftest import tiny, toy_profile, vm

PAGE = 4 * KIB
#: guests reserve a quarter of their memory outside MemTotal and touched a quarter
#: while booting (4 MiB guest: 256 frames each)
QUARTERS = toy_profile("quarters", boot_reserved_per_gib=256 * MIB, boot_touched=0.25)
CGROUP = toy_profile("cgroup", keeps_free=False)
KEEPS_FREE = toy_profile("keeps-free", keeps_free=True)


def _frames(sim: SimulatedHost, v: int = 0) -> tuple[int, int, int, int, int]:
    """(kernel, free, free and host-resident, free and host-swapped, resident) frames."""
    row = sim.vm_i[v]
    base, n = int(row[L.FRAME_BASE]), int(row[L.N_FRAMES])
    g, h = sim.g_state[base : base + n], sim.h_state[base : base + n]
    free = g == L.G_FREE
    return (
        int((g == L.G_KERNEL).sum()),
        int(free.sum()),
        int((free & (h == L.H_RESIDENT)).sum()),
        int((free & (h == L.H_SWAPPED)).sum()),
        int(row[L.N_RESIDENT]),
    )


def _idle(**fields) -> dict:
    return vm(workload=[{"pattern": "idle", "rate": 0}], **fields)


def test_boot_reserved_frames_are_held_like_the_kernel_and_left_out_of_memtotal():
    sim = SimulatedHost(tiny([_idle()], host={"profile": QUARTERS}))
    sim.check_invariants()
    assert int(sim.vm_i[0, L.N_RESERVED]) == 256
    kernel, free, _, _, _ = _frames(sim)
    assert (kernel, free) == (64 + 256, 1024 - 64 - 256)
    sample = sim.observe().vms[0]
    # MemTotal: 1024 - 256 reserved frames; the kernel's 64 are inside it, as in Linux
    assert sample.guest_total_bytes == (1024 - 256) * PAGE
    assert sample.guest_free_bytes == 704 * PAGE
    # the balloon cannot take reserved frames: asked for everything, it stops at the
    # free frames less the guest's low watermark (64), and MemTotal shrinks by it
    sim.apply(Decision({"v": VmTarget(4 * MIB, "test")}))
    sim.advance(2)
    sim.check_invariants()
    assert int(sim.vm_i[0, L.N_BALLOON]) == 704 - 64
    assert int(sim.vm_i[0, L.N_RESERVED]) == 256
    assert sim.observe().vms[0].guest_total_bytes == (1024 - 256 - 640) * PAGE


def test_without_a_balloon_the_guest_still_reports_memtotal_less_the_reserved_part():
    sim = SimulatedHost(tiny([_idle(balloon=False)], host={"profile": QUARTERS}))
    assert sim.observe().vms[0].guest_total_bytes == (1024 - 256) * PAGE


def test_boot_touched_frames_are_free_in_the_guest_and_backed_by_the_host():
    sim = SimulatedHost(tiny([_idle()], host={"profile": QUARTERS}))
    kernel, _, free_resident, free_swapped, resident = _frames(sim)
    assert (free_resident, free_swapped) == (256, 0)
    assert resident == kernel + 256 == 576
    assert int(sim.host_i[L.HOST_FREE]) == 64 * MIB // PAGE - 576
    # the balloon takes them first, and each one it takes frees a host page
    sim.apply(Decision({"v": VmTarget(256 * PAGE, "test")}))
    sim.advance(1)
    sim.check_invariants()
    assert _frames(sim)[2:] == (0, 0, 320)
    assert int(sim.host_i[L.HOST_FREE]) == 64 * MIB // PAGE - 320


def test_the_workload_first_takes_the_frames_the_host_already_backs():
    # 1 MiB (256 pages) scanned once: exactly the 256 boot-touched frames
    work = [{"duration": "2s", "working_set": "1MiB", "pattern": "scan", "rate": 256}]
    sim = SimulatedHost(
        tiny([vm(workload=[*work, {"pattern": "idle", "rate": 0}])], host={"profile": QUARTERS})
    )
    host_free = int(sim.host_i[L.HOST_FREE])
    sim.advance(2)
    sim.check_invariants()
    assert int(sim.vm_i[0, L.N_ANON]) == 256
    assert _frames(sim)[2:] == (0, 0, 576)  # no frame newly backed
    assert int(sim.host_i[L.HOST_FREE]) == host_free


def test_boot_touched_memory_the_host_cannot_hold_was_swapped_while_booting():
    # two guests touch 256 frames each; the host holds their 2 x 320 kernel frames
    # and 256 more: 128 of each guest's touched frames stay resident, 128 are swapped
    host = (2 * 320 + 256) * PAGE
    sim = SimulatedHost(
        tiny(
            [_idle(name="a"), _idle(name="b")],
            host={"profile": QUARTERS, "memory": host, "swap": "4MiB"},
        )
    )
    sim.check_invariants()
    for v in (0, 1):
        assert _frames(sim, v)[2:] == (128, 128, 320 + 128)
    assert int(sim.host_i[L.HOST_FREE]) == 0
    assert int(sim.host_i[L.HOST_SWAP_USED]) == 256
    assert int(sim.host_i[L.HOST_SWAP_OUT]) == 0  # before the run: not the run's swap-out


def test_a_cgroup_host_is_full_from_the_first_second():
    # a guest touched 44% of its 8 MiB while booting (the lab's tcg profile), more
    # than the host's 3 MiB hold beside its kernel: the host starts with nothing free
    profile = toy_profile("cgroup-boot", boot_touched=0.44, keeps_free=False)
    sim = SimulatedHost(
        tiny([_idle(memory="8MiB")], host={"profile": profile, "memory": "3MiB", "swap": "8MiB"})
    )
    observation = sim.observe()
    assert observation.host.host_available_bytes == 0
    assert observation.host_state == "low"
    sim.advance(5)
    sim.check_invariants()
    # idle, it allocates nothing, so the cgroup swaps nothing more and stays full
    assert int(sim.host_i[L.HOST_FREE]) == 0
    assert int(sim.host_i[L.HOST_SWAP_OUT]) == 0


def _filling(profile: str, working_set: str) -> SimulatedHost:
    """An 8 MiB guest (64 kernel frames) faulting in a uniform working set on a
    4 MiB host (1024 pages: hard watermark 21, soft 41)."""
    work = [{"working_set": working_set, "pattern": "uniform", "rate": 4000}]
    return SimulatedHost(
        tiny(
            [vm(memory="8MiB", workload=work)],
            host={"profile": profile, "memory": "4MiB", "swap": "16MiB"},
        )
    )


def test_a_cgroup_host_swaps_only_when_an_allocation_finds_no_free_page():
    # 947 + 64 = 1011 pages: 13 left free, below the hard watermark
    cgroup, keeper = _filling(CGROUP, "3788KiB"), _filling(KEEPS_FREE, "3788KiB")
    for sim in (cgroup, keeper):
        sim.advance(10)
        sim.check_invariants()
        assert int(sim.vm_i[0, L.N_ANON]) == 947
    assert (int(cgroup.host_i[L.HOST_FREE]), int(cgroup.host_i[L.HOST_SWAP_OUT])) == (13, 0)
    assert host_state(cgroup.available_bytes / (4 * MIB)) == "hard"
    # a host that keeps free memory swaps in the background: no tick ends below the hard level
    assert int(keeper.host_i[L.HOST_SWAP_OUT]) > 0
    assert int(keeper.host_i[L.HOST_FREE]) >= int(keeper.host_i[L.HARD_WM])


def test_a_full_cgroup_host_makes_the_allocating_vm_wait_for_each_swap_out():
    # 1536 + 64 pages on a 1024-page host: it must swap at least 576 of them
    sim = _filling(CGROUP, "6MiB")
    swapped = []
    stall = 0.0
    for _ in range(20):
        sim.advance(1)
        sim.check_invariants()
        free = int(sim.host_i[L.HOST_FREE])
        assert 0 <= free < 32  # never more than one direct-reclaim batch left over
        swapped.append(int(sim.host_i[L.HOST_SWAP_OUT]))
        stall += sim.observe().truth["v"].stall_seconds_host_swap
    assert swapped[-1] >= 1536 + 64 - 1024
    # every page swapped out was waited for (one write each), every page read back too
    write, read = sim.host_f[L.HOST_WRITE], sim.host_f[L.HOST_READ]
    expected = int(sim.host_i[L.HOST_SWAP_OUT]) * write + int(sim.host_i[L.HOST_SWAP_IN]) * read
    assert abs(stall - expected) < 1e-9

"""The simulator's hot loops, compiled by numba. Nothing but ``@njit`` functions here.

Arrays (see ``layout.py`` for their columns)::

    g_state[f], h_state[f]     guest and host state of frame f
    frame_page[f]              virtual page held by frame f (-1: none)
    page_frame[p]              frame holding virtual page p (-1: none)
    page_flags[p]              PF_* bits of page p: in guest swap, read before, and the
                               three a hit touches (mapped to a host-resident frame,
                               CLOCK reference, accessed) -- one byte, so a hit reads
                               one small array that stays in cache
    free_stack, balloon_stack  per-VM stacks of frame numbers (VM's frame range)
    vm_i, vm_f, host_i, host_f per-VM and host numbers
    rng[v]                     one xorshift state per VM, rng[-1] the host's

One tick, for all VMs at once (``tick``)::

    balloons move toward their targets (free frames first, then guest reclaim)
    VMs' sampled page accesses, in turns of STEP accesses, the first VM chosen at
    random each tick so no VM is always first to find the host short; a VM whose
    vCPU time for the tick is spent (its work and its stalls) stops until the next
    tick, as a real program waiting on its faults issues no more accesses:
        hit            -> vCPU time only (each sample stands for `scale` accesses)
        miss           -> the page is brought in, and so are `scale - 1` more
                          missing pages, drawn from the same distribution (then, when
                          draws find only hits, swept in index order): the misses the
                          unsampled accesses around it would have met, of every kind
                          (first touch, guest swap, host swap). Every page moved is
                          charged exactly once, so I/O and stall time follow page
                          movement (swap-ins balance swap-outs, as they must)
    page-cache reads, exactly, sequentially through the VM's file
    each VM's time: the work it ran and its stalls vs the vCPU budget -> achieved work

Host memory: a page is taken from the host's free pool when a guest first
touches a frame; below the hard watermark the host swaps resident frames of VMs
above their reservation -- random ones (ESX, guest-blind, hence double paging) or
the least recently used by a CLOCK sweep (a Linux/KVM host), as ``[host] reclaim``
says; below the low watermark the allocating VM waits for that swap-out. A host
that keeps no free memory (a memory cgroup, ``KEEPS_FREE`` = 0) swaps only when an
allocation finds none, and that VM waits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from juggler.sim.layout import (
    ACHIEVED,
    ALLOCATED,
    ANON_BASE,
    BALLOON_PRESENT,
    BALLOON_RATE,
    BALLOON_TARGET,
    BLOCKED,
    BLOCKED_ALLOCS,
    BUDGET,
    C_CACHE_MISS,
    C_FIRST_TOUCH,
    C_GUEST_SWAP_IN,
    C_GUEST_SWAP_OUT,
    C_HOST_SWAP_IN,
    CACHE_PAGES,
    CLOCK_HAND,
    DEFLATE_CPU,
    DEFLATE_RATE,
    FILE_BASE,
    FILE_POS,
    FRAME_BASE,
    G_ANON,
    G_BALLOON,
    G_CACHE,
    G_FREE,
    GUEST_READ,
    GUEST_SWAP_READ,
    H_RESIDENT,
    H_RETURNED,
    H_SWAPPED,
    HARD_WM,
    HIGH_WM,
    HIT_COST,
    HOST_CLOCK_HAND,
    HOST_FREE,
    HOST_READ,
    HOST_RECLAIM,
    HOST_SWAP_CAP,
    HOST_SWAP_IN,
    HOST_SWAP_OUT,
    HOST_SWAP_OUT_PAGES,
    HOST_SWAP_USED,
    HOST_WRITE,
    INFLATE_CPU_ANON,
    INFLATE_CPU_CACHE,
    INFLATE_CPU_FREE,
    KEEPS_FREE,
    LIMIT,
    LOW_WM,
    LOW_WM_HOST,
    MISS_CURSOR,
    N_ANON,
    N_BALLOON,
    N_CACHE,
    N_FILE,
    N_FRAMES,
    N_FREE,
    N_HSWAPPED,
    N_RESIDENT,
    NOMINAL,
    OOM_EVENTS,
    PAT_IDLE,
    PAT_SCAN,
    PAT_ZIPF,
    PATTERN,
    PF_ACCESSED,
    PF_HIT,
    PF_HOST_REF,
    PF_REF,
    PF_SEEN,
    PF_SWAPPED,
    PF_TOUCHED,
    RATE,
    RECLAIM_FAILED,
    RECLAIM_LRU,
    RESERVATION,
    RETOUCH,
    SCAN_POS,
    SHARES,
    SOFT_WM,
    STALL_BALLOON,
    STALL_CACHE_MISS,
    STALL_GUEST_SWAP,
    STALL_HOST_SWAP,
    SWAP_CAP,
    SWAP_USED,
    T_NOMINAL,
    WS_PAGES,
    ZERO_FILL,
)

_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}
#: accesses one VM does before the next VM's turn: large enough that a VM's pages
#: stay in the CPU's cache during its turn (512 ran 64 VMs at a third of the speed)
#: most sampled accesses a VM runs between two looks at its vCPU time: a VM whose
#: time is spent stops for the tick, as a real program waiting on its faults issues
#: no more accesses (closed loop), so a stalled VM also faults less. Each turn runs
#: what the VM's time left allows at the stall per access it has met so far this
#: tick: a VM that does not stall runs in big turns, one that does in small ones
STEP = 8192
#: pages a memory cgroup reclaims when an allocation finds it full (Linux's
#: SWAP_CLUSTER_MAX, the batch of its direct reclaim)
DIRECT_RECLAIM_PAGES = 32
#: what a hit sets (written only when not already set)
HIT_SEEN = PF_REF | PF_TOUCHED | PF_HOST_REF

# ---------------------------------------------------------------- randomness


@njit(**_JIT)
def rand_u64(rng, i):
    """xorshift64*: one independent, reproducible stream per VM."""
    x = rng[i]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[i] = x
    return x * np.uint64(2685821657736338717)


@njit(**_JIT)
def rand_unit(rng, i):
    """A float in [0, 1)."""
    return (rand_u64(rng, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**_JIT)
def rand_below(rng, i, n):
    """An integer in [0, n)."""
    return np.int64(rand_unit(rng, i) * n)


@njit(**_JIT)
def round_random(x, rng, i):
    """Round x down or up at random so that the mean is x (no drift from rounding)."""
    whole = np.int64(np.floor(x))
    return whole + (1 if rand_unit(rng, i) < x - whole else 0)


# ---------------------------------------------------------------- stacks


@njit(**_JIT)
def push_free(v, f, vm_i, free_stack):
    free_stack[vm_i[v, FRAME_BASE] + vm_i[v, N_FREE]] = f
    vm_i[v, N_FREE] += 1


@njit(**_JIT)
def pop_free(v, vm_i, free_stack):
    vm_i[v, N_FREE] -= 1
    return free_stack[vm_i[v, FRAME_BASE] + vm_i[v, N_FREE]]


# ---------------------------------------------------------------- host memory


@njit(**_JIT)
def pick_victim_vm(vm_i, rng):
    """A VM to take a host page from: weighted by resident pages above its
    reservation, per share (the host protects reservations and favours shares)."""
    n_vms = vm_i.shape[0]
    total = 0.0
    for v in range(n_vms):
        excess = vm_i[v, N_RESIDENT] - vm_i[v, RESERVATION]
        if excess > 0:
            total += excess / vm_i[v, SHARES]
    if total <= 0.0:
        return -1
    point = rand_unit(rng, n_vms) * total
    for v in range(n_vms):
        excess = vm_i[v, N_RESIDENT] - vm_i[v, RESERVATION]
        if excess > 0:
            point -= excess / vm_i[v, SHARES]
            if point <= 0.0:
                return v
    for v in range(n_vms - 1, -1, -1):
        if vm_i[v, N_RESIDENT] > vm_i[v, RESERVATION]:
            return v
    return -1


@njit(**_JIT)
def host_may_take(f, g_state, h_state):
    """The host can swap frame f: it is resident and not one the balloon holds."""
    return h_state[f] == H_RESIDENT and g_state[f] != G_BALLOON


@njit(**_JIT)
def pick_resident_frame(v, vm_i, g_state, h_state, rng):
    """A random resident frame of VM v, as blind to the guest as a hypervisor is."""
    base = vm_i[v, FRAME_BASE]
    n = vm_i[v, N_FRAMES]
    for _ in range(64):
        f = base + rand_below(rng, v, n)
        if host_may_take(f, g_state, h_state):
            return f
    start = rand_below(rng, v, n)
    for k in range(n):
        f = base + (start + k) % n
        if host_may_take(f, g_state, h_state):
            return f
    return -1


@njit(**_JIT)
def pick_lru_frame(v, vm_i, g_state, h_state, frame_page, page_flags):
    """The resident frame of VM v least recently used, approximated by CLOCK.

    A Linux host keeps the QEMU processes' memory on LRU lists aged by the page
    tables' accessed bits; the engine keeps neither lists nor times, only the
    accessed bit every access sets (PF_HOST_REF, per page, so the frame's bit is
    that of the page it holds). The hand resumes where it stopped, clears the bit
    of each referenced frame it passes (a second chance) and takes the first
    unreferenced one: a frame goes only after a whole revolution without an
    access -- LRU with one bit of history, as Linux's own approximation. A frame
    holding no page (free in the guest, or its kernel) is never accessed by the
    engine, so it counts as unreferenced and goes first. -1 if none is resident.
    """
    base = vm_i[v, FRAME_BASE]
    n = vm_i[v, N_FRAMES]
    for _ in range(2 * n + 1):
        hand = vm_i[v, HOST_CLOCK_HAND]
        vm_i[v, HOST_CLOCK_HAND] = hand + 1 if hand + 1 < n else 0
        f = base + hand
        if not host_may_take(f, g_state, h_state):
            continue
        p = frame_page[f]
        if p >= 0 and page_flags[p] & PF_HOST_REF:
            page_flags[p] &= ~np.uint8(PF_HOST_REF)
            continue
        return f
    return -1


@njit(**_JIT)
def host_swap_out_frame(v, f, vm_i, h_state, frame_page, page_flags, host_i):
    h_state[f] = H_SWAPPED
    p = frame_page[f]
    if p >= 0:
        page_flags[p] &= ~np.uint8(PF_HIT)
    vm_i[v, N_RESIDENT] -= 1
    vm_i[v, N_HSWAPPED] += 1
    vm_i[v, HOST_SWAP_OUT_PAGES] += 1
    host_i[HOST_FREE] += 1
    host_i[HOST_SWAP_USED] += 1
    host_i[HOST_SWAP_OUT] += 1


@njit(**_JIT)
def swap_out_of_vm(v, n, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng):
    """Swap out up to n resident frames of VM v, never below its reservation:
    random ones, or the least recently used, by the host's reclaim order."""
    lru = host_i[HOST_RECLAIM] == RECLAIM_LRU
    done = 0
    while done < n and host_i[HOST_SWAP_USED] < host_i[HOST_SWAP_CAP]:
        if vm_i[v, N_RESIDENT] <= vm_i[v, RESERVATION]:
            break
        if lru:
            f = pick_lru_frame(v, vm_i, g_state, h_state, frame_page, page_flags)
        else:
            f = pick_resident_frame(v, vm_i, g_state, h_state, rng)
        if f < 0:
            break
        host_swap_out_frame(v, f, vm_i, h_state, frame_page, page_flags, host_i)
        done += 1
    return done


@njit(**_JIT)
def host_swap_out(n, only_vm, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng):
    """Swap out up to n guest pages (from only_vm if >= 0); return how many.

    Victims are spread over the VMs in proportion to their resident memory above
    the reservation, per share (one weighting for the whole batch), then within
    each VM random frames or the least recently used (``swap_out_of_vm``). The VM
    choice stays by excess per share under "lru" too: a Linux host's LRU spans all
    the QEMU processes, so it would weigh VMs by how cold their pages are, but
    reservations and shares are the scenario's contract and this weighting keeps
    them; only the order within a VM follows recency.
    """
    if only_vm >= 0:
        return swap_out_of_vm(
            only_vm, n, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng
        )
    done = 0
    for _ in range(4):
        left = n - done
        if left <= 0:
            break
        total = 0.0
        for v in range(vm_i.shape[0]):
            excess = vm_i[v, N_RESIDENT] - vm_i[v, RESERVATION]
            if excess > 0:
                total += excess / vm_i[v, SHARES]
        if total <= 0.0:
            break
        before = done
        for v in range(vm_i.shape[0]):
            excess = vm_i[v, N_RESIDENT] - vm_i[v, RESERVATION]
            if excess > 0:
                quota = round_random(left * (excess / vm_i[v, SHARES]) / total, rng, v)
                done += swap_out_of_vm(
                    v,
                    min(quota, n - done),
                    vm_i,
                    g_state,
                    h_state,
                    frame_page,
                    page_flags,
                    host_i,
                    rng,
                )
        if done == before:
            v = pick_victim_vm(vm_i, rng)
            if v < 0:
                break
            done += swap_out_of_vm(
                v, n - done, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng
            )
    return done


@njit(**_JIT)
def host_take_page(v, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng):
    """Take one host page for VM v, reclaiming by host swap when memory is short.

    A host that keeps free memory (``KEEPS_FREE``, kswapd's watermarks): below the
    hard watermark it swaps in the background until it is back at the soft
    watermark; below the low watermark VM v waits for that write. A memory cgroup
    keeps none: only an allocation that finds no free page reclaims, a batch of
    DIRECT_RECLAIM_PAGES (the kernel's SWAP_CLUSTER_MAX), and VM v waits for the
    writes -- one per page it takes, on average.
    Returns False when the host has no page and cannot swap.
    """
    if host_i[KEEPS_FREE]:
        if host_i[HOST_FREE] < host_i[HARD_WM]:
            if host_i[HOST_FREE] < host_i[LOW_WM_HOST]:
                vm_f[v, STALL_HOST_SWAP] += host_f[HOST_WRITE]
                host_i[BLOCKED_ALLOCS] += 1
            want = host_i[SOFT_WM] - host_i[HOST_FREE]
            host_swap_out(want, -1, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng)
    elif host_i[HOST_FREE] <= 0:
        done = host_swap_out(
            DIRECT_RECLAIM_PAGES, -1, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng
        )
        vm_f[v, STALL_HOST_SWAP] += done * host_f[HOST_WRITE]
        host_i[BLOCKED_ALLOCS] += 1
    if host_i[HOST_FREE] <= 0:
        return False
    host_i[HOST_FREE] -= 1
    vm_i[v, N_RESIDENT] += 1
    return True


@njit(**_JIT)
def host_back_frame(
    v, f, weight, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng
):
    """Make frame f resident on the host before the guest uses it.

    A frame never touched costs a zero-fill; a host-swapped one must be read back
    from host swap, charged to v as hypervisor-swap stall (weight: how many
    unsampled accesses this one stands for). A frame the balloon gave back is
    zero-filled too, and costs RETOUCH in all (the host profile's figure for
    re-faulting a returned page): the zero fill every unbacked frame pays stays the
    work's own time, the rest is the balloon's (it would still be backed without
    it). Returns False if the host is out of pages.
    """
    state = h_state[f]
    if state == H_RESIDENT:
        return True
    if not host_take_page(
        v, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng
    ):
        return False
    if state == H_SWAPPED:
        vm_i[v, N_HSWAPPED] -= 1
        host_i[HOST_SWAP_USED] -= 1
        host_i[HOST_SWAP_IN] += 1
        vm_f[v, C_HOST_SWAP_IN] += weight
        vm_f[v, STALL_HOST_SWAP] += weight * host_f[HOST_READ]
    else:
        vm_f[v, T_NOMINAL] += weight * host_f[ZERO_FILL]
        if state == H_RETURNED:
            vm_f[v, STALL_BALLOON] += weight * max(host_f[RETOUCH] - host_f[ZERO_FILL], 0.0)
    h_state[f] = H_RESIDENT
    return True


@njit(**_JIT)
def release_backing(v, f, vm_i, h_state, host_i):
    """The host drops its copy of a frame the guest gave to the balloon.

    A VM at or below its reservation keeps its backing: the host honours the
    reservation even for pages the guest offers back. A dropped frame is
    H_RETURNED, not H_UNBACKED: the guest's next touch of it is the balloon's cost.
    """
    state = h_state[f]
    if state == H_RESIDENT:
        if vm_i[v, N_RESIDENT] > vm_i[v, RESERVATION]:
            h_state[f] = H_RETURNED
            vm_i[v, N_RESIDENT] -= 1
            host_i[HOST_FREE] += 1
    elif state == H_SWAPPED:
        h_state[f] = H_RETURNED
        vm_i[v, N_HSWAPPED] -= 1
        host_i[HOST_SWAP_USED] -= 1


# ---------------------------------------------------------------- guest memory


@njit(**_JIT)
def evict_frame(
    v,
    f,
    allow_anon,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    host_i,
    host_f,
    rng,
):
    """The guest drops a cache page or writes an anonymous page to its swap.

    Writing a page the host had swapped out forces the host to read it back first:
    double paging. Returns True if the frame was freed.
    """
    state = g_state[f]
    p = frame_page[f]
    if state == G_CACHE:
        vm_i[v, N_CACHE] -= 1
    elif state == G_ANON and allow_anon and vm_i[v, SWAP_USED] < vm_i[v, SWAP_CAP]:
        if h_state[f] == H_SWAPPED and not host_back_frame(
            v, f, 1.0, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng
        ):
            return False
        vm_i[v, N_ANON] -= 1
        vm_i[v, SWAP_USED] += 1
        page_flags[p] |= PF_SWAPPED
        # written back by the guest's kswapd, like the host's swap-out: I/O, not a stall
        vm_f[v, C_GUEST_SWAP_OUT] += 1.0
    else:
        return False
    page_flags[p] &= ~np.uint8(PF_HIT | PF_REF)
    page_frame[p] = -1
    frame_page[f] = -1
    g_state[f] = G_FREE
    return True


@njit(**_JIT)
def guest_reclaim(
    v,
    want,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    host_i,
    host_f,
    rng,
):
    """The guest's CLOCK: free up to `want` frames, page cache before anonymous memory.

    Referenced pages get a second chance. Anonymous pages are written to guest swap
    only when cache is short or one full turn found too little cache. A reclaim that
    frees nothing is not retried until the next tick (a guest with no swap and only
    anonymous memory would otherwise re-scan every frame on every allocation).
    """
    if vm_i[v, RECLAIM_FAILED]:
        return 0
    base = vm_i[v, FRAME_BASE]
    n = vm_i[v, N_FRAMES]
    allow_anon = vm_i[v, N_CACHE] < want
    freed = 0
    for step in range(3 * n):
        if freed >= want:
            break
        if step == n:
            allow_anon = True
        f = base + vm_i[v, CLOCK_HAND]
        vm_i[v, CLOCK_HAND] = (vm_i[v, CLOCK_HAND] + 1) % n
        state = g_state[f]
        if state != G_ANON and state != G_CACHE:
            continue
        if state == G_ANON and not allow_anon:
            continue
        p = frame_page[f]
        if page_flags[p] & PF_REF:
            page_flags[p] &= ~np.uint8(PF_REF)
            continue
        if evict_frame(
            v,
            f,
            allow_anon,
            vm_i,
            vm_f,
            g_state,
            h_state,
            frame_page,
            page_frame,
            page_flags,
            host_i,
            host_f,
            rng,
        ):
            push_free(v, f, vm_i, free_stack)
            freed += 1
        if not allow_anon and vm_i[v, N_CACHE] == 0:
            allow_anon = True
    if freed == 0 and want > 0:
        vm_i[v, RECLAIM_FAILED] = 1
    return freed


@njit(**_JIT)
def guest_take_frame(
    v,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """A free frame for a new page; reclaims to the high watermark when below the low one.

    Returns -1 when the guest cannot free anything and its balloon is empty
    (it is out of memory).
    """
    if vm_i[v, N_FREE] <= vm_i[v, LOW_WM]:
        guest_reclaim(
            v,
            vm_i[v, HIGH_WM] - vm_i[v, N_FREE] + 1,
            vm_i,
            vm_f,
            g_state,
            h_state,
            frame_page,
            page_frame,
            page_flags,
            free_stack,
            host_i,
            host_f,
            rng,
        )
    if vm_i[v, N_FREE] == 0:
        if vm_i[v, N_BALLOON] == 0:
            return -1
        # virtio-balloon's deflate-on-oom: the guest takes a page back from its
        # balloon rather than kill a process; it is unbacked until touched
        vm_f[v, STALL_BALLOON] += host_f[DEFLATE_CPU]
        vm_i[v, N_BALLOON] -= 1
        f = balloon_stack[vm_i[v, FRAME_BASE] + vm_i[v, N_BALLOON]]
        g_state[f] = G_FREE
        return f
    return pop_free(v, vm_i, free_stack)


@njit(**_JIT)
def release_anon_pages(v, first, vm_i, g_state, frame_page, page_frame, page_flags, free_stack):
    """The workload frees its anonymous pages from index `first` on (the guest frees
    the frames; the host, not told, keeps backing them)."""
    base = vm_i[v, ANON_BASE]
    for i in range(first, vm_i[v, ALLOCATED]):
        p = base + i
        f = page_frame[p]
        if f >= 0:
            page_frame[p] = -1
            frame_page[f] = -1
            g_state[f] = G_FREE
            vm_i[v, N_ANON] -= 1
            push_free(v, f, vm_i, free_stack)
        if page_flags[p] & PF_SWAPPED:
            vm_i[v, SWAP_USED] -= 1
        page_flags[p] = 0
    vm_i[v, ALLOCATED] = min(vm_i[v, ALLOCATED], first)


@njit(**_JIT)
def oom_kill(v, vm_i, g_state, frame_page, page_frame, page_flags, free_stack):
    """The guest's OOM killer ends the workload, freeing its anonymous memory
    (it is restarted at once and faults its working set back in)."""
    vm_i[v, OOM_EVENTS] += 1
    release_anon_pages(v, 0, vm_i, g_state, frame_page, page_frame, page_flags, free_stack)


# ---------------------------------------------------------------- one access


@njit(**_JIT)
def fault_in(
    v,
    p,
    weight,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """Bring virtual page p into a guest frame (and that frame into host memory).

    Returns False if the VM cannot proceed this tick (guest OOM or host exhausted).
    """
    f = guest_take_frame(
        v,
        vm_i,
        vm_f,
        g_state,
        h_state,
        frame_page,
        page_frame,
        page_flags,
        free_stack,
        balloon_stack,
        host_i,
        host_f,
        rng,
    )
    if f < 0:
        oom_kill(v, vm_i, g_state, frame_page, page_frame, page_flags, free_stack)
        return False
    if not host_back_frame(
        v, f, weight, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng
    ):
        push_free(v, f, vm_i, free_stack)
        vm_i[v, BLOCKED] = 1
        return False
    flags = page_flags[p]
    if p >= vm_i[v, FILE_BASE]:
        if flags & PF_SEEN:
            vm_f[v, C_CACHE_MISS] += weight
            vm_f[v, STALL_CACHE_MISS] += weight * vm_f[v, GUEST_READ]
        else:
            vm_f[v, T_NOMINAL] += weight * vm_f[v, GUEST_READ]
            page_flags[p] = flags | PF_SEEN
        g_state[f] = G_CACHE
        vm_i[v, N_CACHE] += 1
    else:
        if flags & PF_SWAPPED:
            page_flags[p] = flags & ~np.uint8(PF_SWAPPED)
            vm_i[v, SWAP_USED] -= 1
            vm_f[v, C_GUEST_SWAP_IN] += weight
            vm_f[v, STALL_GUEST_SWAP] += weight * vm_f[v, GUEST_SWAP_READ]
        else:
            vm_f[v, C_FIRST_TOUCH] += weight
        g_state[f] = G_ANON
        vm_i[v, N_ANON] += 1
        index = p - vm_i[v, ANON_BASE] + 1
        if index > vm_i[v, ALLOCATED]:
            vm_i[v, ALLOCATED] = index
    page_frame[p] = f
    frame_page[f] = p
    page_flags[p] |= PF_ACCESSED
    return True


@njit(**_JIT)
def access(
    v,
    p,
    weight,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """One access to virtual page p, standing for `weight` accesses; returns
    1 for a hit, 0 for a miss handled, -1 if the VM must stop for this tick."""
    f = page_frame[p]
    if f >= 0:
        if h_state[f] == H_RESIDENT:
            page_flags[p] |= PF_ACCESSED
            return 1
        if host_back_frame(
            v, f, weight, vm_i, vm_f, g_state, h_state, frame_page, page_flags, host_i, host_f, rng
        ):
            page_flags[p] |= PF_ACCESSED
            return 0
        vm_i[v, BLOCKED] = 1
        return -1
    if fault_in(
        v,
        p,
        weight,
        vm_i,
        vm_f,
        g_state,
        h_state,
        frame_page,
        page_frame,
        page_flags,
        free_stack,
        balloon_stack,
        host_i,
        host_f,
        rng,
    ):
        return 0
    return -1


@njit(**_JIT)
def draw_page(v, vm_i, zipf_table, rng):
    """The next anonymous page the workload touches, by its phase's pattern.

    Zipf ranks come from the VM's quantile table (``sim.workload.zipf_quantiles``),
    interpolated: a table look-up instead of a power per access.
    """
    ws = vm_i[v, WS_PAGES]
    pattern = vm_i[v, PATTERN]
    if pattern == PAT_SCAN:
        index = vm_i[v, SCAN_POS] % ws
        vm_i[v, SCAN_POS] = index + 1
    elif pattern == PAT_ZIPF:
        x = rand_unit(rng, v) * (zipf_table.shape[1] - 1)
        k = np.int64(x)
        low = zipf_table[v, k]
        rank = low + (x - k) * (zipf_table[v, k + 1] - low)
        index = min(np.int64(rank), ws - 1)
    else:
        index = rand_below(rng, v, ws)
    return vm_i[v, ANON_BASE] + index


# ---------------------------------------------------------------- balloon


@njit(**_JIT)
def balloon_cost(taken, dropped, swapped, host_f):
    """vCPU seconds to inflate `taken` pages, for which the guest's reclaim dropped
    `dropped` page-cache pages and wrote `swapped` anonymous pages to its swap (a
    profile whose reclaim figure is below its free one: reclaim costs nothing more)."""
    free = host_f[INFLATE_CPU_FREE]
    cost = taken * free
    cost += dropped * max(host_f[INFLATE_CPU_CACHE] - free, 0.0)
    cost += swapped * max(host_f[INFLATE_CPU_ANON] - free, 0.0)
    return cost


@njit(**_JIT)
def balloon_step(
    v,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """Move VM v's balloon toward its target by at most its inflate or deflate rate.

    Inflating takes free frames, reclaiming through the guest's own CLOCK when free
    memory is at the watermark; it stops (without an OOM) when the guest can free
    nothing more, as Linux's virtio_balloon does. Deflating returns frames to the
    guest's free list, unbacked on the host until touched again.

    Both cost the VM vCPU time, as balloon stall (``balloon_cost``): every page
    inflated INFLATE_CPU_FREE, and each page the reclaim freed for it the rest of
    its own figure -- the balloon takes the frames its reclaim freed next (the free
    stack is LIFO), so a page taken through reclaim costs INFLATE_CPU_CACHE or
    INFLATE_CPU_ANON in all; every page deflated DEFLATE_CPU.
    """
    if not vm_i[v, BALLOON_PRESENT]:
        return
    base = vm_i[v, FRAME_BASE]
    gap = vm_i[v, BALLOON_TARGET] - vm_i[v, N_BALLOON]
    if gap > 0:
        steps = min(gap, vm_i[v, BALLOON_RATE])
        taken = 0
        dropped = 0
        swapped = 0
        for _ in range(steps):
            if vm_i[v, N_FREE] <= vm_i[v, LOW_WM]:
                want = min(steps, 256)
                cache_before = vm_i[v, N_CACHE]
                swap_before = vm_i[v, SWAP_USED]
                freed = guest_reclaim(
                    v,
                    want,
                    vm_i,
                    vm_f,
                    g_state,
                    h_state,
                    frame_page,
                    page_frame,
                    page_flags,
                    free_stack,
                    host_i,
                    host_f,
                    rng,
                )
                dropped += cache_before - vm_i[v, N_CACHE]
                swapped += vm_i[v, SWAP_USED] - swap_before
                if freed == 0 and vm_i[v, N_FREE] <= vm_i[v, LOW_WM]:
                    break
            f = pop_free(v, vm_i, free_stack)
            g_state[f] = G_BALLOON
            balloon_stack[base + vm_i[v, N_BALLOON]] = f
            vm_i[v, N_BALLOON] += 1
            release_backing(v, f, vm_i, h_state, host_i)
            taken += 1
        vm_f[v, STALL_BALLOON] += balloon_cost(taken, dropped, swapped, host_f)
    elif gap < 0:
        steps = min(-gap, vm_i[v, DEFLATE_RATE])
        for _ in range(steps):
            vm_i[v, N_BALLOON] -= 1
            f = balloon_stack[base + vm_i[v, N_BALLOON]]
            g_state[f] = G_FREE
            push_free(v, f, vm_i, free_stack)
        vm_f[v, STALL_BALLOON] += steps * host_f[DEFLATE_CPU]


# ---------------------------------------------------------------- one tick


@njit(**_JIT)
def clear_tick(vm_i, vm_f, first, last):
    for v in range(vm_f.shape[0]):
        vm_i[v, BLOCKED] = 0
        vm_i[v, RECLAIM_FAILED] = 0
        for c in range(first, last):
            vm_f[v, c] = 0.0


@njit(**_JIT)
def sweep_missing(
    v,
    want,
    sweep_left,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """Bring in up to `want` pages of VM v's working set that are not hits, in index
    order: the misses the draws could not find.

    The sweep starts each tick at a random page and resumes from there
    (``MISS_CURSOR``) for the rest of the tick. The start matters under zipf, whose
    pages are rank-ordered by index: sweeping every revolution from the hottest page
    takes the likely pages first more strongly than the law does and faulted an
    850 MiB working set in 2-3 points slower than the law predicts; a random start
    per tick keeps it within one point (tests/sim/test_fault_in.py), and a uniform
    working set is indifferent to the order. At most ``sweep_left[v]`` pages are
    looked at (one revolution per tick), so the work per tick stays bounded by the
    working set however rarely the sweep finds a missing page. Returns how many it
    brought in, -1 if the VM must stop for this tick.
    """
    ws = vm_i[v, WS_PAGES]
    budget = sweep_left[v]
    if ws <= 0 or budget <= 0:
        return 0
    base = vm_i[v, ANON_BASE]
    if budget == ws:
        cursor = rand_below(rng, v, ws)  # this tick's first sweep
    else:
        cursor = vm_i[v, MISS_CURSOR] if vm_i[v, MISS_CURSOR] < ws else 0
    done = 0
    while done < want and budget > 0:
        # the tight part: skip pages already present
        end = min(ws, cursor + budget)
        i = cursor
        while i < end and page_flags[base + i] & PF_HIT:
            i += 1
        budget -= i - cursor
        cursor = i
        if i == end:
            if cursor >= ws:
                cursor = 0
            continue
        budget -= 1
        cursor = i + 1 if i + 1 < ws else 0
        if (
            access(
                v,
                base + i,
                1.0,
                vm_i,
                vm_f,
                g_state,
                h_state,
                frame_page,
                page_frame,
                page_flags,
                free_stack,
                balloon_stack,
                host_i,
                host_f,
                rng,
            )
            < 0
        ):
            done = -1
            break
        done += 1
    vm_i[v, MISS_CURSOR] = cursor
    sweep_left[v] = budget
    return done


@njit(**_JIT)
def run_vm_chunk(
    v,
    n,
    scale,
    sweep_left,
    vm_i,
    vm_f,
    zipf_table,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """n sampled accesses of VM v, each standing for `scale` accesses.

    A sampled miss stands for `scale` misses: its page and `scale - 1` more that
    are not hits, drawn from the access distribution (exactly its law over the
    missing pages) while draws find them cheaply, then taken from the sweep
    (``sweep_missing``) once a few draws in a row found only hits.
    """
    for _ in range(n):
        if vm_i[v, BLOCKED]:
            return
        p = draw_page(v, vm_i, zipf_table, rng)
        flags = page_flags[p]
        if flags & PF_HIT:
            if (flags & HIT_SEEN) != HIT_SEEN:
                page_flags[p] = flags | HIT_SEEN
            continue
        if (
            access(
                v,
                p,
                1.0,
                vm_i,
                vm_f,
                g_state,
                h_state,
                frame_page,
                page_frame,
                page_flags,
                free_stack,
                balloon_stack,
                host_i,
                host_f,
                rng,
            )
            < 0
        ):
            return
        # the unsampled accesses this miss stands for fault in pages of their own
        extra = round_random(scale - 1.0, rng, v)
        tries = 4 * extra + 4
        while extra > 0 and tries > 0:
            tries -= 1
            q = draw_page(v, vm_i, zipf_table, rng)
            if page_flags[q] & PF_HIT:
                continue
            if (
                access(
                    v,
                    q,
                    1.0,
                    vm_i,
                    vm_f,
                    g_state,
                    h_state,
                    frame_page,
                    page_frame,
                    page_flags,
                    free_stack,
                    balloon_stack,
                    host_i,
                    host_f,
                    rng,
                )
                < 0
            ):
                return
            extra -= 1
        if extra > 0 and (
            sweep_missing(
                v,
                extra,
                sweep_left,
                vm_i,
                vm_f,
                g_state,
                h_state,
                frame_page,
                page_frame,
                page_flags,
                free_stack,
                balloon_stack,
                host_i,
                host_f,
                rng,
            )
            < 0
        ):
            return


@njit(**_JIT)
def run_cache_reads(
    v,
    n,
    vm_i,
    vm_f,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """n sequential reads through the VM's file, each one page, simulated exactly."""
    n_file = vm_i[v, N_FILE]
    for _ in range(n):
        if vm_i[v, BLOCKED]:
            return
        p = vm_i[v, FILE_BASE] + vm_i[v, FILE_POS]
        vm_i[v, FILE_POS] = (vm_i[v, FILE_POS] + 1) % n_file
        if (
            access(
                v,
                p,
                1.0,
                vm_i,
                vm_f,
                g_state,
                h_state,
                frame_page,
                page_frame,
                page_flags,
                free_stack,
                balloon_stack,
                host_i,
                host_f,
                rng,
            )
            < 0
        ):
            return


@njit(**_JIT)
def stalled_time(v, vm_f):
    """vCPU seconds VM v has lost this tick so far, every cause together."""
    return (
        vm_f[v, STALL_GUEST_SWAP]
        + vm_f[v, STALL_HOST_SWAP]
        + vm_f[v, STALL_CACHE_MISS]
        + vm_f[v, STALL_BALLOON]
    )


@njit(**_JIT)
def settle_time(v, vm_f, issued, issued_s, base_s):
    """Nominal work vs the vCPU budget: what got done this tick (the stalls, the
    balloon's work among them, take vCPU time the work then lacks).

    ``issued`` is the share of the nominal work the VM ran before its time was
    spent (1: all of it), ``issued_s`` the time that work needed, ``base_s`` what
    the whole of it needs; work beyond (a file's first reads) counts as the VM's.
    """
    budget = vm_f[v, BUDGET]
    nominal = vm_f[v, NOMINAL]
    need = vm_f[v, T_NOMINAL]
    spent = issued_s + (need - base_s) + stalled_time(v, vm_f)
    possible = nominal if need <= budget else nominal * budget / need
    vm_f[v, NOMINAL] = possible
    done = nominal * issued
    vm_f[v, ACHIEVED] = done if spent <= budget else done * budget / spent


@njit(**_JIT)
def tick(
    samples,
    vm_i,
    vm_f,
    zipf_table,
    g_state,
    h_state,
    frame_page,
    page_frame,
    page_flags,
    free_stack,
    balloon_stack,
    host_i,
    host_f,
    rng,
):
    """Advance every VM by one tick. `samples[v]` is VM v's sampled accesses this tick."""
    n_vms = vm_i.shape[0]
    for v in range(n_vms):
        balloon_step(
            v,
            vm_i,
            vm_f,
            g_state,
            h_state,
            frame_page,
            page_frame,
            page_flags,
            free_stack,
            balloon_stack,
            host_i,
            host_f,
            rng,
        )
    left = samples.copy()
    # the vCPU time one sampled access (and one cache read) stands for, and what the
    # whole tick's nominal work needs: a VM stops when its time is spent
    sample_s = np.zeros(n_vms)
    read_s = np.zeros(n_vms)
    base_s = np.zeros(n_vms)
    # what the sweeps for missing pages may look at this tick: one revolution each
    sweep_left = vm_i[:, WS_PAGES].copy()
    scales = np.zeros(n_vms)
    cache_left = np.zeros(n_vms, dtype=np.int64)
    for v in range(n_vms):
        nominal = vm_f[v, RATE]
        if vm_i[v, PATTERN] == PAT_IDLE and vm_i[v, WS_PAGES] == 0:
            nominal = 0.0
            left[v] = 0
        scales[v] = nominal / left[v] if left[v] > 0 else 0.0
        cache_left[v] = round_random(vm_f[v, CACHE_PAGES], rng, v)
        vm_f[v, NOMINAL] = nominal + cache_left[v]
        vm_f[v, T_NOMINAL] += (nominal + cache_left[v]) * vm_f[v, HIT_COST]
        if vm_i[v, PATTERN] == PAT_SCAN:
            # a scan is simulated page by page: its misses are the point of it
            scales[v] = 1.0
            left[v] = np.int64(nominal)
        sample_s[v] = scales[v] * vm_f[v, HIT_COST]
        read_s[v] = vm_f[v, HIT_COST]
        base_s[v] = left[v] * sample_s[v] + cache_left[v] * read_s[v]
    ran_samples = np.zeros(n_vms, dtype=np.int64)
    ran_reads = np.zeros(n_vms, dtype=np.int64)
    # the stall each VM came into its accesses with (its balloon's moves)
    stall_before = np.zeros(n_vms)
    for v in range(n_vms):
        stall_before[v] = stalled_time(v, vm_f)
    # the VM that goes first changes every tick, so none is always first to find the
    # host out of memory
    first = rand_below(rng, n_vms, n_vms)
    busy = True
    while busy:
        busy = False
        for turn in range(n_vms):
            v = (first + turn) % n_vms
            if left[v] <= 0 and cache_left[v] <= 0:
                continue
            issued_s = ran_samples[v] * sample_s[v] + ran_reads[v] * read_s[v]
            stalled = stalled_time(v, vm_f)
            room = vm_f[v, BUDGET] - issued_s - stalled
            ran = ran_samples[v] + ran_reads[v]
            per_access = (stalled - stall_before[v]) / ran if ran > 0 else 0.0
            if room <= 0.0:
                # its vCPU time is spent: the rest of its work waits for the next tick
                left[v] = 0
                cache_left[v] = 0
                continue
            if left[v] > 0:
                n = min(left[v], STEP)
                if sample_s[v] + per_access > 0.0:
                    n = min(n, np.int64(room / (sample_s[v] + per_access)) + 1)
                left[v] -= n
                ran_samples[v] += n
                run_vm_chunk(
                    v,
                    n,
                    scales[v],
                    sweep_left,
                    vm_i,
                    vm_f,
                    zipf_table,
                    g_state,
                    h_state,
                    frame_page,
                    page_frame,
                    page_flags,
                    free_stack,
                    balloon_stack,
                    host_i,
                    host_f,
                    rng,
                )
                busy = True
            if cache_left[v] > 0:
                n = min(cache_left[v], STEP)
                if read_s[v] + per_access > 0.0:
                    n = min(n, np.int64(room / (read_s[v] + per_access)) + 1)
                cache_left[v] -= n
                ran_reads[v] += n
                run_cache_reads(
                    v,
                    n,
                    vm_i,
                    vm_f,
                    g_state,
                    h_state,
                    frame_page,
                    page_frame,
                    page_flags,
                    free_stack,
                    balloon_stack,
                    host_i,
                    host_f,
                    rng,
                )
                busy = True
    for v in range(n_vms):
        over = vm_i[v, N_RESIDENT] - vm_i[v, LIMIT]
        if over > 0:
            host_swap_out(over, v, vm_i, g_state, h_state, frame_page, page_flags, host_i, rng)
        if vm_i[v, BLOCKED]:
            # waiting for host memory the whole rest of the tick
            vm_f[v, STALL_HOST_SWAP] += vm_f[v, BUDGET]
        issued_s = ran_samples[v] * sample_s[v] + ran_reads[v] * read_s[v]
        issued = issued_s / base_s[v] if base_s[v] > 0.0 else 1.0
        settle_time(v, vm_f, issued, issued_s, base_s[v])
    if host_i[KEEPS_FREE] and host_i[HOST_FREE] < host_i[HARD_WM]:
        # the background reclaim (kswapd); a cgroup has none (host_take_page)
        host_swap_out(
            host_i[SOFT_WM] - host_i[HOST_FREE],
            -1,
            vm_i,
            g_state,
            h_state,
            frame_page,
            page_flags,
            host_i,
            rng,
        )

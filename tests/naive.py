"""Slow, readable references for the simulator's kernels (tests compare against them)."""

from __future__ import annotations

import numpy as np

from juggler.sim import layout as L


def guest_reclaim(sim, v: int, want: int) -> int:
    """The guest's CLOCK, written plainly: page cache first, referenced pages get a
    second chance, anonymous pages go to guest swap only when cache is short.

    Works on a SimulatedHost's arrays like kernels.guest_reclaim, for frames that
    are not host-swapped (no double paging here).
    """
    row = sim.vm_i[v]
    base, n = int(row[L.FRAME_BASE]), int(row[L.N_FRAMES])
    allow_anon = row[L.N_CACHE] < want
    freed = 0
    for step in range(3 * n):
        if freed >= want:
            break
        if step == n:
            allow_anon = True
        f = base + int(row[L.CLOCK_HAND])
        row[L.CLOCK_HAND] = (row[L.CLOCK_HAND] + 1) % n
        state = sim.g_state[f]
        if state not in (L.G_ANON, L.G_CACHE):
            continue
        if state == L.G_ANON and not allow_anon:
            continue
        page = sim.frame_page[f]
        if sim.page_flags[page] & L.PF_REF:
            sim.page_flags[page] &= ~np.uint8(L.PF_REF)
            continue
        if state == L.G_CACHE:
            row[L.N_CACHE] -= 1
        elif row[L.SWAP_USED] < row[L.SWAP_CAP]:
            row[L.N_ANON] -= 1
            row[L.SWAP_USED] += 1
            sim.page_flags[page] |= L.PF_SWAPPED
        else:
            continue
        sim.page_flags[page] &= ~np.uint8(L.PF_HIT | L.PF_REF)
        sim.page_frame[page] = -1
        sim.frame_page[f] = -1
        sim.g_state[f] = L.G_FREE
        sim.free_stack[base + row[L.N_FREE]] = f
        row[L.N_FREE] += 1
        freed += 1
        if not allow_anon and row[L.N_CACHE] == 0:
            allow_anon = True
    return freed


def zipf_frequencies(n_pages: int, exponent: float) -> np.ndarray:
    """The exact discrete law: P(page i) proportional to (i+1)**-exponent."""
    weights = 1.0 / np.arange(1, n_pages + 1) ** exponent
    return weights / weights.sum()

"""Finding the windows in which a VM suffered, from what a real host observes.

A sample counts as suffering when the VM waited on memory: the guest read its
swap (``guest_swap_in_bytes_per_s``) or took major faults, or the hypervisor
read the VM's pages back from host swap (``vm_host_swap_in_bytes_per_s``), or --
when the caller passes the balloon's estimated cost (``diagnose.balloon``) -- its
balloon's moves took at least ``BALLOON_SHARE`` of its vCPU time.
Swap-out alone is background I/O and does not count. Suffering samples closer
than ``gap_s`` are joined; windows shorter than ``min_s`` or with less than
``min_bytes`` read back in all are dropped as noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from juggler.diagnose.balloon import BALLOON_SHARE
from juggler.diagnose.data import VmSeries, nz
from juggler.units import MIB

#: a sample suffers when this much per second is read back (guest or host swap)
SWAP_IN_THRESHOLD = 1.0 * MIB
#: major faults per second that count as suffering on their own
MAJOR_FAULT_THRESHOLD = 200.0
GAP_S = 10.0
MIN_S = 3.0
MIN_BYTES = 8 * MIB
#: vCPU seconds a window's balloon moves must take for a window with less read back
MIN_BALLOON_S = 0.1


@dataclass(frozen=True)
class Window:
    """A stretch of time in which one VM suffered."""

    vm: str
    start_s: float
    end_s: float
    #: bytes read back from guest swap (and major faults, in pages) in the window
    guest_bytes: float
    #: bytes the hypervisor read back from host swap for this VM in the window
    host_bytes: float
    #: vCPU seconds the balloon's moves took in the window (estimated; 0 without a model)
    balloon_s: float = 0.0

    @property
    def host_fraction(self) -> float:
        total = self.guest_bytes + self.host_bytes
        return self.host_bytes / total if total else 0.0


def _periods(t: np.ndarray) -> np.ndarray:
    """Seconds each sample's rates cover (the first covers nothing)."""
    dt = np.diff(t, prepend=t[:1]) if len(t) else t
    return np.maximum(dt, 0.0)


def symptom_rates(vm: VmSeries, page_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample guest-side and host-side read-back rates, bytes per second."""
    faults = nz(vm.col("guest_major_faults_per_s")) * page_size
    guest = np.maximum(nz(vm.col("guest_swap_in_bytes_per_s")), faults)
    host = nz(vm.col("vm_host_swap_in_bytes_per_s"))
    return guest, host


def suffering_mask(vm: VmSeries, page_size: int) -> np.ndarray:
    guest, host = symptom_rates(vm, page_size)
    faults = nz(vm.col("guest_major_faults_per_s"))
    return (
        (guest >= SWAP_IN_THRESHOLD)
        | (host >= SWAP_IN_THRESHOLD)
        | (faults >= MAJOR_FAULT_THRESHOLD)
    )


def find_windows(
    vm: VmSeries,
    page_size: int,
    start_s: float | None = None,
    end_s: float | None = None,
    gap_s: float = GAP_S,
    min_s: float = MIN_S,
    min_bytes: float = MIN_BYTES,
    balloon_s: np.ndarray | None = None,
    balloon_share: np.ndarray | None = None,
) -> list[Window]:
    """The windows in which ``vm`` suffered, clipped to ``[start_s, end_s]``.

    :param balloon_s: the balloon's estimated vCPU seconds per sample, and
    :param balloon_share: the same as a share of the VM's vCPU time
        (``BalloonCostModel``); without them only swap and faults count.
    """
    t = vm.t
    if not len(t):
        return []
    mask = suffering_mask(vm, page_size)
    if balloon_s is None or balloon_share is None:
        balloon_s = np.zeros(len(t))
    else:
        mask |= balloon_share >= BALLOON_SHARE
    if start_s is not None:
        mask &= t >= start_s
    if end_s is not None:
        mask &= t <= end_s
    guest, host = symptom_rates(vm, page_size)
    dt = _periods(t)
    windows: list[Window] = []
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    groups: list[list[int]] = [[int(idx[0])]]
    for i in idx[1:]:
        if t[i] - t[groups[-1][-1]] <= gap_s:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    for group in groups:
        first, last = group[0], group[-1]
        # a rate sampled at t covers the period before it: the window starts there
        start = float(t[first] - dt[first])
        if start_s is not None:
            start = max(start, start_s)
        end = float(t[last])
        span = slice(first, last + 1)
        g_bytes = float(np.sum(guest[span] * dt[span]))
        h_bytes = float(np.sum(host[span] * dt[span]))
        b_s = float(np.sum(balloon_s[span]))
        if end - start < min_s or (g_bytes + h_bytes < min_bytes and b_s < MIN_BALLOON_S):
            continue
        windows.append(Window(vm.name, start, end, g_bytes, h_bytes, b_s))
    return windows

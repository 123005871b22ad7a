"""What to do about a finding, with numbers taken from the run."""

from __future__ import annotations

import math

import numpy as np

from juggler.diagnose.data import Run, VmSeries, between, nz
from juggler.diagnose.windows import Window
from juggler.units import MIB

_ROUND = 16 * MIB


def _mib_up(n: float) -> int:
    """Bytes rounded up to a multiple of 16 MiB, in MiB."""
    return int(math.ceil(max(n, 0.0) / _ROUND) * _ROUND // MIB)


def healthy_mask(vm: VmSeries, windows: list[Window]) -> np.ndarray:
    """Samples outside every suffering window (and after the first 10% of the run,
    while guests were still faulting their memory in)."""
    mask = np.ones(len(vm.t), dtype=bool)
    for w in windows:
        mask &= ~between(vm.t, w.start_s, w.end_s)
    if len(vm.t):
        mask &= vm.t >= vm.t[0] + 0.1 * (vm.t[-1] - vm.t[0])
    return mask


def healthy_need(vm: VmSeries, windows: list[Window]) -> float:
    """Memory this VM used while it was healthy: its resident memory and the guest's
    used memory (total − available), whichever is larger; the whole run when it was
    never healthy."""
    mask = healthy_mask(vm, windows)
    if not mask.any():
        mask = np.ones(len(vm.t), dtype=bool)
    resident = nz(vm.col("resident_bytes"))[mask] + nz(vm.col("host_swapped_bytes"))[mask]
    used = nz(vm.col("guest_total_bytes"))[mask] - nz(vm.col("guest_available_bytes"))[mask]
    candidates = [
        float(np.max(resident)) if len(resident) else 0.0,
        float(np.max(used)) if len(used) else 0.0,
    ]
    return min(max(candidates), float(vm.configured_bytes))


def host_shortfall(run: Run, start: float, end: float) -> float:
    """How much guest memory the host had in its swap at most in the span (what it
    would need to back everything)."""
    total = np.zeros(0)
    for vm in run.vms.values():
        m = between(vm.t, start, end)
        swapped = nz(vm.col("host_swapped_bytes"))[m]
        total = swapped if not len(total) else total[: len(swapped)] + swapped[: len(total)]
    return float(np.max(total)) if len(total) else 0.0


def guest_deficit(vm: VmSeries, end: float) -> float:
    """Bytes the guest had pushed to its swap by ``end`` (swap-out minus swap-in,
    integrated): how much of its working set did not fit."""
    m = vm.t <= end
    t = vm.t[m]
    dt = np.maximum(np.diff(t, prepend=t[:1]), 0.0)
    net = nz(vm.col("guest_swap_out_bytes_per_s"))[m] - nz(vm.col("guest_swap_in_bytes_per_s"))[m]
    held = np.cumsum(net * dt)
    return float(np.max(held)) if len(held) else 0.0


def recommend(
    run: Run,
    vm: VmSeries,
    window: Window,
    cause: str,
    neighbours: list[tuple[str, float]],
    windows: list[Window],
) -> str:
    need = _mib_up(healthy_need(vm, windows))
    if cause == "host_swap":
        # a VM that grew into host swap needs what it held then, not what it held before
        m = between(vm.t, window.start_s, window.end_s)
        held = nz(vm.col("resident_bytes"))[m] + nz(vm.col("host_swapped_bytes"))[m]
        if len(held):
            need = max(need, _mib_up(min(float(np.max(held)), vm.configured_bytes)))
        short = _mib_up(host_shortfall(run, window.start_s, window.end_s))
        return (
            f"reserve {need} MiB for {vm.name} (the memory it used, resident or in host "
            f"swap) so the host cannot swap it, or lower the host's over-commitment by {short} MiB "
            f"(the guest memory the host held in swap at most)"
        )
    if cause == "host_contention":
        limits = []
        lacked = host_shortfall(run, window.start_s, window.end_s)
        total: float = sum(grew for _, grew in neighbours) or 1.0
        for name, grew in neighbours:
            # each neighbour gives back its share of what the host lacked
            other = run.vms[name]
            m = between(other.t, window.start_s, window.end_s)
            held = nz(other.col("resident_bytes"))[m] + nz(other.col("host_swapped_bytes"))[m]
            peak = float(np.max(held)) if len(held) else 0.0
            limit = max(peak - lacked * grew / total, peak - grew, 0.0)
            limits.append(
                f"limit {name} to {_mib_up(limit)} MiB (it grew {_mib_up(grew)} MiB; "
                f"the host lacked {_mib_up(lacked)} MiB)"
            )
        return (
            f"{'; '.join(limits)}; or reserve {need} MiB for {vm.name} (its memory in use "
            "while healthy)"
        )
    if cause == "balloon" and window.guest_bytes + window.host_bytes == 0:
        return (
            f"move {vm.name}'s balloon less: its moves took about {window.balloon_s:.1f} "
            "vCPU s in the window, with nothing read back; raise [manager] dead_band (or "
            "the policy's hysteresis) so it does not move the same memory back and forth"
        )
    if cause == "balloon":
        return (
            f"reserve {need} MiB for {vm.name} (its memory in use while healthy), so the "
            f"balloon stops at {_mib_up(vm.configured_bytes - need * MIB)} MiB instead of "
            "pushing the guest into its swap"
        )
    if cause == "own_working_set":
        held = guest_deficit(vm, window.end_s)
        more = max(_mib_up(1.25 * held), 16)
        return (
            f"give {vm.name} {more} MiB more memory (configured "
            f"{_mib_up(vm.configured_bytes)} MiB; the guest held up to {held / MIB:.0f} MiB "
            "in its swap, plus a quarter for margin); ballooning and the host are not the cause"
        )
    if cause == "uncooperative_balloon":
        m = between(vm.t, window.start_s, window.end_s)
        gap = nz(vm.col("balloon_target_bytes"))[m] - nz(vm.col("balloon_actual_bytes"))[m]
        short = _mib_up(float(np.max(gap)) if len(gap) else 0.0)
        return (
            f"install or repair the balloon driver in {vm.name} (its balloon stayed "
            f"{short} MiB short of its target); until then reserve {need} MiB for it or "
            f"lower the host's over-commitment by {short} MiB"
        )
    return "nothing to do"

"""Attributing a suffering window to its cause, across the guest/hypervisor boundary.

Each cause is scored from what a real host observes over the window and the
``LOOKBACK_S`` seconds before it (a cause precedes its symptom):

- ``host_swap``: the hypervisor read this VM's pages back from its swap
  (``vm_host_swap_in_bytes_per_s``, ``host_swapped_bytes``);
- ``host_contention``: the same, while the host was short because named
  neighbours' resident memory grew more than this VM's own;
- ``balloon``: this VM's balloon inflated and the guest then swapped or
  dropped cache; or the balloon's moves themselves took the VM's vCPU time
  (``Window.balloon_s``, estimated from the host profile's costs);
- ``own_working_set``: the guest swapped with no balloon growth and no host
  pressure;
- ``uncooperative_balloon``: the balloon stayed short of its target without
  converging while the VM was host-swapped.

The primary cause is the one on the side (guest or host) that read back more
bytes; the others that also hold are the secondary causes, strongest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from juggler.diagnose.balloon import BalloonCostModel
from juggler.diagnose.data import Run, VmSeries, between, nz
from juggler.diagnose.windows import Window, symptom_rates
from juggler.units import MIB

LOOKBACK_S = 30.0
#: balloon growth that counts as "the balloon inflated"
BALLOON_RISE = 16 * MIB
#: neighbour growth that counts, at least (and 4% of host memory; and a quarter of the
#: largest neighbour's growth, so a small drift is not named next to a big grower)
NEIGHBOUR_GROWTH = 48 * MIB
#: target minus actual that counts as a balloon falling short
BALLOON_GAP = 32 * MIB
SHORT_STATES = ("soft", "hard", "low")

CAUSES = (
    "host_swap",
    "balloon",
    "own_working_set",
    "host_contention",
    "uncooperative_balloon",
    "none",
)


@dataclass
class Attribution:
    cause: str
    secondary: list[str] = field(default_factory=list)
    #: (name, bytes grown) of the neighbours whose growth squeezed the host
    neighbours: list[tuple[str, float]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _onset(t: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    hit = np.flatnonzero(values >= threshold)
    return float(t[hit[0]]) if len(hit) else None


def growth(t: np.ndarray, values: np.ndarray, start: float, end: float) -> tuple[float, float]:
    """Largest rise of ``values`` within ``[start, end]`` (a peak minus the lowest value
    before it), and when the rise began."""
    m = between(t, start, end) & ~np.isnan(values)
    v, tt = values[m], t[m]
    if len(v) < 2:
        return 0.0, start
    low = np.minimum.accumulate(v)
    rise = v - low
    peak = int(np.argmax(rise))
    began = int(np.flatnonzero(v[: peak + 1] == low[peak])[-1])
    return float(rise[peak]), float(tt[began])


def swap_growth(vm: VmSeries, start: float, end: float) -> float:
    """Guest swap-out minus swap-in integrated over the span: how much more the guest
    pushed into its swap than it read back."""
    m = between(vm.t, start, end)
    dt = np.maximum(np.diff(vm.t, prepend=vm.t[:1]), 0.0)[m]
    net = nz(vm.col("guest_swap_out_bytes_per_s"))[m] - nz(vm.col("guest_swap_in_bytes_per_s"))[m]
    return float(np.sum(net * dt))


def _mib(n: float) -> float:
    return round(n / MIB, 1)


def balloon_rise(vm: VmSeries, start: float, end: float) -> tuple[float, float]:
    return growth(vm.t, vm.col("balloon_actual_bytes"), start, end)


def balloon_gap(vm: VmSeries, start: float, end: float) -> tuple[float, bool]:
    """Largest shortfall of the balloon below its target in the span, and whether the
    balloon failed to converge: short of its target for at least a fifth of the span
    (10 samples or more), at least once for 4 samples in a row (a working balloon
    closes a step within a sample or two)."""
    m = between(vm.t, start, end)
    target = vm.col("balloon_target_bytes")[m]
    actual = vm.col("balloon_actual_bytes")[m]
    if not len(target) or np.all(np.isnan(target)) or np.all(np.isnan(actual)):
        return 0.0, False
    gap = nz(target) - nz(actual)
    largest = float(np.max(gap))
    short = gap >= BALLOON_GAP
    run_length = longest = 0
    for flag in short:
        run_length = run_length + 1 if flag else 0
        longest = max(longest, run_length)
    stuck = bool(short.sum() >= max(10, 0.2 * len(short)) and longest >= 4)
    return largest, stuck


def host_short(run: Run, start: float, end: float) -> tuple[float, float | None]:
    """Fraction of host samples in a short state (soft/hard/low, or under 4% available),
    and the lowest available memory, in the span."""
    m = between(run.host.t, start, end)
    if not m.any():
        return 0.0, None
    states = [s for s, keep in zip(run.host.state, m, strict=True) if keep]
    avail = run.host.col("host_available_bytes")[m]
    memory = run.host.col("host_memory_bytes")[m]
    low = nz(avail) < 0.04 * nz(memory)
    short = np.array([s in SHORT_STATES for s in states]) | low
    lowest = None if np.all(np.isnan(avail)) else float(np.nanmin(avail))
    return float(short.mean()), lowest


def held_bytes(vm: VmSeries) -> np.ndarray:
    """Guest memory the host holds for ``vm``: resident plus in host swap (resident
    alone would hide growth the host swapped straight out)."""
    held: np.ndarray = vm.col("resident_bytes") + nz(vm.col("host_swapped_bytes"))
    return held


def neighbour_growth(
    run: Run, vm: VmSeries, start: float, end: float
) -> list[tuple[str, float, float]]:
    """(name, growth, when it began) of the other VMs whose resident memory grew by a
    significant amount in the span, largest first."""
    memory = float(np.nanmax(run.host.col("host_memory_bytes"))) if len(run.host.t) else 0.0
    threshold = max(NEIGHBOUR_GROWTH, 0.04 * memory)
    grown = []
    for other in run.vms.values():
        if other.name == vm.name:
            continue
        rise, began = growth(other.t, held_bytes(other), start, end)
        if rise >= threshold:
            grown.append((other.name, rise, began))
    grown.sort(key=lambda g: -g[1])
    return [g for g in grown if g[1] >= 0.25 * grown[0][1]]


def attribute(
    run: Run, vm: VmSeries, window: Window, model: BalloonCostModel | None = None
) -> Attribution:
    """The cause of ``window``, its secondary causes, the neighbours, the evidence
    (``model``: the balloon costs that estimated ``window.balloon_s``)."""
    a, b = window.start_s, window.end_s
    look = max(a - LOOKBACK_S, float(vm.t[0]) if len(vm.t) else a)
    span = [round(a, 1), round(b, 1)]
    t = vm.t
    wm = between(t, look, b)
    guest_rate, host_rate = symptom_rates(vm, run.page_size)
    evidence: list[dict[str, Any]] = [
        {
            "metric": "guest_swap_in_bytes_per_s",
            "window": span,
            "value": _mib(window.guest_bytes),
            "unit": "MiB read back in the guest (swap-in, major faults)",
        },
        {
            "metric": "vm_host_swap_in_bytes_per_s",
            "window": span,
            "value": _mib(window.host_bytes),
            "unit": "MiB of this VM read back from host swap",
        },
    ]
    scores: dict[str, float] = {}
    neighbours: list[tuple[str, float]] = []

    # --- host side: the hypervisor swapped this VM
    host_side = window.host_fraction
    swapped = vm.col("host_swapped_bytes")[between(t, a, b)]
    peak_swapped = (
        float(np.nanmax(swapped)) if len(swapped) and not np.all(np.isnan(swapped)) else 0.0
    )
    short_frac, lowest = host_short(run, look, b)
    own_rise, _ = growth(t, held_bytes(vm), look, b)
    grown = neighbour_growth(run, vm, look, b)
    grown_total = sum(g for _, g, _ in grown)
    if window.host_bytes > 0:
        scores["host_swap"] = host_side
        evidence.append(
            {
                "metric": "host_swapped_bytes",
                "window": span,
                "value": _mib(peak_swapped),
                "unit": "MiB of this VM in host swap at most",
            }
        )
        hs = host_rate[wm]
        corr = _corr(nz(vm.col("host_swapped_bytes"))[wm], hs)
        if corr is not None:
            evidence.append(
                {
                    "metric": "corr(host_swapped_bytes, vm_host_swap_in_bytes_per_s)",
                    "window": [round(look, 1), round(b, 1)],
                    "value": corr,
                }
            )
    if lowest is not None:
        evidence.append(
            {
                "metric": "host_available_bytes",
                "window": [round(look, 1), round(b, 1)],
                "value": _mib(lowest),
                "unit": "MiB at lowest",
                "short_fraction": round(short_frac, 2),
            }
        )
    # neighbours are the root only when they grew clearly more than this VM itself
    if grown and (short_frac > 0 or window.host_bytes > 0) and grown_total > 1.5 * own_rise:
        neighbours = [(name, rise) for name, rise, _ in grown]
        scores["host_contention"] = host_side * min(1.0, grown_total / max(own_rise, 1.0) / 2)
        for name, rise, began in grown:
            other = run.vms[name]
            om = between(other.t, look, b)
            # the neighbour's resident memory against this VM's read-back, on shared times
            res = (
                np.interp(t[wm], other.t[om], nz(held_bytes(other))[om])
                if (om.sum() >= 2)
                else np.zeros(int(wm.sum()))
            )
            evidence.append(
                {
                    "metric": f"resident_bytes+host_swapped_bytes[{name}]",
                    "window": [round(look, 1), round(b, 1)],
                    "value": _mib(rise),
                    "unit": f"MiB grown by neighbour {name}",
                    "lag_s": round(a - began, 1),
                    "correlation": _corr(res, guest_rate[wm] + host_rate[wm]),
                }
            )
        if own_rise > 0:
            evidence.append(
                {
                    "metric": "resident_bytes+host_swapped_bytes",
                    "window": [round(look, 1), round(b, 1)],
                    "value": _mib(own_rise),
                    "unit": "MiB grown by this VM itself",
                }
            )

    # --- balloon: it inflated before or during the window and still holds memory in it
    rise, rise_began = balloon_rise(vm, look, b)
    in_window = nz(vm.col("balloon_actual_bytes"))[between(t, a, b)]
    held = float(np.mean(in_window)) if len(in_window) else 0.0
    deficit = swap_growth(vm, a, b)
    if rise >= BALLOON_RISE and held >= BALLOON_RISE and window.guest_bytes > 0:
        cache = vm.col("guest_cache_bytes")
        cache_drop, _ = growth(t, -nz(cache), look, b)
        scores["balloon"] = 1.0 - host_side
        symptom_onset = _onset(t[wm], guest_rate[wm], 1.0 * MIB)
        evidence.append(
            {
                "metric": "balloon_actual_bytes",
                "window": [round(look, 1), round(b, 1)],
                "value": _mib(rise),
                "unit": "MiB the balloon inflated",
                "lag_s": None if symptom_onset is None else round(symptom_onset - rise_began, 1),
                "correlation": _corr(nz(vm.col("balloon_actual_bytes"))[wm], guest_rate[wm]),
            }
        )
        if cache_drop > 0:
            evidence.append(
                {
                    "metric": "guest_cache_bytes",
                    "window": [round(look, 1), round(b, 1)],
                    "value": _mib(cache_drop),
                    "unit": "MiB of page cache dropped",
                }
            )
        if deficit > 1.5 * float(np.max(in_window)):
            # the guest pushed far more into its swap than the balloon took: it would
            # have swapped without the balloon
            scores["own_working_set"] = scores["balloon"] + 0.01
            evidence.append(
                {
                    "metric": "guest_swap_out_bytes_per_s - guest_swap_in_bytes_per_s",
                    "window": span,
                    "value": _mib(deficit),
                    "unit": f"MiB more swapped out than in, more than the balloon's "
                    f"{_mib(float(np.max(in_window)))} MiB",
                }
            )

    # --- the guest's own working set: swapping with no balloon holding memory
    if window.guest_bytes > 0 and "balloon" not in scores:
        level = float(np.max(in_window)) if len(in_window) else 0.0
        scores["own_working_set"] = (1.0 - host_side) * (1.0 - 0.5 * short_frac)
        evidence.append(
            {
                "metric": "balloon_actual_bytes",
                "window": span,
                "value": _mib(level),
                "unit": "MiB balloon at most (not what squeezed the guest)",
            }
        )
        if deficit > 0:
            evidence.append(
                {
                    "metric": "guest_swap_out_bytes_per_s - guest_swap_in_bytes_per_s",
                    "window": span,
                    "value": _mib(deficit),
                    "unit": "MiB more swapped out than read back",
                }
            )

    # --- the balloon's own work: its moves took the VM's vCPU time
    if window.balloon_s > 0 and model is not None:
        vcpu_s = max(window.end_s - window.start_s, 1e-9) * model.vcpus.get(vm.name, 1)
        taken = min(1.0, window.balloon_s / vcpu_s)
        in_span = nz(vm.col("balloon_actual_bytes"))[between(t, a, b)]
        moved = float(np.sum(np.abs(np.diff(in_span))))
        evidence.append(
            {
                "metric": "|d balloon_actual_bytes|",
                "window": span,
                "value": _mib(moved),
                "unit": f"MiB the balloon moved, about {window.balloon_s:.2f} vCPU s "
                f"({100 * taken:.0f}% of the VM's vCPU time) at host profile "
                f"{model.profile!r}'s costs",
            }
        )
        if window.guest_bytes + window.host_bytes == 0:
            scores["balloon"] = 1.0
        else:
            scores.setdefault("balloon", taken)

    # --- a balloon that does not reach its target
    gap, stuck = balloon_gap(vm, look, b)
    if stuck:
        scores["uncooperative_balloon"] = host_side + 0.01 if window.host_bytes > 0 else 0.1
        evidence.append(
            {
                "metric": "balloon_target_bytes - balloon_actual_bytes",
                "window": [round(look, 1), round(b, 1)],
                "value": _mib(gap),
                "unit": "MiB the balloon stayed short of its target, not converging",
            }
        )

    if not scores:
        return Attribution("none", evidence=evidence)
    ranked = sorted(scores, key=lambda c: -scores[c])
    primary = ranked[0]
    # contention is the root of host swapping when neighbours grew more than this VM
    if primary == "host_swap" and "host_contention" in scores:
        primary = "host_contention"
    secondary = [c for c in ranked if c != primary and scores[c] > 0.05]
    if primary == "balloon" and grown:
        # the neighbours whose growth the balloon made room for
        neighbours = [(name, g) for name, g, _ in grown]
        if short_frac > 0 and "host_contention" not in secondary:
            secondary.append("host_contention")
    if (
        primary != "host_contention"
        and "host_contention" not in secondary
        and (primary != "balloon")
    ):
        neighbours = []
    return Attribution(primary, secondary, neighbours, evidence)

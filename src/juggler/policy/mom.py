"""mom: oVirt MOM's default auto-balloon policy (``doc/balloon.rules``).

Source: oVirt/mom, ``doc/balloon.rules`` (mom 0.6.5, the policy MOM ships as
its default), evaluated by ``mom/Policy/Policy.py``; the statistics it reads
come from ``mom/Collectors/HostMemory.py`` (host), ``GuestMemory.py`` /
``GuestBalloon.py`` via ``mom/HypervisorInterfaces/libvirtInterface.py``
(guest), averaged by ``Entity.StatAvg`` over ``sample-history-length`` = 10
samples (``doc/mom-balloon.conf``). The rules, in MOM's words (``cur`` is the
guest's current memory, libvirt's balloon "actual"; ``max`` its maximum
memory; ``min`` its ``memtune/min_guarantee``)::

    host_free = avg(host mem_free) / host mem_available         # i.e. free / total
    if host_free < pressure_threshold (0.20):                    # shrink every guest
        if host_free <= pressure_critical (0.05):
            guest_free = -0.05 + host_free                       # force the guest to swap
        else:
            guest_free = min_guest_free_percent (0.20) * host_free / pressure_threshold
        used = avg(balloon_cur) - avg(mem_unused)
        floor = max(min, used + guest_free * cur)
        size = max(cur * (1 - max_balloon_change_percent (0.05)), floor)
        if size <= cur and change_big_enough(size): set guest memory to size
    else:                                                        # grow every guest
        if cur < max:
            floor = max(min, used + min_guest_free_percent * cur)
            size = min(max, max(cur * (1 + max_balloon_change_percent), floor))
            if change_big_enough(size): set guest memory to size
    change_big_enough(size) = |size - cur| > min_balloon_change_percent (0.0025) * cur

How juggler's observation maps onto MOM's statistics: host ``mem_free``
(MemFree + Buffers + Cached) is ``host_free_cached_bytes`` where the backend
reads it (:func:`host_free_bytes`: a real host's ``/proc/meminfo``; the lab's
cgroup as limit − usage + its page cache; the simulator, whose host keeps no
page cache, its free memory), else ``host_available_bytes``; host
``mem_available`` (MemTotal) is ``host_memory_bytes``; a guest's ``cur`` is
``configured - balloon_actual``, ``mem_unused`` (the guest's MemFree) is
``guest_free_bytes``, ``max`` is ``configured_bytes`` (libvirt's maximum
memory; the Manager's guard applies a lower juggler limit) and ``min`` is
``reservation_bytes``. The policy returns balloon sizes: ``configured - size``.

How juggler runs it, as MOM does: the policy engine wakes every 10 s
(``doc/mom-balloon.conf``, ``policy-engine-interval: 10``), so the policy is
registered with ``native_interval_s`` 10 and the Manager decides at that
cadence whatever the scenario's interval; MOM has no step cap, dead band or OOM
rescue besides its own 5 % step and 0.25 % threshold, so it gets none of the
Manager's (``guard_extras`` False; the clamp to reservation and limit stays).

Where the real rules differ from the summary in our issue (the real text is
followed):

- ``used`` is ``balloon_cur - mem_unused`` (the balloon's view of the guest's
  memory minus its free memory), not guest MemTotal minus free: memory the guest
  kernel reserves counts as used.
- Host free memory and ``used`` are moving averages over the last 10 samples
  (``StatAvg``); ``cur`` in the other terms is the latest sample. juggler keeps
  the last ``sample_history_length`` observations the policy saw: one per 10 s
  decision, where MOM collects every 5 s (``host-monitor-interval``), so the
  average spans 100 s rather than 50 s.
- The guest free target under pressure, 0.20 × host_free / 0.20, equals
  host_free itself with the default constants.
- Critical pressure is ``host_free <= 0.05`` (inclusive); pressure is strict
  ``< 0.20``.
- Under pressure a guest is only ever shrunk: when its floor is above ``cur``
  nothing is done (no growth while the host is short).
- A change must be strictly greater than 0.25 % of ``cur``.
- A guest without complete statistics is left alone (MOM's Monitor drops the
  guest from the cycle with "Incomplete data").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from juggler.observation import Decision, HostSample, Observation, VmSample, VmTarget
from juggler.policy.base import PolicyState, balloon_now
from juggler.units import format_size


@dataclass(frozen=True)
class Params:
    """The constants of MOM's ``doc/balloon.rules`` and ``mom-balloon.conf``."""

    #: below this host free fraction the host is under memory pressure
    pressure_threshold: float = 0.20
    #: at or below this host free fraction the pressure is critical
    pressure_critical: float = 0.05
    #: the free fraction an unconstrained guest would like to keep
    min_guest_free_percent: float = 0.20
    #: added to host free to give the guest free target under critical pressure
    #: (the literal ``-0.05`` in ``shrink_guest``)
    critical_guest_free_offset: float = -0.05
    #: a guest's memory changes by at most this fraction of its current memory per step
    max_balloon_change_percent: float = 0.05
    #: smaller changes (as a fraction of current memory) are not made
    min_balloon_change_percent: float = 0.0025
    #: samples averaged by ``StatAvg`` (``sample-history-length``)
    sample_history_length: int = 10


@dataclass
class State(PolicyState):
    """MOM's ``StatAvg`` histories: the recent samples it averages."""

    #: host available memory, newest last
    host_free: list[int] = field(default_factory=list)
    #: per VM: (guest memory, guest free memory), newest last
    vms: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def push(history: list[Any], value: object, length: int) -> None:
    """Add ``value`` to a ``StatAvg`` history, keeping the newest ``length``."""
    history.append(value)
    del history[: max(0, len(history) - max(1, length))]


def mean(values: Sequence[float]) -> float:
    """``StatAvg``: the plain mean of a history."""
    return sum(values) / len(values)


def host_free_bytes(host: HostSample) -> int:
    """MOM's host ``mem_free``: MemFree + Buffers + Cached where the backend reads
    it, else the host's available memory (the nearest figure it has)."""
    if host.host_free_cached_bytes is not None:
        return host.host_free_cached_bytes
    return host.host_available_bytes


def pressure_guest_free(host_free: float, params: Params) -> float:
    """``shrink_guest``'s guest free target: below the critical level, host free
    less 5 % (negative: the guest is made to swap); otherwise scaled back with
    host free memory."""
    if host_free <= params.pressure_critical:
        return params.critical_guest_free_offset + host_free
    return params.min_guest_free_percent * host_free / params.pressure_threshold


def used_bytes(state: State, vm: VmSample, cur: int, params: Params) -> float:
    """``StatAvg(balloon_cur) - StatAvg(mem_unused)``, this sample added to the VM's history."""
    history = state.vms.setdefault(vm.name, [])
    push(history, (cur, vm.guest_free_bytes or 0), params.sample_history_length)
    return mean([c for c, _ in history]) - mean([f for _, f in history])


def forget_gone(state: State, observation: Observation) -> None:
    """Drop the histories of VMs no longer observed."""
    observed = {vm.name for vm in observation.vms}
    for name in set(state.vms) - observed:
        del state.vms[name]


def decide(observation: Observation, params: Params, state: State) -> Decision:
    """Shrink every guest a step when host free memory is under pressure, else grow it."""
    host = observation.host
    if host.host_memory_bytes <= 0:
        return Decision(notes=("MOM: host memory size unknown: no decision",))
    push(state.host_free, host_free_bytes(host), params.sample_history_length)
    host_free = mean(state.host_free) / host.host_memory_bytes
    pressure = host_free < params.pressure_threshold
    if not pressure:
        guest_free = params.min_guest_free_percent
        why = f"MOM: host free {host_free:.1%} >= pressure {params.pressure_threshold:.0%}"
    elif host_free <= params.pressure_critical:
        guest_free = pressure_guest_free(host_free, params)
        why = (
            f"MOM: host free {host_free:.1%} <= critical {params.pressure_critical:.0%}: "
            f"guest free target {guest_free:.1%}"
        )
    else:
        guest_free = pressure_guest_free(host_free, params)
        why = (
            f"MOM: host free {host_free:.1%} < pressure {params.pressure_threshold:.0%}: "
            f"guest free target {guest_free:.1%}"
        )
    targets: dict[str, VmTarget] = {}
    for vm in observation.vms:
        missing = missing_statistics(vm)
        if missing:
            targets[vm.name] = VmTarget(None, f"MOM: incomplete data: missing {missing}")
            continue
        cur = vm.configured_bytes - balloon_now(vm)  # the actual size: not missing
        used = used_bytes(state, vm, cur, params)
        if pressure:
            targets[vm.name] = shrink(vm, cur, used, guest_free, why, params)
        else:
            targets[vm.name] = grow(vm, cur, used, guest_free, why, params)
    forget_gone(state, observation)
    return Decision(targets=targets, notes=(why,))


def missing_statistics(vm: VmSample) -> str:
    """What MOM's ``valid guest.balloon_cur (guest.Stat "mem_unused")`` lacks ("": nothing)."""
    if not vm.balloon_present:
        return "balloon driver"
    if vm.balloon_actual_bytes is None:
        return "balloon_cur (balloon_actual_bytes)"
    if vm.guest_free_bytes is None:
        return "mem_unused (guest_free_bytes)"
    return ""


def change_big_enough(size: float, cur: int, params: Params) -> bool:
    """``change_big_enough``: strictly more than 0.25 % of the guest's memory."""
    return abs(size - cur) > params.min_balloon_change_percent * cur


def shrink(
    vm: VmSample, cur: int, used: float, guest_free: float, why: str, params: Params
) -> VmTarget:
    """``shrink_guest``: toward the floor, by at most 5 % a step, never up."""
    floor = max(vm.reservation_bytes, used + guest_free * cur)
    step = cur * (1 - params.max_balloon_change_percent)
    size = max(step, floor)
    detail = (
        f"floor max(min_guarantee {format_size(vm.reservation_bytes)}, used "
        f"{format_size(used)} + {guest_free:.1%} of {format_size(cur)}) = {format_size(floor)}"
    )
    if size > cur:
        return VmTarget(None, f"{why}: {detail} is above its memory {format_size(cur)}: keep")
    if not change_big_enough(size, cur, params):
        return VmTarget(
            None,
            f"{why}: change {format_size(cur - size)} <= "
            f"{params.min_balloon_change_percent:.2%} of {format_size(cur)}: keep",
        )
    limited = "" if size > step else f", limited to {params.max_balloon_change_percent:.0%} a step"
    return VmTarget(
        vm.configured_bytes - round(size),
        f"{why}: shrink {format_size(cur)} -> {format_size(size)}{limited}; {detail}",
    )


def grow(
    vm: VmSample, cur: int, used: float, guest_free: float, why: str, params: Params
) -> VmTarget:
    """``grow_guest``: by 5 %, or to keep ``guest_free`` of its memory free, up to its
    maximum (balloon.rules passes 20 %, vdsm's policy its scaled target)."""
    top = vm.configured_bytes
    if cur >= top:
        return VmTarget(None, f"{why}: not ballooned ({format_size(cur)} of {format_size(top)})")
    floor = max(vm.reservation_bytes, used + guest_free * cur)
    step = cur * (1 + params.max_balloon_change_percent)
    size = min(top, max(step, floor))
    if not change_big_enough(size, cur, params):
        return VmTarget(
            None,
            f"{why}: change {format_size(size - cur)} <= "
            f"{params.min_balloon_change_percent:.2%} of {format_size(cur)}: keep",
        )
    if size == top:
        how = f"up to its maximum {format_size(top)}"
    elif size > step:
        how = f"to keep {guest_free:.0%} free (used {format_size(used)})"
    else:
        how = f"by {params.max_balloon_change_percent:.0%}"
    return VmTarget(
        vm.configured_bytes - round(size),
        f"{why}: grow {format_size(cur)} -> {format_size(size)} {how}",
    )

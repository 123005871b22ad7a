"""squeezed: Xen's memory ballooning daemon (XenServer / XCP-ng), proportional policy.

Source: xapi-project/xen-api ``ocaml/squeezed/lib/squeeze.ml`` (formerly
xapi-project/squeezed ``lib/squeeze.ml``; the algorithm is unchanged):
``Proportional.compute_target_adjustments``, ``Stuckness_monitor`` and
``Squeezer.one_iteration``; the constants come from
``ocaml/squeezed/src/squeeze_xen.ml`` (host free target =
``low_mem_emergency_pool`` 64 MiB + ``extra_mem_to_keep`` 8 MiB = 72 MiB;
``inaccuracy_kib`` = 4 KiB). Memory is counted in KiB, as squeezed does::

    every iteration (squeezed: every second while a balancing runs):
        update stuckness: a domain whose actual memory is off its target by more
            than the inaccuracy and has not moved toward it for > 5 s is stuck;
            moving toward the target clears it; new domains count as moving now
        active = domains that can balloon and are not stuck
        min_freeable(d) = max(0, actual - dynamic_min - 2 * inaccuracy)
        surplus = max(0, host free + Σ min_freeable(active) - host free target)
        γ = clamp(surplus / Σ (dynamic_max - dynamic_min), 0, 1)   # NaN -> 0
        new target(d) = dynamic_min + int(γ * (dynamic_max - dynamic_min))
        freeing = targets below actual by more than the inaccuracy
        if freeing: set only those targets                 # free memory first
        else:       set the others (allocation phase)
        a domain newly declared stuck is held where it is:
            min(dynamic_max, max(dynamic_min, min(target, actual)))
        once every active domain has reached its target and no target changes,
        the balancing is over (squeezed then starts afresh: stuckness forgotten)

Mapping onto juggler (Xen's quantities for a KVM-style host):

- ``actual`` = ``configured - balloon_actual`` and ``target`` =
  ``configured - balloon_target`` (the balloon's view of the guest's memory);
  dynamic-min = ``reservation_bytes``, dynamic-max = ``effective_limit_bytes``
  (the limit, else the configured size); can balloon = ``balloon_present``.
- host free = ``host_available_bytes``. Xen backs every page a domain is given,
  and subtracts from free memory what domains were promised but have not yet
  allocated (``reserved_kib``). A KVM guest's untouched memory is unbacked and
  shows up as host available, so with ``reserve_untouched`` (default) juggler
  subtracts each VM's ``max(0, guest memory - resident)`` from host free, which
  keeps squeezed's invariant (free + Σ actual = constant). Set it false to let
  squeezed count untouched guest memory as free, as a port to KVM might.
- A VM whose balloon size (``balloon_actual_bytes``) is unknown is left out, as
  squeezed leaves out a domain whose xenstore keys it cannot read; one without
  a balloon driver counts with its memory fixed.

Where squeezed differs from the summary in our issue (the real code is
followed): the surplus counts only what ballooning down to dynamic-min can free
(minus twice the 4 KiB inaccuracy per domain); targets are set in two phases
(freeing first, then allocating); a stuck ("uncooperative") domain is clamped
to what it holds, and is forgiven when the balancing ends, because squeezed's
stuckness monitor lives only for one balancing run (``change_host_free_memory``
makes a fresh ``Squeezer``).

How xen-api runs it, and juggler with it: squeezed's balance thread sleeps
``balance-check-interval`` = 10 s (``ocaml/squeezed/src/squeezed.ml``,
``Memory_server.start_balance_thread``), then, if memory is unbalanced, runs a
balancing to its end, one iteration a second (``change_host_free_memory``:
``io.wait 1.``). The policy is registered with ``native_interval_s`` 10 and
``busy_interval_s`` 1: every decision that does not find memory balanced says
``busy``, so the Manager asks again a second later, and the first balanced one
ends the run. Time is counted in those iterations (``state.interval_s``, the
busy interval). Like upstream it gets no step cap, dead band or OOM rescue from
the Manager (``guard_extras`` False); the clamp to dynamic-min/max stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from juggler.observation import Decision, Observation, VmTarget
from juggler.policy.base import PolicyState
from juggler.units import KIB, MIB, format_size


@dataclass(frozen=True)
class Params:
    """squeezed's constants (``squeeze.ml``, ``squeeze_xen.ml``)."""

    #: host free memory to keep (``target_host_free_mem_kib``: 64 MiB + 8 MiB)
    host_free_target_bytes: int = 72 * MIB
    #: a balloon making no progress for longer than this is stuck
    #: (``assume_balloon_driver_stuck_after``)
    stuck_after_s: float = 5.0
    #: how far actual may be from target and still count as reached (``inaccuracy_kib``)
    inaccuracy_bytes: int = 4 * KIB
    #: count guest memory not yet backed by the host as taken (Xen's accounting; see above)
    reserve_untouched: bool = True


@dataclass
class Progress:
    """squeeze.ml's ``Stuckness_monitor`` entry for one domain."""

    #: its memory (KiB) at the last interval
    last_actual: int
    #: when it last moved toward its target
    last_progress_s: float
    stuck: bool = False


@dataclass
class State(PolicyState):
    """squeezed's memory between intervals: its clock and the stuckness monitor."""

    #: seconds since the first interval (None before it)
    now_s: float | None = None
    #: per domain: its progress toward its target
    vms: dict[str, Progress] = field(default_factory=dict)
    #: domains declared inactive (stuck or unable to balloon) in this balancing run
    non_active: list[str] = field(default_factory=list)


@dataclass
class _Domain:
    name: str
    can_balloon: bool
    configured: int  # bytes
    dmin: int  # KiB from here on
    dmax: int
    target: int
    actual: int
    inaccuracy: int

    @property
    def range(self) -> int:
        return max(0, self.dmax - self.dmin)

    def min_freeable(self) -> int:
        return max(0, self.actual - self.dmin - 2 * self.inaccuracy)


def _direction(inaccuracy: int, actual: int, target: int) -> str | None:
    """squeeze.ml's ``direction_of_actual``: None when the target is reached."""
    if abs(actual - target) <= inaccuracy:
        return None
    return "down" if target > actual else "up"


def _hit(inaccuracy: int, actual: int, target: int) -> bool:
    return _direction(inaccuracy, actual, target) is None


def decide(observation: Observation, params: Params, state: State) -> Decision:
    """One iteration of squeezed's proportional balancing."""
    now = 0.0 if state.now_s is None else state.now_s + state.interval_s
    state.now_s = now
    targets: dict[str, VmTarget] = {}
    domains: list[_Domain] = []
    unbacked = 0
    inaccuracy = params.inaccuracy_bytes // KIB
    for vm in observation.vms:
        if vm.balloon_present and vm.balloon_actual_bytes is None:
            targets[vm.name] = VmTarget(None, "squeezed: balloon size unknown: left alone")
            continue
        balloon = vm.balloon_actual_bytes or 0
        guest = vm.configured_bytes - balloon
        if params.reserve_untouched and vm.resident_bytes is not None:
            unbacked += max(0, guest - vm.resident_bytes)
        target = vm.balloon_target_bytes if vm.balloon_target_bytes is not None else balloon
        domains.append(
            _Domain(
                name=vm.name,
                can_balloon=vm.balloon_present,
                configured=vm.configured_bytes,
                dmin=vm.reservation_bytes // KIB,
                dmax=vm.effective_limit_bytes // KIB,
                target=(vm.configured_bytes - target) // KIB,
                actual=guest // KIB,
                inaccuracy=inaccuracy,
            )
        )
    free = (observation.host.host_available_bytes - unbacked) // KIB
    host_target = params.host_free_target_bytes // KIB
    _update_stuckness(state.vms, domains, now, params.stuck_after_s)
    active = [d for d in domains if d.can_balloon and not state.vms[d.name].stuck]
    active_names = {d.name for d in active}
    non_active = [d.name for d in domains if d.name not in active_names]
    declared_inactive = set(non_active) - set(state.non_active)
    state.non_active = non_active

    freeable = sum(d.min_freeable() for d in active)
    surplus = max(0, free + freeable - host_target)
    total_range = sum(d.range for d in active)
    gamma = _gamma(surplus, total_range)
    proposed = [(d, d.dmin + int(gamma * d.range)) for d in active]
    freeing = [(d, t) for d, t in proposed if not _hit(d.inaccuracy, d.actual, t) and t < d.actual]
    phase = "freeing" if freeing else "allocation"
    chosen = freeing if freeing else proposed
    all_reached = all(_hit(d.inaccuracy, d.actual, d.target) for d in active)
    no_changes = all(d.target == t for d, t in chosen)
    balanced = all_reached and no_changes
    how = (
        f"squeezed: host free {format_size(free * KIB)} + freeable "
        f"{format_size(freeable * KIB)} - target "
        f"{format_size(host_target * KIB)} = surplus {format_size(surplus * KIB)}; "
        f"γ = {gamma:.3f} of [dynamic-min, dynamic-max]"
    )
    chosen_names = {d.name for d, _ in chosen}
    for d, t in proposed:
        if d.name in chosen_names and not balanced:
            targets[d.name] = VmTarget(
                d.configured - t * KIB,
                f"{how}: {format_size(d.actual * KIB)} -> {format_size(t * KIB)} "
                f"in [{format_size(d.dmin * KIB)}, {format_size(d.dmax * KIB)}] ({phase} phase)",
            )
        elif d.name not in chosen_names and _hit(d.inaccuracy, d.actual, t):
            targets[d.name] = VmTarget(None, f"{how}: keeps {format_size(t * KIB)}")
        elif d.name not in chosen_names:
            targets[d.name] = VmTarget(
                None,
                f"{how}: allocation to {format_size(t * KIB)} waits until memory is freed",
            )
        else:
            targets[d.name] = VmTarget(None, f"{how}: at its target, memory balanced")
    for d in domains:
        if d.name in active_names:
            continue
        if not d.can_balloon:
            targets[d.name] = VmTarget(None, "squeezed: cannot balloon: memory fixed")
        elif d.name in declared_inactive:
            held = min(d.dmax, max(d.dmin, min(d.target, d.actual)))
            targets[d.name] = VmTarget(
                d.configured - held * KIB,
                f"squeezed: uncooperative: no progress toward its target for more than "
                f"{params.stuck_after_s:g}s: held at {format_size(held * KIB)}, memory fixed",
            )
        else:
            targets[d.name] = VmTarget(
                None, "squeezed: uncooperative: its memory is treated as fixed"
            )
    notes = [how]
    if balanced:
        # Success or Failed: the balancing run ends; the next one starts afresh.
        stuck = [name for name in non_active if name in state.vms and state.vms[name].stuck]
        state.vms.clear()
        state.non_active = []
        notes.append(
            "squeezed: balanced"
            + (f"; uncooperative VMs forgiven: {', '.join(stuck)}" if stuck else "")
        )
    return Decision(targets=targets, notes=tuple(notes), busy=not balanced)


def _gamma(surplus: int, total_range: int) -> float:
    """``surplus / total_range`` constrained to [0, 1], a NaN (0/0) giving 0."""
    if total_range == 0:
        return 1.0 if surplus > 0 else 0.0
    return min(1.0, max(0.0, surplus / total_range))


def _update_stuckness(
    monitor: dict[str, Progress], domains: list[_Domain], now: float, after_s: float
) -> None:
    """squeeze.ml's ``Stuckness_monitor.update``."""
    for d in domains:
        direction = _direction(d.inaccuracy, d.actual, d.target)
        entry = monitor.setdefault(d.name, Progress(last_actual=d.actual, last_progress_s=now))
        delta = d.actual - entry.last_actual
        entry.last_actual = d.actual
        if (delta > 0 and direction == "down") or (delta < 0 and direction == "up"):
            entry.last_progress_s = now
            entry.stuck = False
        if direction is not None and now - entry.last_progress_s > after_s:
            entry.stuck = True
    live = {d.name for d in domains}
    for name in set(monitor) - live:
        del monitor[name]

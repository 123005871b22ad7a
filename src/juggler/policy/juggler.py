"""juggler: proportional shares with an idle memory tax, driven by host free memory.

Waldspurger's min-funding revocation (ESX, OSDI 2002): when memory must be
taken from someone, take it from the VM that pays least for its pages. A VM's
shares-per-page ratio, with idle pages taxed, is

    rho = S / (P * (f + k * (1 - f))),   k = 1 / (1 - tau)

S its shares, P the memory it holds (resident), f the fraction of it that is
active (the working-set estimator, ``workingset.py``), tau the tax rate (0.75:
an idle page costs four times an active one). Idle memory lowers rho, so a VM
hoarding idle memory gives it up first, whatever its shares::

    every interval:
        update each VM's working-set estimate; track whether its balloon follows
        needy  = ballooned VMs whose guest swaps in or has almost nothing available
        free   = host available / host memory
        each needy VM: deflate by a step (it shows need; growth comes first)
        if free < high (6%) or needy VMs need room:
            want = (target 8% - free) * host memory + what the needy VMs get back
            spare(v) = resident - max(reservation, estimated working set * 1.1
                                      + 3% of the guest)
            repeat: take a chunk from the donor with the lowest rho that has spare,
                    recompute its rho (it now holds less), until want is met
            guest memory target(v) = resident(v) - taken(v)
        elif free > plenty (12%):
            give (free - target) back: to the ballooned VMs with the highest rho first
        a VM whose balloon has not moved toward its target for 3 intervals is
        uncooperative (as Xen's squeezed marks it): not counted on as a donor,
        and said so in the reasons

Setting a donor's guest memory to its resident size minus its share makes the
balloon free host memory: its never-touched pages cost the host nothing.
Bounds, step limits and the dead band are the Manager's guard, shared by all
policies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import PolicyState, balloon_now, guest_needs_memory
from juggler.policy.workingset import WorkingSetEstimator
from juggler.units import MIB, format_size


@dataclass(frozen=True)
class Params:
    #: tau: the idle memory tax rate (0: pure shares; 0.75 as in ESX)
    tax_rate: float = 0.75
    #: below this host free fraction, reclaim
    high_free: float = 0.06
    #: the free fraction to restore
    target_free: float = 0.08
    #: above this free fraction, give memory back
    plenty_free: float = 0.12
    #: a donor keeps its estimated working set plus this margin ...
    ws_margin: float = 0.10
    #: ... plus this fraction of its guest memory
    guest_floor: float = 0.03
    #: how much a needy, ballooned guest gets back per interval
    relief_bytes: int = 64 * MIB
    #: granularity of min-funding revocation
    chunk_bytes: int = 16 * MIB
    #: intervals without balloon progress before a VM counts as uncooperative
    uncooperative_intervals: int = 3


@dataclass
class _Memory:
    estimators: dict[str, WorkingSetEstimator] = field(default_factory=dict)
    #: per VM: (balloon target, gap to it) last interval, intervals without progress
    progress: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _memory(state: PolicyState) -> _Memory:
    memory = state.memory.get("juggler")
    if not isinstance(memory, _Memory):
        memory = state.memory["juggler"] = _Memory()
    return memory


def rho(shares: int, held_bytes: int, active_fraction: float, tax_rate: float) -> float:
    """Shares per page with idle pages taxed (Waldspurger 2002, eq. 1)."""
    k = 1.0 / (1.0 - tax_rate)
    f = min(1.0, max(0.0, active_fraction))
    return shares / (max(held_bytes, MIB) * (f + k * (1.0 - f)))


def _track_cooperation(vm: VmSample, memory: _Memory, params: Params) -> bool:
    """True when the VM's balloon has not moved toward its target for a while."""
    if vm.balloon_target_bytes is None or vm.balloon_actual_bytes is None:
        return False
    target = vm.balloon_target_bytes
    gap = abs(target - vm.balloon_actual_bytes)
    last_target, last_gap, stuck = memory.progress.get(vm.name, (target, gap, 0))
    if gap <= 4 * MIB:
        stuck = 0
    elif target == last_target and gap >= last_gap - MIB:
        stuck += 1
    else:
        stuck = 0
    memory.progress[vm.name] = (target, gap, stuck)
    return stuck >= params.uncooperative_intervals


@dataclass
class _Donor:
    vm: VmSample
    held: int
    active: float
    spare: int
    taken: int = 0


def _donor(vm: VmSample, working_set: int | None, params: Params) -> _Donor | None:
    if vm.resident_bytes is None or vm.guest_total_bytes is None:
        return None
    if working_set is None:
        if vm.guest_available_bytes is None:
            return None
        working_set = vm.guest_total_bytes - vm.guest_available_bytes
    keep = max(
        vm.reservation_bytes,
        int(working_set * (1 + params.ws_margin) + params.guest_floor * vm.guest_total_bytes),
    )
    spare = vm.resident_bytes - keep
    if spare <= 0:
        return None
    active = working_set / vm.resident_bytes if vm.resident_bytes else 1.0
    return _Donor(vm, vm.resident_bytes, active, spare)


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    memory = _memory(state)
    host = observation.host
    free = host.available_fraction
    working_sets: dict[str, int | None] = {}
    stuck: set[str] = set()
    for vm in observation.vms:
        estimator = memory.estimators.setdefault(vm.name, WorkingSetEstimator())
        working_sets[vm.name] = estimator.update(vm)
        if vm.balloon_present and _track_cooperation(vm, memory, params):
            stuck.add(vm.name)
    notes = [f"host free {free:.1%}"]
    if stuck:
        notes.append(f"uncooperative balloons (not counted on): {', '.join(sorted(stuck))}")

    targets: dict[str, VmTarget] = {}
    ballooned = [vm for vm in observation.vms if vm.balloon_present and balloon_now(vm) > 0]
    relief = 0
    for vm in ballooned:
        if guest_needs_memory(vm) and vm.name not in stuck:
            step = min(balloon_now(vm), params.relief_bytes)
            relief += step
            targets[vm.name] = VmTarget(
                balloon_now(vm) - step,
                f"guest shows need (available {format_size(vm.guest_available_bytes)}, "
                f"swap-in {format_size(vm.guest_swap_in_bytes_per_s)}/s): give back "
                f"{format_size(step)}",
            )

    if free < params.high_free or (relief and free < params.target_free):
        want = int((params.target_free - free) * host.host_memory_bytes) + relief
        donors = [
            d
            for vm in observation.vms
            if vm.balloon_present and vm.name not in targets and vm.name not in stuck
            and (d := _donor(vm, working_sets[vm.name], params)) is not None
        ]
        _revoke(donors, want, params)
        for d in donors:
            if d.taken <= 0:
                continue
            guest_target = d.vm.resident_bytes - d.taken
            balloon = max(balloon_now(d.vm), d.vm.configured_bytes - guest_target)
            r = rho(d.vm.shares, d.held + d.taken, d.active, params.tax_rate)
            targets[d.vm.name] = VmTarget(
                balloon,
                f"host free {free:.1%} < {params.high_free:.0%}: reclaim "
                f"{format_size(d.taken)} (lowest shares per page, rho {r * MIB:.2f}/MiB; "
                f"working set ~{format_size(working_sets[d.vm.name])}, "
                f"{d.active:.0%} active)",
            )
        notes.append(f"short: want {format_size(want)}")
    elif free > params.plenty_free and ballooned:
        surplus = int((free - params.target_free) * host.host_memory_bytes) - relief
        rest = [vm for vm in ballooned if vm.name not in targets]

        def deserving(vm: VmSample) -> float:
            ws = working_sets[vm.name]
            held = vm.resident_bytes or vm.configured_bytes
            active = (ws / held) if ws is not None and held else 1.0
            return rho(vm.shares, held, active, params.tax_rate)

        for vm in sorted(rest, key=deserving, reverse=True):
            if surplus <= 0:
                break
            give = min(balloon_now(vm), surplus)
            surplus -= give
            targets[vm.name] = VmTarget(
                balloon_now(vm) - give,
                f"host free {free:.1%} > {params.plenty_free:.0%}: give back {format_size(give)}",
            )
        notes.append("plenty: giving memory back")
    return Decision(targets=targets, notes=tuple(notes))


def _revoke(donors: list[_Donor], want: int, params: Params) -> None:
    """Min-funding revocation: take chunks from the donor paying least per page."""
    while want > 0:
        able = [d for d in donors if d.spare - d.taken > 0]
        if not able:
            return
        poorest = min(
            able, key=lambda d: rho(d.vm.shares, d.held, d.active, params.tax_rate)
        )
        chunk = min(params.chunk_bytes, poorest.spare - poorest.taken, want)
        poorest.taken += chunk
        poorest.held -= chunk
        poorest.active = min(1.0, poorest.active * (poorest.held + chunk) / max(poorest.held, 1))
        want -= chunk

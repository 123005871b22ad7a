"""juggler: proportional shares with an idle memory tax, driven by host free memory.

Waldspurger's min-funding revocation (ESX, OSDI 2002): when memory must be
taken from someone, take it from the VM that pays least for its pages. A VM's
shares-per-page ratio, with idle pages taxed, is

    rho = S / (P * (f + k * (1 - f))),   k = 1 / (1 - tau)

S its shares, P the memory it holds (resident), f the fraction of it that is
active (the Manager's working-set estimate, ``workingset.py``), tau the tax rate (0.75:
an idle page costs four times an active one). Idle memory lowers rho, so a VM
hoarding idle memory gives it up first, whatever its shares::

    every interval:
        read each VM's working-set estimate (the Manager's); track whether its
        balloon follows
        needy  = ballooned VMs whose guest swaps in or has almost nothing available
        free   = host available / host memory
        growing = VMs whose used memory (total - available: not page cache) rose by
                  more than 8 MiB since the last interval: their working-set estimate
                  lags their growth, so they are neither donors nor held
        each needy VM: deflate by half its balloon, at least 64 MiB
            (it shows need; growth comes first) --
            but while the host is short (free < 4%), only as far as cheap reclaim
            from others (tiers 1 and 2 below) pays for it: relief paid for by host
            swapping would just move the paging to the host, where it is blind
        if free < high (6%) or needy VMs need room:
            want = (target 8% - free) * host memory + what the needy VMs get back
            used(v) = guest memory it cannot reclaim (total - available)
            tier 1: reclaimable memory, resident - max(reservation, used + 3%)
                    (free and page cache: the guest gives it up without swapping)
            tier 2: idle memory, down to max(reservation, working set * 1.1 + 3%),
                    only where the estimate says most of `used` is idle (< 60%) and
                    its use held steady (within 10%) over the last two minutes:
                    the idle memory tax; estimator noise, or an estimate lagging a
                    burst, is no reason to swap a working set
            (used counts what the guest used within the last two minutes: bursts
             come back)
            tier 3, only while the host is short (free < 4%): active anonymous
                    memory down to max(reservation, working set * 1.1 + 3%):
                    the guest's own swap picks cold pages; the host's would pick
                    blindly and page twice
            in each tier in turn: take a chunk from the donor with the lowest rho
                    that has some left, recompute its rho, until want is met
            guest memory target(v) = resident(v) - taken(v)
            every other guest that is not growing is held where it is:
            guest memory = max(resident + 3%, used + need floor (5%))
            (its never-touched memory costs the host nothing, but a Linux guest
            would fill it with page cache the host must then find; it keeps what it
            uses, or it would show need at the next interval and the balloons churn)
            -- but while the host reads the VM's memory back (host swap-in above
            128 KiB/s: the host swapped part of its working set), guest memory =
            resident + 3%: the guest picks what to page better than the host did
        elif free > plenty (12%):
            give (free - target) back: to the ballooned VMs with the highest rho first
        else, rebalance: page cache and free memory a guest holds beyond what it uses
            now or within the last two minutes (bursts come back), at least 64 MiB,
            moves to squeezed, ballooned guests
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
from juggler.policy.base import (
    PolicyState,
    balloon_now,
    guest_needs_memory,
    guest_used_bytes,
    need_floor_bytes,
)
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
    #: a needy, ballooned guest gets back at least this much per interval ...
    relief_bytes: int = 64 * MIB
    #: ... or this fraction of its balloon, if more
    relief_fraction: float = 0.5
    #: anonymous memory counts as idle only when the estimated working set is below
    #: this fraction of what the guest uses
    idle_threshold: float = 0.6
    #: margin over the working set kept when the host is short (tier 3)
    short_margin: float = 0.10
    #: below this host free fraction the host is short enough for tier 3
    short_free: float = 0.04
    #: below this host free fraction, relief for needy guests is only what cheap
    #: reclaim from others pays for
    relief_cap_free: float = 0.04
    #: a held guest keeps this fraction of its memory free (8%, above the 5% at which
    #: it counts as needy, measured worse on the suite: see docs/comparison.md)
    hold_headroom: float = 0.03
    #: a held guest keeps at least what it uses plus the need floor, unless the host
    #: reads its memory back faster than this (then it is held at resident + headroom)
    hold_swap_in_bytes_per_s: float = 128 * 1024
    #: rebalance when a guest holds at least this much memory it does not use ...
    rebalance_bytes: int = 64 * MIB
    #: ... and has not used within this window (bursts come back)
    rebalance_window_s: float = 120.0
    #: count memory used within that window as used when reclaiming, too
    protect_recent: bool = True
    #: a VM's anonymous memory can count as idle only if its use stayed within this
    #: fraction over the window
    steady_fraction: float = 0.10
    #: use tier 3 only while the host is swapping (its swap-out rate is above zero)
    tier3_needs_host_swap: bool = True
    #: hold guests only while the host is swapping
    hold_needs_host_swap: bool = False
    #: a VM whose used memory grew more than this in an interval is growing:
    #: it is neither a donor nor held
    growth_bytes: int = 8 * MIB
    #: granularity of min-funding revocation
    chunk_bytes: int = 16 * MIB
    #: intervals without balloon progress before a VM counts as uncooperative
    uncooperative_intervals: int = 3


@dataclass
class State(PolicyState):
    """What juggler keeps between intervals (the working-set estimate is the Manager's)."""

    #: per VM: (balloon target, gap to it) last interval, intervals without progress
    progress: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    #: per VM: memory the guest used (total - available) at the last interval
    used: dict[str, int] = field(default_factory=dict)
    #: per VM: (time, used) over the last rebalance window
    used_history: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


def rho(shares: int, held_bytes: int, active_fraction: float, tax_rate: float) -> float:
    """Shares per page with idle pages taxed (Waldspurger 2002, eq. 1)."""
    k = 1.0 / (1.0 - tax_rate)
    f = min(1.0, max(0.0, active_fraction))
    return shares / (max(held_bytes, MIB) * (f + k * (1.0 - f)))


def _track_cooperation(vm: VmSample, state: State, params: Params) -> bool:
    """True when the VM's balloon has not moved toward its target for a while."""
    if vm.balloon_target_bytes is None or vm.balloon_actual_bytes is None:
        return False
    target = vm.balloon_target_bytes
    gap = abs(target - vm.balloon_actual_bytes)
    last_target, last_gap, stuck = state.progress.get(vm.name, (target, gap, 0))
    if gap <= 4 * MIB:
        stuck = 0
    elif target == last_target and gap >= last_gap - MIB:
        stuck += 1
    else:
        stuck = 0
    state.progress[vm.name] = (target, gap, stuck)
    return stuck >= params.uncooperative_intervals


@dataclass
class _Donor:
    vm: VmSample
    #: its resident and guest memory (known: a VM without them is no donor)
    resident: int
    guest_total: int
    held: int
    active: float
    #: memory it can give per tier: reclaimable (free, cache), then idle anonymous
    tiers: tuple[int, int, int]
    taken: int = 0


def _donor(
    vm: VmSample, working_set: int | None, params: Params, recent_used: int = 0
) -> _Donor | None:
    if vm.resident_bytes is None or vm.guest_total_bytes is None:
        return None
    if vm.guest_available_bytes is None:
        return None
    floor = int(params.guest_floor * vm.guest_total_bytes)
    used = max(guest_used_bytes(vm) or 0, recent_used)
    keep_used = max(vm.reservation_bytes, used + floor)
    reclaimable = max(0, vm.resident_bytes - keep_used)
    idle = 0
    if working_set is not None and working_set * (1 + params.ws_margin) < (
        params.idle_threshold * used
    ):
        keep_active = max(vm.reservation_bytes, int(working_set * (1 + params.ws_margin)) + floor)
        idle = max(0, min(vm.resident_bytes, keep_used) - keep_active)
    active_anon = 0
    if working_set is not None:
        keep_short = max(vm.reservation_bytes, int(working_set * (1 + params.short_margin)) + floor)
        active_anon = max(0, min(vm.resident_bytes, keep_used) - idle - keep_short)
    if reclaimable + idle + active_anon <= 0:
        return None
    ws = working_set if working_set is not None else used
    active = min(1.0, ws / vm.resident_bytes) if vm.resident_bytes else 1.0
    return _Donor(
        vm,
        vm.resident_bytes,
        vm.guest_total_bytes,
        vm.resident_bytes,
        active,
        (reclaimable, idle, active_anon),
    )


def decide(observation: Observation, params: Params, state: State) -> Decision:
    """One interval of min-funding revocation (the module docstring has the rules)."""
    host = observation.host
    free = host.available_fraction
    working_sets: dict[str, int | None] = {}
    stuck: set[str] = set()
    growing = set()
    for vm in observation.vms:
        used = guest_used_bytes(vm)
        if used is not None:
            before = state.used.get(vm.name, used)
            if used - before > params.growth_bytes:
                growing.add(vm.name)
            state.used[vm.name] = used
            history = state.used_history.setdefault(vm.name, [])
            history.append((observation.time_s, used))
            while history and history[0][0] < observation.time_s - params.rebalance_window_s:
                history.pop(0)
        working_sets[vm.name] = vm.working_set_estimate_bytes
        if vm.balloon_present and _track_cooperation(vm, state, params):
            stuck.add(vm.name)
    recent_peak = {
        name: max((u for _, u in h), default=0) for name, h in state.used_history.items()
    }
    # idle memory is memory that stayed allocated: a VM whose use swings is not idle
    steady = {
        name
        for name, h in state.used_history.items()
        if h
        and max(u for _, u in h) - min(u for _, u in h)
        <= params.steady_fraction * max(u for _, u in h)
    }
    notes = [f"host free {free:.1%}"]
    if stuck:
        notes.append(f"uncooperative balloons (not counted on): {', '.join(sorted(stuck))}")

    targets: dict[str, VmTarget] = {}
    ballooned = [vm for vm in observation.vms if vm.balloon_present and balloon_now(vm) > 0]
    wanted = {}
    for vm in ballooned:
        if guest_needs_memory(vm) and vm.name not in stuck:
            step = max(params.relief_bytes, int(params.relief_fraction * balloon_now(vm)))
            wanted[vm.name] = min(balloon_now(vm), step)
    donors = [
        d
        for vm in observation.vms
        if vm.balloon_present
        and vm.name not in wanted
        and vm.name not in stuck
        and vm.name not in growing
        and (
            d := _donor(
                vm,
                working_sets[vm.name] if vm.name in steady else None,
                params,
                recent_peak.get(vm.name, 0) if params.protect_recent else 0,
            )
        )
        is not None
    ]
    short_of = max(0, int((params.target_free - free) * host.host_memory_bytes))
    relief_budget = sum(wanted.values())
    if free < params.relief_cap_free:
        cheap = sum(d.tiers[0] + d.tiers[1] for d in donors)
        relief_budget = min(relief_budget, max(0, cheap - short_of))
        if relief_budget < sum(wanted.values()):
            notes.append(f"host short: relief limited to {format_size(relief_budget)}")
    relief = 0
    for vm in sorted(ballooned, key=lambda vm: -vm.shares):
        if vm.name not in wanted or relief_budget <= 0:
            continue
        step = min(wanted[vm.name], relief_budget)
        relief_budget -= step
        relief += step
        targets[vm.name] = VmTarget(
            balloon_now(vm) - step,
            f"guest shows need (available {format_size(vm.guest_available_bytes)}, "
            f"swap-in {format_size(vm.guest_swap_in_bytes_per_s)}/s): give back "
            f"{format_size(step)}",
        )

    if free < params.high_free or (relief and free < params.target_free):
        want = short_of + relief
        swapping = (host.host_swap_out_bytes_per_s or 0.0) > 0
        deep = free < params.short_free and (swapping or not params.tier3_needs_host_swap)
        _revoke(donors, want, params, tiers=3 if deep else 2)
        for d in donors:
            if d.taken <= 0:
                continue
            guest_target = d.resident - d.taken
            balloon = max(balloon_now(d.vm), d.vm.configured_bytes - guest_target)
            r = rho(d.vm.shares, d.held + d.taken, d.active, params.tax_rate)
            targets[d.vm.name] = VmTarget(
                balloon,
                f"host free {free:.1%} < {params.high_free:.0%}: reclaim "
                f"{format_size(d.taken)} (lowest shares per page, rho {r * MIB:.2f}/MiB; "
                f"working set ~{format_size(working_sets[d.vm.name])}, "
                f"{d.active:.0%} active)",
            )
        hold = swapping or not params.hold_needs_host_swap
        for vm in observation.vms if hold else ():
            if (
                not vm.balloon_present
                or vm.name in targets
                or vm.name in growing
                or vm.name in stuck
                or vm.resident_bytes is None
            ):
                continue
            guest, why = _hold_size(vm, params)
            balloon = vm.configured_bytes - guest
            if balloon > balloon_now(vm) + params.chunk_bytes:
                targets[vm.name] = VmTarget(
                    balloon,
                    f"host free {free:.1%} < {params.high_free:.0%}: hold at {why} (no new "
                    "page cache while the host is short)",
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
    elif free >= params.high_free and ballooned:
        _rebalance(ballooned, donors, targets, recent_peak, working_sets, params, notes)
    return Decision(targets=targets, notes=tuple(notes))


def _hold_size(vm: VmSample, params: Params) -> tuple[int, str]:
    """The guest memory a held guest keeps, and why.

    Its resident memory plus the headroom stops new page cache. A host whose
    reclaim picked the VM's coldest pages (Linux's LRU) leaves resident below
    what the guest uses; holding there makes the guest page those pages a
    second time, and squeezes it into need, so the balloon churns. So a held
    guest keeps what it uses plus the need floor - unless the host is reading
    its memory back (a host that picks blindly, as ESX's does, swapped part of
    its working set): then the guest is better placed to choose its victims.
    """
    assert vm.resident_bytes is not None
    headroom = max(16 * MIB, int(params.hold_headroom * vm.configured_bytes))
    at_resident = vm.resident_bytes + headroom
    why = f"resident {format_size(vm.resident_bytes)} + {format_size(headroom)}"
    used = guest_used_bytes(vm)
    host_reads = (vm.vm_host_swap_in_bytes_per_s or 0.0) > params.hold_swap_in_bytes_per_s
    if used is None or vm.guest_total_bytes is None or host_reads:
        return at_resident, why
    floor = need_floor_bytes(vm.guest_total_bytes)
    at_used = used + floor
    if at_used > at_resident:
        return at_used, f"used {format_size(used)} + {format_size(floor)}"
    return at_resident, why


def _rebalance(
    ballooned: list[VmSample],
    donors: list[_Donor],
    targets: dict[str, VmTarget],
    recent_peak: dict[str, int],
    working_sets: dict[str, int | None],
    params: Params,
    notes: list[str],
) -> None:
    """Move memory a guest holds but does not use to ballooned guests that lack it."""
    squeezed = [
        vm
        for vm in ballooned
        if vm.name not in targets
        and all(d.vm.name != vm.name or d.tiers[0] < params.rebalance_bytes for d in donors)
    ]

    def unused(d: _Donor) -> int:
        # memory it neither uses now nor used within the window (bursts come back)
        recent = max(working_sets[d.vm.name] or 0, recent_peak.get(d.vm.name, 0))
        keep = max(
            d.vm.reservation_bytes,
            max(guest_used_bytes(d.vm) or 0, recent) + int(params.guest_floor * d.guest_total),
        )
        return min(d.tiers[0], max(0, d.resident - keep))

    for d in donors:
        d.tiers = (unused(d), 0, 0)
    rich = [d for d in donors if d.tiers[0] >= params.rebalance_bytes and d.vm.name not in targets]
    if not squeezed or not rich:
        return
    give = min(sum(balloon_now(vm) for vm in squeezed), sum(d.tiers[0] for d in rich))
    if give < params.rebalance_bytes:
        return
    _revoke(rich, give, params, tiers=1)
    moved = sum(d.taken for d in rich)
    for d in rich:
        if d.taken > 0:
            targets[d.vm.name] = VmTarget(
                max(balloon_now(d.vm), d.vm.configured_bytes - (d.resident - d.taken)),
                f"rebalance: it holds {format_size(d.tiers[0])} it does not use; "
                f"reclaim {format_size(d.taken)} for squeezed guests",
            )

    def deserving(vm: VmSample) -> float:
        ws = working_sets[vm.name]
        held = vm.resident_bytes or vm.configured_bytes
        return rho(vm.shares, held, (ws / held) if ws and held else 1.0, params.tax_rate)

    for vm in sorted(squeezed, key=deserving, reverse=True):
        if moved <= 0:
            break
        step = min(balloon_now(vm), moved)
        moved -= step
        targets[vm.name] = VmTarget(
            balloon_now(vm) - step,
            f"rebalance: give back {format_size(step)} that another guest held unused",
        )
    notes.append("rebalance: memory held unused moves to squeezed guests")


def _revoke(donors: list[_Donor], want: int, params: Params, tiers: int) -> None:
    """Min-funding revocation, tier by tier: take chunks from the donor paying least
    per page among those with memory left in the tier."""
    for tier in range(tiers):
        left = {id(d): d.tiers[tier] for d in donors}
        while want > 0:
            able = [d for d in donors if left[id(d)] > 0]
            if not able:
                break
            poorest = min(able, key=lambda d: rho(d.vm.shares, d.held, d.active, params.tax_rate))
            chunk = min(params.chunk_bytes, left[id(poorest)], want)
            left[id(poorest)] -= chunk
            poorest.taken += chunk
            poorest.held -= chunk
            if tier == 0:
                # reclaimable memory is not active: what stays is more active
                poorest.active = min(1.0, poorest.active * (poorest.held + chunk) / poorest.held)
            want -= chunk

"""juggler: min-funding revocation with an idle memory tax, paid for knowingly.

A VM's claim on a page is its shares per page, idle pages taxed (Waldspurger,
"Memory Resource Management in VMware ESX Server", OSDI 2002, §5.2, eq. 1):
``rho = S / (P * (f + k * (1 - f)))``, ``k = 1 / (1 - tau)``; S its shares, P the
memory the host backs for it, f the active share of it (the Manager's working-set
estimate). Moving memory costs the guest vCPU time (the host profile's balloon
figures, ``state.balloon_costs``), so every move is priced before it is made::

    each interval, for each VM v with a cooperative balloon and statistics:
      held = configured - balloon target;  used = total - available + boot-reserved
      keep = max(reservation, used + headroom, backoff(v));  backed = resident + host-swapped
      calm = no need and no growth of used for calm_s;  untouched = held - backed
      worth(v, gain) = inflation's vCPU cost (free, cache, anon parts; untouched first)
                       < gain x one host page-in per page (an SSD read)
    1 need: v pages (swap-in, or available below the need floor; a VM full on purpose
        only when it thrashes) or reads back what it gave (disk reads up since its
        shrink): deflate it now, to used + 2 x headroom (or back to what the host
        backed before plus headroom); it is not shrunk below that again (backoff)
        until its working set halves
    2 host short (free < HIGH_FREE, hoststate.py): free enough to restore
        HIGH_FREE + SOFT_FREE by revoke(); else, ahead of need, while free < reserve
        and the guests could use more than the host has: revoke() at most
        step_fraction of a guest each, toward the reserve (Senpai, TMO)
    3 revoke(want): spare memory first: calm VMs, lowest claim first, down to keep,
        where worth; then memory in use, a step at a time, from the lowest claim of
        all, down to working set x (1 + ws_margin) + headroom, where worth; when the
        lowest claim is not calm or has nothing above that, stop: the host pages
    4 free > reserve + headroom: give back to VMs that needed memory within calm_s
    moves under min_move are not made

Hysteresis comes from the levels (taken below the reserve, given back above it plus
the headroom), from ``keep`` (a shrunk guest keeps twice its need floor above what it
uses) and from the backoff. Bounds and the step cap are the Manager's guard; a guard
rescue of a guest this controller shrank would be a bug in it (a property test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from juggler.hoststate import HIGH_FREE, SOFT_FREE
from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import (
    PAGING_BYTES_PER_S,
    THRASHING_BYTES_PER_S,
    PolicyState,
    guest_needs_memory,
    guest_used_bytes,
)
from juggler.profile import BalloonCosts, load_profile
from juggler.units import GIB, MIB, format_size

#: bytes per page, and what the host pays to read one back from a solid-state swap
#: device (sim/costs.py's ssd figure, 250 us for 4 KiB: a benefit priced low, so a
#: move must clearly pay)
PAGE = 4096
HOST_READ_S = 250e-6


@dataclass(frozen=True)
class Params:
    #: tau, the idle memory tax: an idle page costs 1 / (1 - tau) active ones
    #: (ESX's default 0.75, Waldspurger 2002 §5.4)
    tax_rate: float = 0.75
    #: host free memory kept ahead of need, as a fraction of host memory: reclaim below
    #: it, give back above it plus the headroom; HIGH_FREE (6%, where ESX starts to
    #: balloon) plus SOFT_FREE (4%), so reclaim ahead of need starts one ESX band early
    reserve_free: float = HIGH_FREE + SOFT_FREE
    #: what a guest keeps available beyond what it uses, as a fraction of its memory:
    #: the need floor (policy/base.py NEED_FRACTION, 5%) and 1% more, so a shrunk guest
    #: is not needy at once while the page cache beyond it goes to the host
    headroom: float = 0.06
    #: most of a guest's memory taken ahead of need per interval, and of its memory in
    #: use at any time: Senpai's max_probe is 1% per 6 s interval
    #: (facebookincubator/senpai, senpai.py); twice that here, because juggler probes
    #: only while host free memory is below the reserve, where Senpai probes always
    step_fraction: float = 0.02
    #: seconds a guest must go without need before it is shrunk ahead of need again
    #: (Senpai backs off on pressure and probes again after it has passed)
    calm_s: float = 30.0
    #: memory in use is taken only down to the working-set estimate plus this share of
    #: it: the Manager's estimate read lab-seed's grown A at 568 MiB against 760 MiB
    #: it used (-25%, docs/comparison.md), and paging a working set costs a lab guest
    #: 787 us per page (profiles/tcg.toml)
    ws_margin: float = 0.5
    #: smallest move worth its cost (a balloon move costs guest vCPU per GiB)
    min_move_bytes: int = 16 * MIB
    #: intervals without balloon progress before a VM counts as uncooperative (the
    #: three-try rule of Xen's squeezed)
    uncooperative_intervals: int = 3


@dataclass
class State(PolicyState):
    """What juggler keeps between intervals (the working-set estimate is the Manager's)."""

    #: per VM: (balloon target, gap to it) last interval, intervals without progress
    progress: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    #: per VM: when it last showed need, grew, or was given memory back
    last_need_s: dict[str, float] = field(default_factory=dict)
    #: per VM: what it used at the last interval
    used: dict[str, int] = field(default_factory=dict)
    #: per VM: (guest memory the host backed before, its disk reads per second then,
    #: when) it was last shrunk, until it has stayed calm for calm_s after it
    shrunk: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    #: per VM: the guest memory at which it showed pressure after being shrunk, and
    #: its working-set estimate then: it is not shrunk below this again until that
    #: estimate halves, a new phase (Senpai's back-off, remembered)
    floor: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: VMs whose memory in use was taken (their guest paged it out): full on purpose
    paged: set[str] = field(default_factory=set)


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
class _Guest:
    """One managed VM as this interval sees it; ``taken``, ``gained`` and ``given``
    are the plan (balloon bytes inflated, host bytes that frees, bytes deflated)."""

    vm: VmSample
    held: int
    used: int
    keep: int
    #: memory the host keeps for it, in RAM or in its swap
    backed: int
    working_set: int
    calm: bool
    needy: bool
    #: it reads back (from its disk) what it gave up when it was last shrunk
    refaults: bool = False
    #: guest memory it showed need at after being shrunk: never taken below
    backoff: int = 0
    #: what it keeps available beyond what it uses (``Params.headroom`` of its memory)
    headroom: int = 0
    taken: int = 0
    gained: int = 0
    given: int = 0
    why: list[str] = field(default_factory=list)

    @property
    def balloon(self) -> int:
        return self.vm.configured_bytes - self.held

    @property
    def untouched(self) -> int:
        """Guest memory the host never backed: a balloon over it frees nothing."""
        return max(0, self.held - self.backed)

    def room(self, floor: int) -> int:
        """Host memory it can still give down to ``floor`` of guest memory."""
        return max(0, min(self.held, self.backed) - self.gained - floor)

    def active_floor(self, ws_margin: float) -> int:
        """Taken below this, the guest might page what it uses now."""
        margin = self.keep - self.used
        estimate = int(self.working_set * (1 + ws_margin)) + margin
        return max(self.vm.reservation_bytes, self.backoff, min(self.keep, estimate))

    def claim(self, tax_rate: float, extra: int = 0) -> float:
        holding = min(self.held, self.backed) - self.gained + self.given + extra
        active = self.working_set / holding if holding > 0 else 1.0
        return rho(self.vm.shares, holding, active, tax_rate)

    def take(self, gain: int) -> int:
        """Plan to free ``gain`` more host bytes; returns the balloon bytes that moves
        (the first take also inflates over memory the host never backed)."""
        before = self.taken
        self.gained += gain
        self.taken = self.untouched + self.gained if self.gained else 0
        return self.taken - before


def _guest(vm: VmSample, params: Params, state: State, now: float) -> _Guest | None:
    used = guest_used_bytes(vm)
    if used is None or vm.guest_total_bytes is None:
        return None
    held = vm.configured_bytes - (
        vm.balloon_target_bytes
        if vm.balloon_target_bytes is not None
        else vm.balloon_actual_bytes or 0
    )
    if vm.name in state.paged:
        # it was left full on purpose (its idle memory paged out): only thrashing on
        # that memory is need (a trickle of read-back is the price of the tax)
        needy = (vm.guest_swap_in_bytes_per_s or 0.0) > THRASHING_BYTES_PER_S
    else:
        needy = guest_needs_memory(vm)
    headroom = int(params.headroom * vm.configured_bytes)
    reads = vm.vm_disk_read_bytes_per_s or 0.0
    refaults = False
    if vm.name in state.shrunk:
        backed_before, reads_before, when = state.shrunk[vm.name]
        if reads > reads_before + PAGING_BYTES_PER_S:
            # it reads back what it gave up: pressure, the first sign of it; it gets
            # back what the host held for it before, with headroom (not the memory it
            # never touched: that gave it nothing)
            refaults = True
            floor = backed_before + headroom
            state.floor[vm.name] = (floor, vm.working_set_estimate_bytes or 0)
            del state.shrunk[vm.name]
        elif now - when >= params.calm_s:
            del state.shrunk[vm.name]
    # a guest whose use grows is not calm: its working-set estimate lags its growth
    grew = used - state.used.get(vm.name, used) > params.min_move_bytes
    state.used[vm.name] = used
    if needy or grew:
        state.last_need_s[vm.name] = now
    calm = now - state.last_need_s.get(vm.name, -1e18) >= params.calm_s
    if (
        vm.name in state.floor
        and 2 * (vm.working_set_estimate_bytes or 0) < state.floor[vm.name][1]
    ):
        del state.floor[vm.name]
    backoff = state.floor.get(vm.name, (0, 0))[0]
    keep = max(
        vm.reservation_bytes,
        used + headroom,
        backoff,
    )
    resident = vm.resident_bytes
    backed = held if resident is None else resident + (vm.host_swapped_bytes or 0)
    working_set = vm.working_set_estimate_bytes
    return _Guest(
        vm,
        held=held,
        used=used,
        keep=min(keep, vm.configured_bytes),
        backed=backed,
        working_set=used if working_set is None else min(working_set, used),
        calm=calm and not refaults,
        needy=needy,
        refaults=refaults,
        backoff=backoff,
        headroom=headroom,
    )


def inflation_cost_s(g: _Guest, moved: int, costs: BalloonCosts, anon: int = 0) -> float:
    """vCPU seconds the guest spends giving up ``moved`` bytes: its free memory
    first, then page cache, then ``anon`` bytes paged out (profile.py's figures)."""
    free = min(moved, g.vm.guest_free_bytes or 0)
    cache = max(0, moved - free - anon)
    return (
        free * costs.inflate_cpu_free
        + cache * costs.inflate_cpu_cache
        + anon * costs.inflate_cpu_anon
    ) / GIB


def paging_avoided_s(gain: int) -> float:
    """What freeing ``gain`` host bytes saves: the host would page each such page
    out and read it back once, at a solid-state disk's read latency."""
    return gain / PAGE * HOST_READ_S


def decide(observation: Observation, params: Params, state: State) -> Decision:
    """One interval of the controller in the module docstring."""
    host = observation.host
    memory = host.host_memory_bytes
    now = observation.time_s
    free = host.host_available_bytes
    costs = state.balloon_costs or load_profile("kvm").balloon
    stuck = {
        vm.name
        for vm in observation.vms
        if vm.balloon_present and _track_cooperation(vm, state, params)
    }
    guests = [
        g
        for vm in observation.vms
        if vm.balloon_present
        and vm.name not in observation.missing
        and vm.name not in stuck
        and (g := _guest(vm, params, state, now)) is not None
    ]
    notes = [f"host free {free / memory:.1%}" if memory else "host memory unknown"]
    if stuck:
        notes.append(f"uncooperative balloons (not counted on): {', '.join(sorted(stuck))}")
    if not memory or not guests:
        return Decision(notes=tuple(notes))
    high = int(HIGH_FREE * memory)
    reserve = int(params.reserve_free * memory)
    # host free memory above HIGH_FREE, what grants may use without taking from anyone
    budget = max(0, free - high)

    # 1. need: a guest that shows need gets room at once; one that reads back what
    # it gave up gets it back, and keeps it
    for g in sorted(
        (g for g in guests if g.needy or g.refaults), key=lambda g: -g.claim(params.tax_rate)
    ):
        # what it reads back over a calm period: enough that it stops paging (a full
        # guest's "used" is capped by what it holds, so it alone would undersize this)
        reads = int((g.vm.guest_swap_in_bytes_per_s or 0.0) * params.calm_s)
        if g.needy and g.vm.name in state.paged:
            # the tax took more than was idle: what it reads back, and at least twice
            # its headroom (its available memory is then well above the need floor)
            want = max(reads, 2 * g.headroom)
        elif g.needy:
            want = max(g.keep + g.headroom - g.held, reads)
        else:
            want = g.keep - g.held
        want = min(want, g.balloon)
        if want <= 0:
            continue
        if g.refaults and not g.needy:
            # undoing this controller's own mistake is not paid for by anyone: the
            # host pages for it as it would have without the shrink
            from_free, rest = want, 0
        else:
            from_free = max(0, min(want, budget))
            rest = want - from_free
        budget -= from_free
        paid = _revoke(guests, rest, params, costs, below=g, paged=state.paged) if rest > 0 else 0
        # a guest that pages now is given its room whoever pays: what free memory and
        # lower claims do not cover, the host's own reclaim finds (its LRU picks the
        # coldest pages of all guests, better than a guest paging its working set)
        grant = want
        g.given += grant
        if g.needy and (g.vm.name in state.shrunk or g.vm.name in state.paged):
            # it needed memory after this controller took some: not below this again
            ws = g.vm.working_set_estimate_bytes or 0
            state.floor[g.vm.name] = (g.held + grant, ws)
        sign = (
            f"reads back what it gave up (disk reads "
            f"{format_size(g.vm.vm_disk_read_bytes_per_s or 0)}/s)"
            if g.refaults and not g.needy
            else f"shows need (available {format_size(g.vm.guest_available_bytes)}, swap-in "
            f"{format_size(g.vm.guest_swap_in_bytes_per_s or 0)}/s)"
        )
        g.why.append(
            f"{sign}: give back {format_size(grant)} ({format_size(from_free)} of host "
            f"free memory, {format_size(paid)} from lower claims, the rest from host "
            f"reclaim); gain: the guest stops "
            f"paging; cost: {format_size(grant)} of deflation, "
            f"{grant / GIB * costs.deflate_cpu:.2f} vCPU s"
        )
        state.last_need_s[g.vm.name] = now

    # 2./3. take what the host needs: to restore HIGH + SOFT when short, else to
    # keep the reserve ahead of need while the guests could outgrow the host
    exposed = sum(g.held for g in guests) > memory
    if free < high:
        want = int((HIGH_FREE + SOFT_FREE) * memory) - free - _gained(guests)
        gained = _revoke(guests, want, params, costs, below=None, paged=state.paged)
        notes.append(
            f"short: host free below {HIGH_FREE:.0%}; free {format_size(gained)} "
            f"of {format_size(want)} wanted"
        )
    elif exposed and free < reserve:
        want = reserve - free - _gained(guests) + _given(guests)
        gained = _revoke(guests, want, params, costs, below=None, paged=state.paged, bounded=True)
        if gained:
            notes.append(
                f"ahead of need: host free {free / memory:.1%} < reserve "
                f"{params.reserve_free:.0%}: free {format_size(gained)} of spare memory"
            )
    elif free > reserve + int(params.headroom * memory):
        surplus = free - reserve - _given(guests)
        recent = [
            g
            for g in guests
            if g.balloon - g.given > 0 and not g.needy and not g.calm and g.given == 0
        ]
        for g in sorted(recent, key=lambda g: -g.claim(params.tax_rate)):
            give = min(g.balloon, surplus, g.keep + g.headroom)
            if give < params.min_move_bytes:
                continue
            surplus -= give
            g.given += give
            g.why.append(
                f"host free {free / memory:.1%} > reserve {params.reserve_free:.0%} + "
                f"headroom, and it needed memory within {params.calm_s:.0f}s: give back "
                f"{format_size(give)}; gain: room before it asks; cost: "
                f"{format_size(give)} of deflation, {give / GIB * costs.deflate_cpu:.2f} vCPU s"
            )

    targets: dict[str, VmTarget] = {}
    for g in guests:
        move = g.given - g.taken
        if move == 0 or (abs(move) < params.min_move_bytes and not g.needy):
            continue
        balloon = max(0, min(g.vm.configured_bytes, g.balloon - move))
        targets[g.vm.name] = VmTarget(balloon, "; ".join(g.why))
        if move > 0:
            state.paged.discard(g.vm.name)
        if move < 0:
            disk_reads = g.vm.vm_disk_read_bytes_per_s or 0.0
            before = state.shrunk.get(g.vm.name, (min(g.held, g.backed), disk_reads, now))
            state.shrunk[g.vm.name] = (before[0], before[1], now)
    return Decision(targets=targets, notes=tuple(notes))


def _gained(guests: list[_Guest]) -> int:
    return sum(g.gained for g in guests)


def _given(guests: list[_Guest]) -> int:
    return sum(g.given for g in guests)


def _worth(g: _Guest, gain: int, costs: BalloonCosts, anon: int = 0) -> tuple[bool, float, float]:
    """Whether freeing ``gain`` more host bytes from ``g`` pays for its inflation,
    with the cost and the benefit in vCPU seconds."""
    moved = g.untouched + g.gained + gain - g.taken
    cost = inflation_cost_s(g, moved, costs, anon)
    benefit = paging_avoided_s(gain)
    return benefit > cost, cost, benefit


def _revoke(
    guests: list[_Guest],
    want: int,
    params: Params,
    costs: BalloonCosts,
    below: _Guest | None,
    paged: set[str],
    bounded: bool = False,
) -> int:
    """Min-funding revocation of host memory: spare memory first, from the lowest claim
    up, where it is worth its inflation; then memory in use, a chunk at a time from
    the lowest claim of all, re-ranking after each.

    :param below: the guest being paid for: only claims lower than its own after
        the grant are taken from (None: the host itself is short, any claim pays).
    :param paged: where to note the VMs whose memory in use was taken.
    :param bounded: ahead of need: at most ``step_fraction`` of a guest's spare memory
        per interval (memory in use always moves in such steps).
    :return: the host bytes freed.
    """
    gained = 0
    # a guest that is growing is about to use what it has spare
    able = [g for g in guests if g is not below and g.calm and g.room(g.keep) > 0]
    for g in sorted(able, key=lambda g: g.claim(params.tax_rate)):
        if gained >= want:
            break
        gain = min(g.room(g.keep), want - gained)
        if bounded:
            gain = min(gain, int(params.step_fraction * g.vm.configured_bytes))
        worth, cost, benefit = _worth(g, gain, costs)
        if gain < params.min_move_bytes or not worth:
            continue
        moved = g.take(gain)
        gained += gain
        g.why.append(
            ("ahead of need: " if bounded else "")
            + f"spare memory, lowest claim first (rho {g.claim(params.tax_rate) * MIB:.2f}/MiB): "
            f"inflate {format_size(moved)} to free {format_size(gain)} of free memory and "
            f"cache (gain: ~{benefit:.2f} s of host paging avoided; cost: ~{cost:.2f} vCPU s)"
        )
    chunk = max(params.min_move_bytes, 1)
    others = [g for g in guests if g is not below]
    in_use: dict[str, int] = {}
    while gained < want and others:
        # memory in use comes only from the lowest claim of all: when that guest has
        # nothing left above its working set, the host pages instead
        poorest = min(others, key=lambda g: g.claim(params.tax_rate))
        # the guest pages it out itself: a bounded step per interval, so what it has
        # available never falls toward the guard's rescue while it does
        step = int(params.step_fraction * poorest.vm.configured_bytes)
        room = min(
            poorest.room(poorest.active_floor(params.ws_margin)),
            step - in_use.get(poorest.vm.name, 0),
        )
        if not poorest.calm or room <= 0:
            break
        if below is not None and poorest.claim(params.tax_rate) >= below.claim(
            params.tax_rate, extra=want - gained
        ):
            break
        gain = min(chunk, room, want - gained)
        worth, _, _ = _worth(poorest, gain, costs, anon=gain)
        if not worth:
            break
        poorest.take(gain)
        in_use[poorest.vm.name] = in_use.get(poorest.vm.name, 0) + gain
        gained += gain
    for g in guests:
        if g.vm.name in in_use:
            g.why.append(_revoked_reason(g, in_use[g.vm.name], params, costs))
            paged.add(g.vm.name)
    return gained


def _revoked_reason(g: _Guest, gain: int, params: Params, costs: BalloonCosts) -> str:
    holding = min(g.held, g.backed)
    active = g.working_set / holding if holding else 1.0
    return (
        f"min-funding revocation: lowest claim of all (rho "
        f"{g.claim(params.tax_rate) * MIB:.2f}/MiB, working set ~{format_size(g.working_set)}, "
        f"{active:.0%} active, tax {params.tax_rate:.2f}): free {format_size(gain)} it holds "
        f"idle, paged out by the guest (gain: ~{paging_avoided_s(gain):.2f} s of host paging "
        f"avoided; cost: ~{gain / GIB * costs.inflate_cpu_anon:.2f} vCPU s)"
    )

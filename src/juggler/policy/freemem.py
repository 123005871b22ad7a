"""freemem: keep the host's free memory at its high level by ballooning the VMs
that can spare memory, and give it back when the host has plenty.

A simple, honest ballooning policy (the first one juggler had). It looks only at
what a real host observes: host available memory, and per VM its resident
memory and the guest's own statistics::

    free = host available / host memory
    needy = VMs whose guest swaps in or has almost nothing available
    if free < high:                                   # short (6% by default)
        want = (target - free) * host memory           # aim at 8%
        each needy VM with a balloon: deflate it a step, want += that step
        spare(v) = resident(v) - max(reservation, guest used + floor)
        take want from the VMs with spare memory, in proportion to their spare:
            guest memory target(v) = resident(v) - take(v)
            balloon(v) = configured(v) - guest memory target(v)
    elif free > plenty:                                # 12% by default
        give (free - target) * host memory back to ballooned VMs,
        needy ones first, the rest in proportion to their balloons
    else: leave everything

Setting the guest's memory to its resident size minus what it should give up
is what makes the balloon free host memory: the guest's never-touched pages
are free inside it but cost the host nothing, so inflating over them alone
would free nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import PolicyState, balloon_now, guest_needs_memory, guest_used_bytes
from juggler.units import MIB, format_size


@dataclass(frozen=True)
class Params:
    #: below this host free fraction the host is short
    high_free: float = 0.06
    #: the free fraction to restore
    target_free: float = 0.08
    #: above this free fraction, balloons are given back
    plenty_free: float = 0.12
    #: memory a guest keeps available beyond what it uses, as a fraction of its size
    guest_floor: float = 0.03
    #: how much a needy, ballooned guest gets back per interval
    relief_bytes: int = 64 * MIB


def _spare(vm: VmSample, params: Params) -> int:
    if not vm.balloon_present or vm.resident_bytes is None:
        return 0
    used = guest_used_bytes(vm)
    if used is None or vm.guest_total_bytes is None:
        return 0
    keep = max(vm.reservation_bytes, used + int(params.guest_floor * vm.guest_total_bytes))
    return max(0, vm.resident_bytes - keep)


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    host = observation.host
    free = host.available_fraction
    targets: dict[str, VmTarget] = {}
    ballooned = [vm for vm in observation.vms if vm.balloon_present and balloon_now(vm) > 0]
    needy = [vm for vm in ballooned if guest_needs_memory(vm)]
    for vm in needy:
        relief = min(balloon_now(vm), params.relief_bytes)
        targets[vm.name] = VmTarget(
            balloon_now(vm) - relief,
            f"guest is short of memory: deflate by {format_size(relief)}",
        )
    if free < params.high_free:
        want = int((params.target_free - free) * host.host_memory_bytes)
        want += sum(balloon_now(vm) - (targets[vm.name].balloon_bytes or 0) for vm in needy)
        donors = [(vm, _spare(vm, params)) for vm in observation.vms if vm.name not in targets]
        donors = [(vm, spare) for vm, spare in donors if spare > 0]
        total_spare = sum(spare for _, spare in donors)
        for vm, spare in donors:
            take = min(spare, int(want * spare / total_spare))
            if take <= 0:
                continue
            guest_target = (vm.resident_bytes or 0) - take  # a donor: resident known
            targets[vm.name] = VmTarget(
                max(balloon_now(vm), vm.configured_bytes - guest_target),
                f"host free {free:.1%} < {params.high_free:.0%}: reclaim "
                f"{format_size(take)} of its {format_size(spare)} spare",
            )
        note = f"host short: free {free:.1%}, want {format_size(want)}"
        return Decision(targets=targets, notes=(note,))
    if free > params.plenty_free and ballooned:
        surplus = int((free - params.target_free) * host.host_memory_bytes)
        surplus -= sum(balloon_now(vm) - (targets[vm.name].balloon_bytes or 0) for vm in needy)
        rest = [vm for vm in ballooned if vm.name not in targets]
        total = sum(balloon_now(vm) for vm in rest)
        for vm in rest:
            give = min(balloon_now(vm), int(max(0, surplus) * balloon_now(vm) / total))
            if give > 0:
                targets[vm.name] = VmTarget(
                    balloon_now(vm) - give,
                    f"host free {free:.1%} > {params.plenty_free:.0%}: give back "
                    f"{format_size(give)}",
                )
        return Decision(targets=targets, notes=(f"host has plenty: free {free:.1%}",))
    return Decision(targets=targets)

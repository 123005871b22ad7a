"""proxmox: Proxmox VE's automatic ballooning (``PVE::AutoBalloon::compute_alg1``).

Source: proxmox/pve-manager ``PVE/AutoBalloon.pm`` (the algorithm, with its
test vectors in ``test/balloontest.pl``) and ``PVE/Service/pvestatd.pm``
(``auto_ballooning``: the goal and the 100 MiB step), proxmox/pve-common
``PVE/ProcFSTools.pm`` (``read_meminfo``: host used = MemTotal − MemAvailable)
and proxmox/qemu-server ``PVE::QemuServer::vmstatus`` (the per-VM inputs).
In Proxmox's words (``balloon`` is a VM's current memory, QEMU's balloon
"actual"; ``balloon_min`` its configured minimum, ``maxmem`` its maximum,
``freemem`` the guest's free memory)::

    goal = int(host_total * 80 / 100 - host_used)      # > 0: hand memory out
    eligible = VMs with a balloon driver, a minimum set, shares != 0
    pressure = eligible VMs where not (freemem > 0.25 * balloon_min
                                       and balloon >= balloon_min)
    comfortable = the others
    if goal > 10 MiB:   rest = change(pressure, goal)
                        if rest >= goal: change(eligible, rest)    # no progress
    elif goal < -10 MiB: rest = change(comfortable, goal)
                        if rest <= goal: change(eligible, rest)
    else: nothing

    change(ids, bytes):                 # repeated while it makes progress
        pool = Σ(new_or_current balloon - balloon_min) + rest   over ids not done
        desired(v) = balloon_min + int(pool / Σshares * shares(v)), clamped to
                     [balloon_min, maxmem] (clamping asks for another round)
        move each VM toward desired(v), at most 100 MiB from its current
        memory (growing only when bytes > 0); a VM already at desired is done
        rest -= what moved

Mapping onto juggler: ``balloon`` = ``configured - balloon_actual``,
``balloon_min`` = ``reservation_bytes``, ``maxmem`` = the VM's limit
(``effective_limit_bytes``: the configured size unless a lower limit is set),
``freemem`` = ``guest_free_bytes``, ``shares`` = ``shares``. The policy returns
balloon sizes: ``configured - new memory``.

How juggler runs it, as Proxmox does: ``pvestatd``'s loop runs ``update_status``
every ``$updatetime`` = 10 s (``PVE/Service/pvestatd.pm``, ``run``), and each
cycle's ``update_qemu_status`` calls ``auto_balloning`` once; so the policy is
registered with ``native_interval_s`` 10, and without the Manager's step cap,
dead band and OOM rescue (``guard_extras`` False: its own 100 MiB step and
10 MiB dead zone are the limits; the clamp to reservation and limit stays).

Where the real code differs from the summary in our issue (the real code is
followed):

- A VM without a minimum (reservation 0) is not auto-ballooned at all, nor is
  one with shares 0 (``next if !$d->{balloon_min}``): give VMs a reservation to
  let Proxmox manage them.
- "Under pressure" is ``not (freemem > 0.25 × minimum and memory >= minimum)``:
  a VM below its minimum, or whose guest reports no free memory (unknown or
  0), is counted as under pressure and grown first.
- Growth goes to the VMs under pressure only; all VMs are considered only if
  the pressured ones could take nothing at all (likewise for shrinking and the
  comfortable VMs). A share-weighted target is recomputed each round over the
  VMs not yet done, and every VM moves at most 100 MiB from its *current*
  memory per call, however many rounds.
- The dead zone is ``|goal| <= 10 MiB`` (strict comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import PolicyState, balloon_now
from juggler.units import MIB, format_size


@dataclass(frozen=True)
class Params:
    """The constants of ``pvestatd::auto_ballooning`` and ``compute_alg1``."""

    #: host memory use to steer to, in percent (node option ``ballooning-target``)
    target_percent: int = 80
    #: largest change of one VM's memory per round (``$maxchange``)
    max_change_bytes: int = 100 * MIB
    #: goals this small (in absolute value) are ignored
    dead_zone_bytes: int = 10 * MIB
    #: a guest with free memory above this fraction of its minimum is comfortable
    pressure_fraction: float = 0.25
    #: shares of a VM that sets none
    default_shares: int = 1000


@dataclass
class _Vm:
    balloon: int  # current memory
    balloon_min: int
    maxmem: int
    shares: int


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    """Steer host memory use to 80 % by moving VMs' memory 100 MiB a round, by shares."""
    host = observation.host
    used = host.host_memory_bytes - host.host_available_bytes
    goal = int(host.host_memory_bytes * params.target_percent / 100 - used)
    note = (
        f"Proxmox: host used {format_size(used)} of {format_size(host.host_memory_bytes)}, "
        f"target {params.target_percent}%: goal {format_size(goal)}"
    )
    targets: dict[str, VmTarget] = {}
    vms: dict[str, _Vm] = {}
    pressured: list[str] = []
    comfortable: list[str] = []
    group: dict[str, str] = {}
    for vm in observation.vms:
        skip = _skip_reason(vm)
        if skip:
            targets[vm.name] = VmTarget(None, f"Proxmox: {skip}: not auto-ballooned")
            continue
        d = _Vm(
            balloon=vm.configured_bytes - balloon_now(vm),  # actual: known, as skipped else
            balloon_min=vm.reservation_bytes,
            maxmem=vm.effective_limit_bytes,
            shares=vm.shares or params.default_shares,
        )
        vms[vm.name] = d
        free = vm.guest_free_bytes
        limit = d.balloon_min * params.pressure_fraction
        if free and free > limit and d.balloon >= d.balloon_min:
            comfortable.append(vm.name)
            group[vm.name] = f"enough free memory ({format_size(free)} > {format_size(limit)})"
        else:
            pressured.append(vm.name)
            if not free:
                group[vm.name] = f"under pressure (guest free {format_size(free)})"
            elif d.balloon < d.balloon_min:
                group[vm.name] = "under pressure (below its minimum)"
            else:
                group[vm.name] = (
                    f"under pressure (guest free {format_size(free)} <= {format_size(limit)})"
                )
    eligible = list(vms)
    res: dict[str, int] = {}
    desired: dict[str, int] = {}
    if goal > params.dead_zone_bytes:
        rest = _change(res, desired, pressured, goal, vms, params.max_change_bytes)
        if rest >= goal:
            rest = _change(res, desired, eligible, rest, vms, params.max_change_bytes)
        first = "VMs under memory pressure first"
    elif goal < -params.dead_zone_bytes:
        rest = _change(res, desired, comfortable, goal, vms, params.max_change_bytes)
        if rest <= goal:
            rest = _change(res, desired, eligible, rest, vms, params.max_change_bytes)
        first = "VMs with enough free memory first"
    else:
        idle = f"{note}: |goal| <= {format_size(params.dead_zone_bytes)}, nothing to do"
        for name in eligible:
            targets[name] = VmTarget(None, idle)
        return Decision(targets=targets, notes=(idle,))
    by_name = {vm.name: vm for vm in observation.vms}
    for name in eligible:
        d = vms[name]
        new = res.get(name, d.balloon)
        if new == d.balloon:
            targets[name] = VmTarget(None, f"{note}: {group[name]}, no change")
            continue
        verb = "grow" if new > d.balloon else "shrink"
        targets[name] = VmTarget(
            by_name[name].configured_bytes - new,
            f"{note} ({first}): {verb} {format_size(d.balloon)} -> {format_size(new)} "
            f"(share target {format_size(desired.get(name))}, {d.shares} shares, "
            f"at most {format_size(params.max_change_bytes)} a round; {group[name]})",
        )
    return Decision(targets=targets, notes=(f"{note}; {format_size(rest)} not placed",))


def _skip_reason(vm: VmSample) -> str:
    if not vm.balloon_present:
        return "no balloon driver"
    if vm.balloon_actual_bytes is None:
        return "balloon actual unknown (balloon_actual_bytes is None)"
    if vm.configured_bytes - vm.balloon_actual_bytes <= 0:
        return "balloon driver reports no memory"
    if vm.reservation_bytes <= 0:
        return "no minimum memory set (reservation 0)"
    if vm.shares <= 0:
        return "shares 0"
    return ""


def _change(
    res: dict[str, int],
    desired_out: dict[str, int],
    ids: list[str],
    nbytes: int,
    vms: dict[str, _Vm],
    maxchange: int,
) -> int:
    """``$change_func`` of ``compute_alg1``: move ``nbytes`` among ``ids``; return the rest."""
    rest = nbytes
    repeat = True
    progress = 1
    done: set[str] = set()
    while rest and repeat and progress:
        repeat = False
        progress = 0
        shares_total = 0
        alloc_old = 0
        for vmid in ids:
            if vmid in done:
                continue
            d = vms[vmid]
            alloc_old += res.get(vmid, d.balloon) - d.balloon_min
            shares_total += d.shares
        changes = 0
        alloc_new = alloc_old + rest
        for vmid in ids:
            if vmid in done:
                continue
            d = vms[vmid]
            desired = d.balloon_min + int((alloc_new / shares_total) * d.shares)
            if desired > d.maxmem:
                desired = d.maxmem
                repeat = True
            elif desired < d.balloon_min:
                desired = d.balloon_min
                repeat = True
            desired_out[vmid] = desired
            if nbytes > 0 and desired - d.balloon > 0:  # grow
                balloon = min(d.balloon + maxchange, desired)
            elif desired - d.balloon < 0:  # shrink
                balloon = max(d.balloon - maxchange, desired)
            else:
                done.add(vmid)
                continue
            diff = balloon - d.balloon
            if diff != 0:
                old = res.get(vmid, d.balloon)
                res[vmid] = balloon
                change = balloon - old
                if change != 0:
                    changes += change
                    progress += abs(diff)
                    repeat = True
        rest -= changes
    return rest

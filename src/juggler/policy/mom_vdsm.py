"""mom-vdsm: the MOM policy oVirt deploys (vdsm's ``mom.d``), not MOM's example.

Source: oVirt/vdsm ``static/etc/vdsm/mom.d/00-defines.policy`` (``balloonEnabled``,
off until the engine's cluster setting "memory balloon optimization" turns it on
through ``setMOMPolicyParameters``, ``lib/vdsm/momIF.py``) and
``static/etc/vdsm/mom.d/02-balloon.policy`` (the rules), with vdsm's
``static/etc/vdsm/mom.conf.in`` (``policy-engine-interval: 15``, host and guest
statistics collected every 15 s, ``sample-history-length: 10``). The host
statistics come from MOM's ``mom/Collectors/HostMemory.py``, a guest's from
vdsm's ``balloonInfo`` (``mom/HypervisorInterfaces/vdsmRpcBase.py``:
``balloon_cur``, ``balloon_min`` = the VM's guaranteed memory, ``balloon_max`` =
its memory). In MOM's words (``cur`` is ``balloon_cur``)::

    host_free = avg(host mem_free) / host mem_available        # i.e. free / total
    guest_free(host_free) =
        -0.05 + host_free                          if host_free <= pressure_critical (0.05)
        min_guest_free_percent (0.20) * host_free / pressure_threshold (0.20)  otherwise
    for every guest with balloon_cur and mem_unused:
        used = avg(balloon_cur) - avg(mem_unused)
        if host_free < pressure_threshold and balloonEnabled:      # shrink_guest
            floor = max(min, used + guest_free * cur)
            size = max(cur * (1 - max_balloon_change_percent (0.05)), floor)
            if size <= cur and change_big_enough(size): balloon_target = size
        else:                                                      # grow_guest
            if cur < max:
                floor = max(min, used + guest_free * cur)
                size = min(max, max(cur * (1 + max_balloon_change_percent), floor))
                if change_big_enough(size): balloon_target = size
    for every guest:                                               # guest_qos
        if cur < min: balloon_target = min          # the last word: overrides the above
    change_big_enough(size) = |size - cur| > min_balloon_change_percent (0.0025) * cur

Where it differs from MOM's ``doc/balloon.rules`` (``policy/mom.py``): the grow
target is not a fixed 20 % but the same host-scaled ``guest_free`` as the
shrink (with the defaults, host free itself: a host 60 % free grows a guest to
keep 60 % of its memory free); growing happens whenever ballooning is disabled,
even under pressure, so with ``balloon_enabled`` false the policy only ever
deflates; and ``guest_qos`` raises any guest below its guaranteed memory to it,
including one whose statistics are incomplete.

How juggler's observation maps onto these statistics is ``policy/mom.py``'s
mapping: host ``mem_free`` (MemFree + Buffers + Cached) is
``host_free_cached_bytes`` where the backend reads it, else
``host_available_bytes`` (:func:`~juggler.policy.mom.host_free_bytes`); host
``mem_available`` (MemTotal) is ``host_memory_bytes``; ``cur`` is
``configured - balloon_actual``, ``mem_unused`` is ``guest_free_bytes``,
``min`` is ``reservation_bytes`` and ``max`` is ``configured_bytes``. The policy
returns balloon sizes: ``configured - size``.

How juggler runs it, as vdsm does: every 15 s (``native_interval_s`` 15), with
no step cap, dead band or OOM rescue from the Manager (``guard_extras`` False;
the clamp to reservation and limit stays). vdsm collects statistics at the same
15 s, so juggler's history of one sample per decision is MOM's own.

Where juggler's version differs from vdsm's: ``balloon_enabled`` defaults to
true (vdsm's ``00-defines.policy`` says 0 until the engine enables it; a run
with it off only deflates), and a guest without a balloon driver or balloon
size is left alone, as MOM skips it ("Memory information is missing").
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy import mom
from juggler.policy.base import balloon_now
from juggler.units import format_size

#: MOM's ``StatAvg`` histories, as ``policy/mom.py`` keeps them
State = mom.State


@dataclass(frozen=True)
class Params(mom.Params):
    """The constants of vdsm's ``02-balloon.policy`` (those of ``balloon.rules``)
    and the switch of ``00-defines.policy``."""

    #: ``balloonEnabled``: shrink guests under pressure (false: only ever grow them)
    balloon_enabled: bool = True


def decide(observation: Observation, params: Params, state: mom.State) -> Decision:
    """Shrink every guest a step under host pressure, else grow it toward a free
    target that scales with host free memory; raise any guest below its minimum."""
    host = observation.host
    if host.host_memory_bytes <= 0:
        return Decision(notes=("MOM (vdsm): host memory size unknown: no decision",))
    mom.push(state.host_free, mom.host_free_bytes(host), params.sample_history_length)
    host_free = mom.mean(state.host_free) / host.host_memory_bytes
    guest_free = mom.pressure_guest_free(host_free, params)
    under = host_free < params.pressure_threshold
    pressure = under and params.balloon_enabled
    level = (
        f"<= critical {params.pressure_critical:.0%}"
        if host_free <= params.pressure_critical
        else f"{'<' if under else '>='} pressure {params.pressure_threshold:.0%}"
    )
    why = f"MOM (vdsm): host free {host_free:.1%} {level}: guest free target {guest_free:.1%}"
    if under and not params.balloon_enabled:
        why += ": ballooning disabled, grow only"
    targets: dict[str, VmTarget] = {}
    for vm in observation.vms:
        missing = mom.missing_statistics(vm)
        if missing:
            target = VmTarget(None, f"MOM (vdsm): incomplete data: missing {missing}")
        else:
            cur = vm.configured_bytes - balloon_now(vm)
            used = mom.used_bytes(state, vm, cur, params)
            if pressure:
                target = mom.shrink(vm, cur, used, guest_free, why, params)
            else:
                target = mom.grow(vm, cur, used, guest_free, why, params)
        targets[vm.name] = _guest_qos(vm, target)
    mom.forget_gone(state, observation)
    return Decision(targets=targets, notes=(why,))


def _guest_qos(vm: VmSample, target: VmTarget) -> VmTarget:
    """``guest_qos``: a guest below its guaranteed memory is raised to it, whatever
    the balloon rules set (its control is written last)."""
    if not vm.balloon_present or vm.balloon_actual_bytes is None:
        return target
    cur = vm.configured_bytes - vm.balloon_actual_bytes
    if cur >= vm.reservation_bytes:
        return target
    return VmTarget(
        vm.configured_bytes - vm.reservation_bytes,
        f"MOM (vdsm) guest_qos: {format_size(cur)} is below its guaranteed "
        f"{format_size(vm.reservation_bytes)}: raised to it",
    )

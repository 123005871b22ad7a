"""oracle: size every VM to what it is about to need, read off the simulator's truth.

An evaluation bound, not a manager: no real host can know a guest's next phase, so
the Manager runs it only on the simulated host (``Policy.needs_truth``), and
``compare`` reports every other policy's slowdown in excess of it::

    every interval, for each VM with a balloon and the simulator's truth:
        need = min(configured, upcoming_need + headroom)
               # upcoming_need (VmTruth): kernel, boot-reserved, reclaim watermark and the
               #   working set of the phases ahead, met in time at the step limit
               # headroom: need_floor(configured), so the guard sees no guest short
    budget = host available + resident of those VMs - host_reserve x host memory
    shortfall = sum(need) - budget if share_shortfall and sum(need) > budget else 0
    held = need - shortfall x need / sum(need)
    balloon = configured - held
    a VM without truth (or a balloon) is left alone, saying why

Why the shortfall is not shared by default: a guest squeezed below its working set
fills what is left, the guard deflates it as near OOM, the oracle squeezes it again,
and the churn costs more than the host's own reclaim of the shortfall does (on the
suite's seed, bursty-neighbour, reservation and phase-shift scenarios, seed 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.hoststate import HIGH_FREE
from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import PolicyState, need_floor_bytes
from juggler.units import format_size


@dataclass(frozen=True)
class Params:
    #: host memory kept free, as a fraction of it: the host's "high" level, so the
    #: host neither balloons nor swaps of its own accord
    host_reserve: float = HIGH_FREE
    #: when the needs exceed the host, squeeze every VM by its share of the shortfall
    #: (true), or hold every need and leave the shortfall to the host's reclaim (false)
    share_shortfall: bool = False


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    """Balloon each VM down to what it is about to need, sharing any shortfall by need."""
    needs: dict[str, int] = {}
    sized: list[VmSample] = []
    targets: dict[str, VmTarget] = {}
    for vm in observation.vms:
        truth = observation.truth.get(vm.name)
        if not vm.balloon_present:
            continue
        if truth is None or truth.upcoming_need_bytes is None:
            targets[vm.name] = VmTarget(None, "oracle: no simulator truth for this VM")
            continue
        upcoming = truth.upcoming_need_bytes + need_floor_bytes(vm.configured_bytes)
        needs[vm.name] = min(vm.configured_bytes, upcoming)
        sized.append(vm)
    if not sized:
        return Decision(targets=targets)
    host = observation.host
    resident = sum(vm.resident_bytes or 0 for vm in sized)
    reserve = int(params.host_reserve * host.host_memory_bytes)
    budget = max(0, host.host_available_bytes + resident - reserve)
    total = sum(needs.values())
    excess = max(0, total - budget)
    shortfall = excess if params.share_shortfall else 0
    for vm in sized:
        need = needs[vm.name]
        held = need - (shortfall * need // total if total else 0)
        reason = f"oracle: needs {format_size(need)} for what is ahead"
        if shortfall:
            reason += f"; host {format_size(shortfall)} short, shared by need"
        targets[vm.name] = VmTarget(max(0, vm.configured_bytes - held), reason)
    note = f"oracle: needs {format_size(total)} of a budget of {format_size(budget)}"
    if excess and not shortfall:
        note += f"; the host's reclaim takes the {format_size(excess)} short"
    return Decision(targets=targets, notes=(note,))

"""Test-only policies: each makes one mistake on purpose, so that the incident suite
can test how ``juggler diagnose`` explains what the mistake does to a VM.

They are named in an incident's ``[manager]`` by spec, as a user's own policy is
(docs/policies.md): ``policy = "tests.incidents.policies:asks_too_much"``. The
module must be importable where the incident runs. ``tests/diagnose/scoring.py``
simulates in-process, and pytest and ``benchmarks/diagnose_accuracy.py`` put the
repository root on ``sys.path``; ``juggler simulate`` on one of these files needs
``PYTHONPATH=.`` from the root. Nobody should run them on a real host.

``asks_too_much`` exists because the juggler controller no longer asks a guest for
memory it uses and cannot page out, so an uncooperative balloon (one that stays
short of its target) no longer happens with it; this policy keeps the mistake of
the policy the uncooperative incidents were first built on. It is Waldspurger's
min-funding revocation with every page counted as active and no question about
what the donor can give::

    every interval:
        short = host free below HIGH_FREE (hoststate.py)
        if not short: nothing (it never gives memory back)
        want  = reserve_free of host memory - host free
        donor = the VM with a balloon and statistics holding the fewest shares per
                resident page (its claim, rho = shares / resident)
        if the donor's balloon is short of its target: the request stands (left alone)
        else: ask it for want out of what the host holds for it,
              balloon = configured - (resident - want)
              -- whether or not it has swap to page that out, and although what it
              holds beyond resident was never touched (a balloon over it frees nothing)

A guest with no swap and only anonymous memory gives up its free memory and then
nothing: its balloon stalls short of its target, the host stays short and swaps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.hoststate import HIGH_FREE, SOFT_FREE
from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.policy.base import Policy, PolicyState, balloon_now
from juggler.units import MIB, format_size


@dataclass(frozen=True)
class Params:
    #: host free memory the donor is asked to restore, as a fraction of host memory
    #: (the juggler controller's reserve: HIGH_FREE plus SOFT_FREE)
    reserve_free: float = HIGH_FREE + SOFT_FREE
    #: a balloon this far or more below its target has not reached it: the request stands
    pending_bytes: int = 4 * MIB


def claim(vm: VmSample) -> float:
    """Shares per resident page, every page counted active (rho with f = 1)."""
    return vm.shares / max(vm.resident_bytes or 0, MIB)


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    """One interval of the rules in the module docstring."""
    host = observation.host
    memory = host.host_memory_bytes
    free = host.host_available_bytes
    notes = (f"host free {host.available_fraction:.1%}",)
    if not memory or free >= HIGH_FREE * memory:
        return Decision(notes=notes)
    donors = [
        vm
        for vm in observation.vms
        if vm.balloon_present
        and vm.name not in observation.missing
        and vm.resident_bytes is not None
        and vm.balloon_actual_bytes is not None
    ]
    if not donors:
        return Decision(notes=notes)
    donor = min(donors, key=lambda vm: (claim(vm), vm.name))
    target = donor.balloon_target_bytes
    actual = balloon_now(donor)
    if target is not None and target - actual >= params.pending_bytes:
        why = (
            f"its balloon holds {format_size(actual)} of the {format_size(target)} asked: "
            "the request stands"
        )
        return Decision({donor.name: VmTarget(None, why)}, notes)
    want = max(0, int(params.reserve_free * memory) - free)
    resident = donor.resident_bytes or 0
    balloon = min(donor.configured_bytes, max(actual, donor.configured_bytes - resident + want))
    why = (
        f"host free {host.available_fraction:.1%} < {HIGH_FREE:.0%}: the lowest claim "
        f"({claim(donor) * MIB:.2f} shares/MiB) gives {format_size(want)} of the "
        f"{format_size(resident)} the host holds for it (what it can page out not asked)"
    )
    return Decision({donor.name: VmTarget(balloon, why)}, notes)


#: asks the lowest claim for the host's shortfall out of its resident memory
asks_too_much = Policy(
    "asks-too-much",
    Params,
    decide,
    "test only: asks the lowest claim for memory it may not be able to give",
)

"""halfway: a user's own policy, as an example (docs/policies.md).

every interval, each VM with a balloon and guest statistics:
    the guest keeps what it uses and half of the rest of its memory
"""

from dataclasses import dataclass

from juggler.observation import Decision, Observation, VmTarget
from juggler.policy import Policy, PolicyState
from juggler.policy.base import guest_used_bytes


@dataclass(frozen=True)
class Params:
    #: the share of its unused memory a guest keeps
    keep: float = 0.5


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    targets = {}
    for vm in observation.vms:
        used = guest_used_bytes(vm)
        if vm.balloon_present and used is not None:
            balloon = int((1 - params.keep) * max(0, vm.configured_bytes - used))
            targets[vm.name] = VmTarget(balloon, f"halfway: keep {params.keep:.0%} of the unused")
    return Decision(targets)


policy = Policy("halfway", Params, decide, "each guest keeps what it uses and half the rest")

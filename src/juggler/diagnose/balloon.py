"""The vCPU time a VM's balloon took, estimated from what a real host sees.

A balloon's moves cost the guest vCPU time (``juggler.profile.BalloonCosts``),
which no counter of a real host reports. What it does report is the balloon's
size and the guest's statistics, so each sample period's cost is estimated from
the host profile's figures (a fact about the host, like its page size):

    inflated = rise of balloon_actual_bytes, deflated = its fall
    from cache = min(inflated, the fall of guest_cache_bytes)
    from anon  = min(inflated - from cache, guest swap-out in the period)
    from free  = the rest
    seconds    = (free * inflate_cpu_free + cache * inflate_cpu_cache
                  + anon * inflate_cpu_anon + deflated * deflate_cpu) / GiB

A sample suffers from its balloon when that is at least ``BALLOON_SHARE`` of the
VM's vCPU time in the period. The profile and the vCPUs come from the run's
scenario (``meta.scenario_json``); without one, the default profile and one vCPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from juggler.diagnose.data import Run, VmSeries, nz
from juggler.errors import ScenarioError
from juggler.profile import DEFAULT_PROFILE, BalloonCosts, load_profile

#: share of a VM's vCPU time its balloon must take for a sample to suffer
BALLOON_SHARE = 0.05
GIB = float(2**30)


@dataclass(frozen=True)
class BalloonCostModel:
    """The host's balloon costs and each VM's vCPUs, as the run's scenario gives them."""

    profile: str
    costs: BalloonCosts
    vcpus: dict[str, int]

    def seconds(self, vm: VmSeries) -> np.ndarray:
        """Estimated vCPU seconds ``vm``'s balloon took in each sample's period."""
        balloon = nz(vm.col("balloon_actual_bytes"))
        if not len(balloon):
            return np.zeros(0)
        moved = np.diff(balloon, prepend=balloon[:1])
        inflated = np.maximum(moved, 0.0)
        deflated = np.maximum(-moved, 0.0)
        cache = nz(vm.col("guest_cache_bytes"))
        dropped = np.maximum(-np.diff(cache, prepend=cache[:1]), 0.0)
        dt = np.maximum(np.diff(vm.t, prepend=vm.t[:1]), 0.0)
        swapped = nz(vm.col("guest_swap_out_bytes_per_s")) * dt
        from_cache = np.minimum(inflated, dropped)
        from_anon = np.minimum(inflated - from_cache, swapped)
        from_free = inflated - from_cache - from_anon
        c = self.costs
        seconds: np.ndarray = (
            from_free * c.inflate_cpu_free
            + from_cache * c.inflate_cpu_cache
            + from_anon * c.inflate_cpu_anon
            + deflated * c.deflate_cpu
        ) / GIB
        return seconds

    def share(self, vm: VmSeries) -> np.ndarray:
        """Each sample's estimated balloon seconds over the VM's vCPU seconds in it."""
        dt = np.maximum(np.diff(vm.t, prepend=vm.t[:1]), 0.0)
        budget = dt * self.vcpus.get(vm.name, 1)
        seconds = self.seconds(vm)
        out: np.ndarray = np.divide(seconds, budget, out=np.zeros_like(seconds), where=budget > 0)
        return out


def cost_model(run: Run) -> BalloonCostModel:
    """The balloon costs of the host ``run`` ran on (see the module docstring)."""
    spec, vcpus = DEFAULT_PROFILE, {}
    text = run.meta.get("scenario_json")
    if text:
        try:
            scenario = json.loads(text)
            spec = scenario.get("host", {}).get("profile") or DEFAULT_PROFILE
            vcpus = {vm["name"]: int(vm.get("vcpus", 1)) for vm in scenario.get("vm", [])}
        except (ValueError, TypeError, KeyError, AttributeError):
            spec, vcpus = DEFAULT_PROFILE, {}
    try:
        costs = load_profile(spec).balloon
    except ScenarioError:
        # a profile file that has since moved: the default host's costs, said so
        spec = DEFAULT_PROFILE
        costs = load_profile(spec).balloon
    return BalloonCostModel(spec, costs, vcpus)

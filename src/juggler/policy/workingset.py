"""Working-set estimation: how much of a VM's memory is really in use.

The guest does not say which pages it uses, so the hypervisor estimates it, as
ESX does (Waldspurger 2002, section 5.3): each period it samples n random
guest-physical pages, clears their accessed bits, and at the end of the period
counts how many were touched. The touched fraction is smoothed by a fast and
a slow exponentially weighted average, and the estimate is the largest of the
two and the newest sample: it rises at once when a VM becomes active and
falls slowly when it goes idle, so memory is not taken from a VM that only
paused::

    on a new sample (touched t of n pages, period ended at time s):
        f = t / n
        fast = fast + a_fast (f - fast);  slow = slow + a_slow (f - slow)
        estimate = max(f, fast, slow) x guest memory

Backends that do not sample (QEMU/libvirt over QMP) fall back to the guest's
own statistics: memory the guest uses and cannot reclaim (total - available)
is an upper bound of its working set, smoothed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.observation import VmSample
from juggler.policy.base import guest_used_bytes


@dataclass(frozen=True)
class EstimatorParams:
    #: weight of a new sample in the fast average (ESX's fast average follows in ~2 periods)
    fast_weight: float = 0.5
    #: weight of a new sample in the slow average
    slow_weight: float = 0.1


@dataclass
class WorkingSetEstimator:
    """The smoothed estimate for one VM; kept in the policy's state between intervals."""

    params: EstimatorParams = EstimatorParams()
    fast: float | None = None
    slow: float | None = None
    newest: float | None = None
    last_sample_s: float | None = None
    source: str = "none"

    def update(self, vm: VmSample) -> int | None:
        """Take in a new observation; return the estimated working set in bytes (None: unknown)."""
        fraction, stamp, source = _fraction(vm)
        if fraction is None:
            return self.estimate_bytes(vm)
        if stamp is None or stamp != self.last_sample_s:
            self._absorb(fraction)
            self.last_sample_s = stamp
            self.source = source
        return self.estimate_bytes(vm)

    def _absorb(self, fraction: float) -> None:
        if self.fast is None or self.slow is None:
            self.fast = self.slow = fraction
        else:
            self.fast += self.params.fast_weight * (fraction - self.fast)
            self.slow += self.params.slow_weight * (fraction - self.slow)
        self.newest = fraction

    @property
    def fraction(self) -> float | None:
        """The estimated active fraction of the guest's memory."""
        if self.newest is None:
            return None
        return max(self.newest, self.fast or 0.0, self.slow or 0.0)

    def estimate_bytes(self, vm: VmSample) -> int | None:
        fraction = self.fraction
        if fraction is None:
            return None
        return int(fraction * vm.configured_bytes)


def _fraction(vm: VmSample) -> tuple[float | None, float | None, str]:
    """The newest active fraction a VM's observation offers, and when it was taken."""
    if vm.sampled_pages and vm.sampled_touched_pages is not None:
        return vm.sampled_touched_pages / vm.sampled_pages, vm.sampled_at_s, "sampling"
    used = guest_used_bytes(vm)
    if used is not None and vm.guest_total_bytes:
        return used / vm.configured_bytes, None, "guest statistics"
    return None, None, "none"

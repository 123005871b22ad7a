"""What a policy's control cost and what it left the host, from a run file.

A policy is judged not only by the slowdown it causes: one that moves the balloons
back and forth costs the guests reclaim and the host CPU, one the guard keeps
rescuing is wrong about what a guest needs, and the memory a policy leaves free on
the host is what lets it take more VMs. ``compare`` reports these beside the
slowdowns, for every world a run file comes from (no simulator truth is needed).

A reversal is a balloon target that turns back: a step up after a step down, or
down after up. Steps below :data:`REVERSAL_MIN_STEP_BYTES` are ignored, so that a
target jittering within a page or two does not count as hunting.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from juggler.metrics.store import RunStore
from juggler.observation import GuardChange
from juggler.units import MIB

#: target steps smaller than this are no direction (and do not count as a reversal)
REVERSAL_MIN_STEP_BYTES = MIB
#: reversals are counted per this many seconds of run
REVERSAL_PERIOD_S = 600.0


@dataclass(frozen=True)
class ControlFigures:
    """One run's control costs and host use (``None``: the run is too short to say)."""

    #: sum over VMs of |Δ balloon actual| between consecutive samples
    balloon_moved_bytes: int
    #: balloon target reversals per 10 minutes, the mean over VMs with a balloon
    reversals_per_vm_per_10min: float | None
    #: the same, of the VM that reversed most
    reversals_max_vm_per_10min: float | None
    #: decisions in which the guard deflated a guest near OOM
    oom_rescues: int
    #: host memory in use (host memory - available), averaged over the run's time
    host_in_use_bytes: int | None


def reversals(targets: Sequence[int], min_step_bytes: int = REVERSAL_MIN_STEP_BYTES) -> int:
    """How many times a sequence of balloon targets turns back.

    :param targets: the targets in time order (the first being where it started).
    :param min_step_bytes: steps smaller than this are ignored.
    """
    count = 0
    direction = 0
    for before, after in itertools.pairwise(targets):
        step = after - before
        if abs(step) < min_step_bytes:
            continue
        sign = 1 if step > 0 else -1
        if direction and sign != direction:
            count += 1
        direction = sign
    return count


def control_figures(run: str | Path) -> ControlFigures:
    """The control figures of the run file ``run``.

    :raise StoreError: When the run file cannot be read.
    """
    with RunStore.open(run) as store:
        return figures_of(store)


def figures_of(store: RunStore) -> ControlFigures:
    """The control figures of the run in ``store``."""
    first, last = store.time_span()
    duration = (last or 0.0) - (first or 0.0)
    decisions = store.decisions()
    targets: dict[str, list[int]] = {}
    for decision in decisions:
        sequence = targets.setdefault(decision.vm, [decision.previous_target_bytes])
        sequence.append(decision.balloon_target_bytes)
    rates = [
        reversals(targets.get(vm.name, [])) * REVERSAL_PERIOD_S / duration
        for vm in store.vms()
        if vm.balloon_present and duration > 0
    ]
    in_use = None
    memory = store.integral("host_memory_bytes")
    available = store.integral("host_available_bytes")
    if duration > 0 and memory is not None and available is not None:
        in_use = round((memory - available) / duration)
    return ControlFigures(
        balloon_moved_bytes=round(store.balloon_moved_bytes()),
        reversals_per_vm_per_10min=round(sum(rates) / len(rates), 3) if rates else None,
        reversals_max_vm_per_10min=round(max(rates), 3) if rates else None,
        oom_rescues=sum(GuardChange.OOM_RESCUE in decision.guard for decision in decisions),
        host_in_use_bytes=in_use,
    )

"""A run's summary, computed from its run file (so it works for any world).

Rates are integrated over the period each sample covers (since the previous
sample). Fields a real host cannot measure (working set truth, slowdown,
stall time by cause) are ``None`` for runs without simulator truth.

:func:`summarize` is the entry point; its :class:`RunSummary` is what
``simulate``, ``lab run`` and ``run`` print, and :meth:`RunSummary.to_json`
is their ``--json`` output (keys in field order, so the shape is the classes').
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from juggler.metrics.names import HOST_STATES
from juggler.metrics.store import RunStore


@dataclass(frozen=True)
class StallSeconds:
    """vCPU seconds a VM lost, by cause (simulator truth; ``None`` without it)."""

    guest_swap: float | None
    host_swap: float | None
    cache_miss: float | None
    balloon: float | None


@dataclass(frozen=True)
class WorkloadSummary:
    """What a VM's own workload reported (lab runs): means over the samples, and the
    worst sample's p99."""

    accesses_per_s: float
    latency_p50_seconds: float | None
    latency_p99_seconds: float | None
    latency_p99_max_seconds: float | None


@dataclass(frozen=True)
class VmSummary:
    """One VM over the run; ``None`` is not measured (or not known without truth)."""

    name: str
    configured_bytes: int | None
    reservation_bytes: int | None
    peak_working_set_bytes: int | None
    balloon_max_bytes: int | None
    balloon_final_bytes: int | None
    #: lowest resident memory once resident first reached the reservation
    min_resident_bytes: int | None
    guest_swap_in_bytes: int | None
    guest_swap_out_bytes: int | None
    host_swap_in_bytes: int | None
    host_swap_out_bytes: int | None
    #: nominal over achieved work (simulator truth)
    slowdown: float | None
    stall_seconds: StallSeconds
    workload: WorkloadSummary | None


@dataclass(frozen=True)
class HostSummary:
    """The host over the run."""

    memory_bytes: int
    #: the VMs' configured memory over the host the scenario means
    overcommit_ratio: float | None
    min_available_bytes: int | None
    host_swap_in_bytes: int | None
    host_swap_out_bytes: int | None
    #: seconds in each of :data:`~juggler.metrics.names.HOST_STATES`, in that order
    seconds_in_state: dict[str, float]


@dataclass(frozen=True)
class Violations:
    """Samples below a VM's reservation, and guest OOM kills."""

    reservation: int
    guest_oom: int


@dataclass(frozen=True)
class RunSummary:
    """The summary of one run, whatever world it came from."""

    scenario: str
    policy: str
    backend: str
    duration_s: float
    #: the run file it was computed from
    run: str
    decisions: int
    host: HostSummary
    vms: tuple[VmSummary, ...]
    violations: Violations

    def to_json(self) -> str:
        """The ``--json`` output of ``simulate``, ``lab run`` and ``run``."""
        return json.dumps(dataclasses.asdict(self), indent=2)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _round(value: float | None, digits: int) -> float:
    return round(value or 0.0, digits)


def _workload(store: RunStore, vm: str) -> WorkloadSummary | None:
    means = store.workload_means(vm)
    if means is None:
        return None
    return WorkloadSummary(
        accesses_per_s=round(means.accesses_per_s, 1),
        latency_p50_seconds=means.latency_p50_seconds,
        latency_p99_seconds=means.latency_p99_seconds,
        latency_p99_max_seconds=means.latency_p99_max_seconds,
    )


def _host(store: RunStore, meta: dict[str, str], configured: int) -> HostSummary:
    memory = store.maximum("host_memory_bytes") or 0
    # a lab's cgroup holds the scaled host plus QEMU's own overhead: over-commitment
    # is against the host the scenario means
    shared = int(meta.get("lab_host_bytes", 0)) or memory
    states = dict.fromkeys(HOST_STATES, 0.0)
    for state, seconds in store.seconds_in_state().items():
        if state in states:
            states[state] = round(seconds, 3)
    return HostSummary(
        memory_bytes=int(memory),
        overcommit_ratio=round(configured / shared, 4) if shared else None,
        min_available_bytes=_int(store.minimum("host_available_bytes")),
        host_swap_in_bytes=_int(store.integral("host_swap_in_bytes_per_s")),
        host_swap_out_bytes=_int(store.integral("host_swap_out_bytes_per_s")),
        seconds_in_state=states,
    )


def _vm(
    store: RunStore, name: str, configured: int | None, reservation: int | None, has_truth: bool
) -> tuple[VmSummary, int]:
    """One VM's summary, and its samples below its reservation."""
    floor = store.resident_floor(name, reservation or 0)
    peak = slowdown = None
    stalls = StallSeconds(None, None, None, None)
    if has_truth:
        truth = store.truth_totals(name)
        peak = _int(truth.peak_working_set_bytes)
        nominal, achieved = truth.nominal_accesses, truth.achieved_accesses
        slowdown = round(nominal / achieved, 4) if achieved and nominal is not None else None
        stalls = StallSeconds(
            guest_swap=_round(truth.stall_seconds_guest_swap, 3),
            host_swap=_round(truth.stall_seconds_host_swap, 3),
            cache_miss=_round(truth.stall_seconds_cache_miss, 3),
            balloon=_round(truth.stall_seconds_balloon, 3),
        )
    summary = VmSummary(
        name=name,
        configured_bytes=configured,
        reservation_bytes=reservation,
        peak_working_set_bytes=peak,
        balloon_max_bytes=_int(store.maximum("balloon_actual_bytes", name)),
        balloon_final_bytes=_int(store.last("balloon_actual_bytes", name)),
        min_resident_bytes=_int(floor.lowest_bytes),
        guest_swap_in_bytes=_int(store.integral("guest_swap_in_bytes_per_s", name)),
        guest_swap_out_bytes=_int(store.integral("guest_swap_out_bytes_per_s", name)),
        host_swap_in_bytes=_int(store.integral("vm_host_swap_in_bytes_per_s", name)),
        host_swap_out_bytes=_int(store.integral("vm_host_swap_out_bytes_per_s", name)),
        slowdown=slowdown,
        stall_seconds=stalls,
        workload=_workload(store, name),
    )
    return summary, floor.samples_below


def summarize(store: RunStore) -> RunSummary:
    """The summary of the run in ``store``.

    :raise StoreError: When the run file cannot be read.
    """
    meta = store.meta()
    has_truth = store.count("truth") > 0
    first, last = store.time_span()
    configs = store.vms()
    configured = sum(vm.configured_bytes or 0 for vm in configs)
    vms = []
    reservation_violations = 0
    for config in configs:
        vm, below = _vm(
            store, config.name, config.configured_bytes, config.reservation_bytes, has_truth
        )
        vms.append(vm)
        reservation_violations += below
    if has_truth:
        guest_oom = int(store.total("guest_oom_events") or 0)
    else:
        guest_oom = store.count("events", kind="guest_oom")
    return RunSummary(
        scenario=meta.get("scenario", ""),
        policy=meta.get("policy", ""),
        backend=meta.get("backend", ""),
        duration_s=round((last or 0.0) - (first or 0.0), 3),
        run=str(store.path),
        decisions=store.count("decisions"),
        host=_host(store, meta, configured),
        vms=tuple(vms),
        violations=Violations(reservation=reservation_violations, guest_oom=guest_oom),
    )

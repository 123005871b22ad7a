"""What a backend observes, what a policy decides.

These are the only types that cross between backends and policies. Field names
are the metric names of DESIGN.md (``metrics/names.py`` lists them once), in
bytes and seconds. A field a backend cannot measure is ``None``, never a
made-up number; a policy must cope with ``None`` (usually by leaving that VM
alone and saying why).

The simulator's ground truth travels in :class:`VmTruth`, kept apart in
``Observation.truth``: policies are handed an observation stripped of it
(:meth:`Observation.without_truth`), so no policy can peek.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


@dataclass(frozen=True)
class HostSample:
    """The hypervisor host as a real one can be observed (``/proc``, PSI, cgroups)."""

    #: physical memory the VMs share (the host, or the lab's cgroup limit)
    host_memory_bytes: int
    #: memory the host could hand out now without reclaiming
    host_available_bytes: int
    host_swap_used_bytes: int | None = None
    host_swap_in_bytes_per_s: float | None = None
    host_swap_out_bytes_per_s: float | None = None
    host_psi_some_avg10: float | None = None
    host_psi_full_avg10: float | None = None
    #: MemFree + Buffers + Cached, free memory counting the page cache as free:
    #: MOM's host ``mem_free`` (``mom/Collectors/HostMemory.py``), which its
    #: policies read instead of MemAvailable; None where the backend cannot read
    #: it (not recorded in the run file: only MOM's policies use it)
    host_free_cached_bytes: int | None = None

    @property
    def available_fraction(self) -> float:
        """Available memory as a fraction of host memory (0..1)."""
        return self.host_available_bytes / self.host_memory_bytes if self.host_memory_bytes else 0.0


@dataclass(frozen=True)
class VmSample:
    """One VM, from both sides of the guest/hypervisor boundary."""

    name: str
    # -- configuration (hypervisor side) --
    configured_bytes: int
    reservation_bytes: int = 0
    limit_bytes: int | None = None
    shares: int = 1000
    #: whether the VM has a working balloon device (driver loaded)
    balloon_present: bool = True
    # -- hypervisor side --
    #: memory the balloon currently asks the guest to give up (0 = deflated)
    balloon_target_bytes: int | None = None
    #: memory the balloon actually holds
    balloon_actual_bytes: int | None = None
    resident_bytes: int | None = None
    host_swapped_bytes: int | None = None
    vm_host_swap_in_bytes_per_s: float | None = None
    vm_host_swap_out_bytes_per_s: float | None = None
    #: the Manager's working-set estimate (``policy.workingset``), filled in before
    #: recording so every run file, report and scrape shows the same estimate
    working_set_estimate_bytes: int | None = None
    #: the guest's disk I/O as the hypervisor sees it (QMP ``query-blockstats``):
    #: guest swap and file reads show here even when the guest reports nothing
    vm_disk_read_bytes_per_s: float | None = None
    vm_disk_write_bytes_per_s: float | None = None
    # -- guest side, as the balloon driver's statistics report them --
    guest_total_bytes: int | None = None
    guest_free_bytes: int | None = None
    guest_available_bytes: int | None = None
    guest_cache_bytes: int | None = None
    guest_swap_in_bytes_per_s: float | None = None
    guest_swap_out_bytes_per_s: float | None = None
    guest_major_faults_per_s: float | None = None
    # -- the workload's own view, where it reports one (the lab's workload program) --
    #: memory accesses per second the workload achieved
    workload_accesses_per_s: float | None = None
    #: median and 99th percentile of its memory access latency in the period
    workload_latency_p50_seconds: float | None = None
    workload_latency_p99_seconds: float | None = None
    #: seconds since the guest last reported its statistics (None: never or unknown)
    guest_stats_age_s: float | None = None
    # -- the hypervisor's working-set sampling (ESX-style), where the backend does it --
    #: guest pages sampled in the last completed sampling period
    sampled_pages: int | None = None
    #: how many of them the guest touched during that period
    sampled_touched_pages: int | None = None
    #: when that period ended (a new value means a new sample)
    sampled_at_s: float | None = None

    @property
    def effective_limit_bytes(self) -> int:
        """The limit, or the configured size when no limit is set."""
        return self.configured_bytes if self.limit_bytes is None else self.limit_bytes


@dataclass(frozen=True)
class VmTruth:
    """What only the simulator knows about a VM: used to score, never to decide."""

    true_working_set_bytes: int
    stall_seconds_guest_swap: float
    stall_seconds_host_swap: float
    stall_seconds_cache_miss: float
    #: vCPU seconds the balloon driver and the guest reclaim it triggered took
    stall_seconds_balloon: float
    #: accesses the workload asked for in the sample period (nominal work)
    nominal_accesses: float
    #: accesses it managed within its vCPU budget
    achieved_accesses: float
    guest_oom_events: int = 0
    #: memory the guest will need over the next intervals (what the ``oracle`` policy
    #: sizes it to; not recorded in the run file): its kernel, what it reserved at boot,
    #: its reclaim watermark and the largest true working set of the phases that run
    #: in that horizon; None where the simulator does not say
    upcoming_need_bytes: int | None = None

    @property
    def slowdown(self) -> float:
        """Nominal over achieved work (1.0: no slowdown)."""
        return self.nominal_accesses / self.achieved_accesses if self.achieved_accesses else 1.0


@dataclass(frozen=True)
class Observation:
    """Everything observed at one instant."""

    time_s: float
    host: HostSample
    vms: tuple[VmSample, ...]
    #: host free-memory state name (high, soft, hard, low) when the backend knows it
    host_state: str | None = None
    #: per-VM simulator truth, by VM name; empty for real backends
    truth: dict[str, VmTruth] = field(default_factory=dict)
    #: VMs the backend could not observe this time, with the reason
    missing: dict[str, str] = field(default_factory=dict)

    def vm(self, name: str) -> VmSample:
        """The sample of the VM called ``name``.

        :raise KeyError: When no VM of that name was observed.
        """
        for sample in self.vms:
            if sample.name == name:
                return sample
        raise KeyError(name)

    def without_truth(self) -> Observation:
        """The same observation with the simulator's truth removed (what policies get)."""
        return replace(self, truth={}) if self.truth else self


class GuardChange(StrEnum):
    """What the Manager's guard did to a policy's wish for one VM.

    A fixed vocabulary, so a run file, a report and a Prometheus label can say what
    happened without parsing the reason's prose (which stays as it is, for people).
    A target may carry several: a wish can be rescued and then step limited.
    """

    #: a guest about to run out of memory was deflated, whatever the policy wished
    OOM_RESCUE = "oom_rescue"
    #: the target would have taken the guest below its reservation: clamped there
    CLAMPED_RESERVATION = "clamped_reservation"
    #: the target would have left the guest above its limit: held at the limit
    CLAMPED_LIMIT = "clamped_limit"
    #: the change was larger than the step limit: only the step limit was sent
    STEP_LIMITED = "step_limited"
    #: the change was smaller than the dead band: nothing was sent
    DEAD_BAND = "dead_band"
    #: the policy asked for no change (or had no wish): nothing was sent
    LEFT_ALONE = "left_alone"


@dataclass(frozen=True)
class VmTarget:
    """A policy's wish for one VM: the balloon size it should have, and why."""

    #: the balloon size to reach (0 deflates fully); None means leave it as it is
    balloon_bytes: int | None
    reason: str
    #: what the guard changed (empty in a policy's wish: only the Manager's guard sets it)
    guard: tuple[GuardChange, ...] = ()


@dataclass(frozen=True)
class Decision:
    """A policy's decision for one interval: a target per VM it wants to change."""

    targets: dict[str, VmTarget] = field(default_factory=dict)
    #: remarks about the host as a whole ("host available 4% < soft 6%"); the run file
    #: keeps them (``decision_notes``)
    notes: tuple[str, ...] = ()
    #: the policy is in the middle of a run of decisions (squeezed's balancing) and
    #: wants the next one at its ``busy_interval_s`` rather than its usual cadence
    busy: bool = False

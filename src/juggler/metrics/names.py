"""Every metric name juggler records, once.

The same names are the fields of :mod:`juggler.observation`, the columns of the
SQLite store, and (with the ``juggler_`` prefix and a ``vm`` label) the
Prometheus series. The unit is part of every name. Each sampled series is
written once, with its one line of help (the Prometheus HELP text), in a
``*_HELP`` dict; the name tuples are those dicts' keys, in order.
"""

from __future__ import annotations

#: host-wide samples
HOST_METRICS_HELP: dict[str, str] = {
    "host_memory_bytes": "Physical memory the VMs share (the lab: its cgroup limit).",
    "host_available_bytes": "Memory the host could hand out now without reclaiming.",
    "host_swap_used_bytes": "Host swap in use.",
    "host_swap_in_bytes_per_s": "Host swap-in rate over the last sample period.",
    "host_swap_out_bytes_per_s": "Host swap-out rate over the last sample period.",
    "host_psi_some_avg10": "Host memory pressure (PSI some avg10, percent).",
    "host_psi_full_avg10": "Host memory pressure (PSI full avg10, percent).",
}
HOST_METRICS: tuple[str, ...] = tuple(HOST_METRICS_HELP)

#: per-VM samples, guest side (as the balloon driver's statistics report them)
GUEST_METRICS_HELP: dict[str, str] = {
    "guest_total_bytes": "Guest MemTotal: configured less boot-reserved and balloon.",
    "guest_free_bytes": "Free memory inside the guest.",
    "guest_available_bytes": "Available memory inside the guest (free plus reclaimable cache).",
    "guest_cache_bytes": "Page cache inside the guest.",
    "guest_swap_in_bytes_per_s": "The guest's own swap-in rate (its disk I/O).",
    "guest_swap_out_bytes_per_s": "The guest's own swap-out rate (its disk I/O).",
    "guest_major_faults_per_s": "Major page faults per second inside the guest.",
    # the workload's own view, where it reports one (the lab's workload program)
    "workload_accesses_per_s": "Memory accesses per second the lab workload reported.",
    "workload_latency_p50_seconds": "Median memory access latency the lab workload reported.",
    "workload_latency_p99_seconds": "Worst second's p99 access latency the lab workload reported.",
}
GUEST_METRICS: tuple[str, ...] = tuple(GUEST_METRICS_HELP)

#: per-VM samples, hypervisor side
HYPERVISOR_METRICS_HELP: dict[str, str] = {
    "configured_bytes": "Memory the VM is configured with.",
    "balloon_target_bytes": "Memory the balloon is asked to take from the guest.",
    "balloon_actual_bytes": "Memory the balloon actually holds.",
    "resident_bytes": "Guest memory resident in host memory.",
    "host_swapped_bytes": "Guest memory the host has swapped out (invisible to the guest).",
    "vm_host_swap_in_bytes_per_s": "Host swap-in rate of this VM's memory.",
    "vm_host_swap_out_bytes_per_s": "Host swap-out rate of this VM's memory.",
    "reservation_bytes": "Host memory guaranteed to the VM.",
    "working_set_estimate_bytes": "The Manager's working-set estimate (sampled, as ESX does).",
    "vm_disk_read_bytes_per_s": "The guest's disk reads as QEMU counts them (query-blockstats).",
    "vm_disk_write_bytes_per_s": "The guest's disk writes as QEMU counts them (query-blockstats).",
}
HYPERVISOR_METRICS: tuple[str, ...] = tuple(HYPERVISOR_METRICS_HELP)

VM_METRICS: tuple[str, ...] = HYPERVISOR_METRICS + GUEST_METRICS

#: simulator-only ground truth, stored apart from what a real host can observe
TRUTH_METRICS_HELP: dict[str, str] = {
    "true_working_set_bytes": "Simulator only: the workload's true working set.",
    "stall_seconds_guest_swap": "Simulator only: vCPU seconds lost to guest swap in the period.",
    "stall_seconds_host_swap": "Simulator only: vCPU seconds lost to host swap in the period.",
    "stall_seconds_cache_miss": "Simulator only: vCPU seconds lost to page-cache misses.",
    "stall_seconds_balloon": "Simulator only: vCPU seconds the balloon's inflation, its "
    "reclaim and deflation took.",
    "nominal_accesses": "Simulator only: page accesses the workload asked for in the period.",
    "achieved_accesses": "Simulator only: page accesses done within the vCPU budget.",
    "guest_oom_events": "Simulator only: guest OOM kills in the period.",
    "slowdown": "Simulator only: nominal over achieved work (1 = no slowdown).",
}
TRUTH_METRICS: tuple[str, ...] = tuple(TRUTH_METRICS_HELP)

#: one line of help per sampled series, by name (the Prometheus HELP text;
#: docs/metrics.md says more)
METRIC_HELP: dict[str, str] = {
    **HOST_METRICS_HELP,
    **HYPERVISOR_METRICS_HELP,
    **GUEST_METRICS_HELP,
    **TRUTH_METRICS_HELP,
}

#: the host free-memory states, from most to least comfortable
HOST_STATES: tuple[str, ...] = ("high", "soft", "hard", "low")

PROMETHEUS_PREFIX = "juggler_"

#: series only the Prometheus exporter has (``metrics/exporter.py``), without the prefix:
#: the host state as one 1/0 gauge per state, the run's identity and clock, the
#: decisions and the Manager's own health
EXPORTER_METRICS: tuple[str, ...] = (
    "host_state",
    "run_info",
    "backend_time_seconds",
    "decisions_total",
    "manager_errors_total",
    "last_observe_timestamp_seconds",
    "manager_observe_seconds",
    "manager_decide_seconds",
    "manager_apply_seconds",
    "manager_loop_seconds",
    "finding_seconds",
)

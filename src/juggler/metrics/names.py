"""Every metric name juggler records, once.

The same names are the fields of :mod:`juggler.observation`, the columns of the
SQLite store, and (with the ``juggler_`` prefix and a ``vm`` label) the
Prometheus series. The unit is part of every name.
"""

from __future__ import annotations

#: host-wide samples
HOST_METRICS: tuple[str, ...] = (
    "host_memory_bytes",
    "host_available_bytes",
    "host_swap_used_bytes",
    "host_swap_in_bytes_per_s",
    "host_swap_out_bytes_per_s",
    "host_psi_some_avg10",
    "host_psi_full_avg10",
)

#: per-VM samples, guest side (as the balloon driver's statistics report them)
GUEST_METRICS: tuple[str, ...] = (
    "guest_total_bytes",
    "guest_free_bytes",
    "guest_available_bytes",
    "guest_cache_bytes",
    "guest_swap_in_bytes_per_s",
    "guest_swap_out_bytes_per_s",
    "guest_major_faults_per_s",
    # the workload's own view, where it reports one (the lab's workload program)
    "workload_accesses_per_s",
    "workload_latency_p50_seconds",
    "workload_latency_p99_seconds",
)

#: per-VM samples, hypervisor side
HYPERVISOR_METRICS: tuple[str, ...] = (
    "configured_bytes",
    "balloon_target_bytes",
    "balloon_actual_bytes",
    "resident_bytes",
    "host_swapped_bytes",
    "vm_host_swap_in_bytes_per_s",
    "vm_host_swap_out_bytes_per_s",
    "reservation_bytes",
    "working_set_estimate_bytes",
    "vm_disk_read_bytes_per_s",
    "vm_disk_write_bytes_per_s",
)

VM_METRICS: tuple[str, ...] = HYPERVISOR_METRICS + GUEST_METRICS

#: simulator-only ground truth, stored apart from what a real host can observe
TRUTH_METRICS: tuple[str, ...] = (
    "true_working_set_bytes",
    "stall_seconds_guest_swap",
    "stall_seconds_host_swap",
    "stall_seconds_cache_miss",
    "nominal_accesses",
    "achieved_accesses",
    "guest_oom_events",
    "slowdown",
)

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

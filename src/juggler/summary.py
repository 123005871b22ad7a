"""A run's summary, computed from its run file (so it works for any world).

Rates are integrated over the period each sample covers (since the previous
sample). Fields a real host cannot measure (working set truth, slowdown,
stall time by cause) are ``None`` for runs without simulator truth.
"""

from __future__ import annotations

import json
from typing import Any

from juggler.metrics.names import HOST_STATES
from juggler.metrics.store import RunStore

_DT = "time_s - LAG(time_s, 1, time_s) OVER (ORDER BY time_s)"
_VM_DT = "time_s - LAG(time_s, 1, time_s) OVER (PARTITION BY vm ORDER BY time_s)"


def _integral(store: RunStore, table: str, column: str, vm: str | None = None) -> float | None:
    if vm is None:
        sql = f"SELECT SUM(v * dt), COUNT(v) FROM (SELECT {column} AS v, {_DT} AS dt FROM {table})"
        row = store.query(sql)[0]
    else:
        sql = (
            f"SELECT SUM(v * dt), COUNT(v) FROM (SELECT {column} AS v, {_VM_DT} AS dt "
            f"FROM {table} WHERE vm = ?)"
        )
        row = store.query(sql, (vm,))[0]
    return None if not row[1] else float(row[0] or 0.0)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _min_resident(store: RunStore, vm: str, reservation: int) -> tuple[int | None, int]:
    """Lowest resident memory once resident first reached the reservation (or over
    the whole run if it never did), and how many samples fell below the reservation
    after reaching it."""
    first = store.query(
        "SELECT MIN(time_s) FROM vm_samples WHERE vm = ? AND resident_bytes >= ?",
        (vm, reservation),
    )[0][0]
    if reservation <= 0 or first is None:
        low = store.query("SELECT MIN(resident_bytes) FROM vm_samples WHERE vm = ?", (vm,))[0][0]
        return _int(low), 0
    low, below = store.query(
        "SELECT MIN(resident_bytes), SUM(resident_bytes < ?) FROM vm_samples "
        "WHERE vm = ? AND time_s >= ?",
        (reservation, vm, first),
    )[0]
    return _int(low), int(below or 0)


def _workload(store: RunStore, vm: str) -> dict[str, float] | None:
    """What the VM's own workload reported (lab runs): mean accesses per second, mean
    p50 and p99 latency over the samples, and the worst sample's p99; None without
    reports."""
    accesses, p50, p99, worst, count = store.query(
        "SELECT AVG(workload_accesses_per_s), AVG(workload_latency_p50_seconds), "
        "AVG(workload_latency_p99_seconds), MAX(workload_latency_p99_seconds), "
        "COUNT(workload_latency_p99_seconds) FROM vm_samples WHERE vm = ?",
        (vm,),
    )[0]
    if not count:
        return None
    return {
        "accesses_per_s": round(accesses, 1),
        "latency_p50_seconds": p50,
        "latency_p99_seconds": p99,
        "latency_p99_max_seconds": worst,
    }


def summarize(store: RunStore) -> dict[str, Any]:
    """The ``--json`` summary of a run."""
    meta = store.meta()
    has_truth = store.query("SELECT COUNT(*) FROM truth")[0][0] > 0
    first, last = store.query("SELECT MIN(time_s), MAX(time_s) FROM host_samples")[0]
    memory = store.query("SELECT MAX(host_memory_bytes) FROM host_samples")[0][0] or 0
    # a lab's cgroup holds the scaled host plus QEMU's own overhead: over-commitment
    # is against the host the scenario means
    shared = int(meta.get("lab_host_bytes", 0)) or memory
    configured = store.query("SELECT SUM(configured_bytes) FROM vms")[0][0] or 0
    states = dict.fromkeys(HOST_STATES, 0.0)
    for state, seconds in store.query(
        f"SELECT host_state, SUM(dt) FROM (SELECT host_state, {_DT} AS dt FROM host_samples) "
        "GROUP BY host_state"
    ):
        if state in states:
            states[state] = round(float(seconds or 0.0), 3)
    host = {
        "memory_bytes": int(memory),
        "overcommit_ratio": round(configured / shared, 4) if shared else None,
        "min_available_bytes": _int(
            store.query("SELECT MIN(host_available_bytes) FROM host_samples")[0][0]
        ),
        "host_swap_in_bytes": _int(_integral(store, "host_samples", "host_swap_in_bytes_per_s")),
        "host_swap_out_bytes": _int(_integral(store, "host_samples", "host_swap_out_bytes_per_s")),
        "seconds_in_state": states,
    }
    vms = []
    reservation_violations = 0
    for name, conf, reservation in store.query(
        "SELECT name, configured_bytes, reservation_bytes FROM vms ORDER BY rowid"
    ):
        low, below = _min_resident(store, name, reservation or 0)
        reservation_violations += below
        (balloon_max,) = store.query(
            "SELECT MAX(balloon_actual_bytes) FROM vm_samples WHERE vm = ?", (name,)
        )[0]
        final = store.query(
            "SELECT balloon_actual_bytes FROM vm_samples WHERE vm = ? ORDER BY time_s DESC LIMIT 1",
            (name,),
        )
        entry: dict[str, Any] = {
            "name": name,
            "configured_bytes": conf,
            "reservation_bytes": reservation,
            "peak_working_set_bytes": None,
            "balloon_max_bytes": _int(balloon_max),
            "balloon_final_bytes": _int(final[0][0]) if final else None,
            "min_resident_bytes": low,
            "guest_swap_in_bytes": _int(
                _integral(store, "vm_samples", "guest_swap_in_bytes_per_s", name)
            ),
            "guest_swap_out_bytes": _int(
                _integral(store, "vm_samples", "guest_swap_out_bytes_per_s", name)
            ),
            "host_swap_in_bytes": _int(
                _integral(store, "vm_samples", "vm_host_swap_in_bytes_per_s", name)
            ),
            "host_swap_out_bytes": _int(
                _integral(store, "vm_samples", "vm_host_swap_out_bytes_per_s", name)
            ),
            "slowdown": None,
            "stall_seconds": {"guest_swap": None, "host_swap": None, "cache_miss": None},
            "workload": _workload(store, name),
        }
        if has_truth:
            peak, gs, hs, cm, nominal, achieved = store.query(
                "SELECT MAX(true_working_set_bytes), SUM(stall_seconds_guest_swap), "
                "SUM(stall_seconds_host_swap), SUM(stall_seconds_cache_miss), "
                "SUM(nominal_accesses), SUM(achieved_accesses) FROM truth WHERE vm = ?",
                (name,),
            )[0]
            entry["peak_working_set_bytes"] = _int(peak)
            entry["slowdown"] = round(nominal / achieved, 4) if achieved else None
            entry["stall_seconds"] = {
                "guest_swap": round(gs or 0.0, 3),
                "host_swap": round(hs or 0.0, 3),
                "cache_miss": round(cm or 0.0, 3),
            }
        vms.append(entry)
    if has_truth:
        guest_oom = int(store.query("SELECT SUM(guest_oom_events) FROM truth")[0][0] or 0)
    else:
        guest_oom = store.query("SELECT COUNT(*) FROM events WHERE kind = 'guest_oom'")[0][0]
    return {
        "scenario": meta.get("scenario", ""),
        "policy": meta.get("policy", ""),
        "backend": meta.get("backend", ""),
        "duration_s": round((last or 0.0) - (first or 0.0), 3),
        "run": str(store.path),
        "decisions": store.query("SELECT COUNT(*) FROM decisions")[0][0],
        "host": host,
        "vms": vms,
        "violations": {"reservation": reservation_violations, "guest_oom": guest_oom},
    }


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2)

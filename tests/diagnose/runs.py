"""Hand-made run files for diagnose's unit tests: one sample per second."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from juggler.metrics.store import RunStore
from juggler.observation import HostSample, Observation, VmSample, VmTruth
from juggler.units import MIB

HOST = 2048 * MIB


def vm_quiet(name: str, configured: int = 512 * MIB, **over: Any) -> dict[str, Any]:
    """A healthy VM's sample fields (override any)."""
    fields: dict[str, Any] = dict(
        name=name,
        configured_bytes=configured,
        balloon_target_bytes=0,
        balloon_actual_bytes=0,
        resident_bytes=300 * MIB,
        host_swapped_bytes=0,
        vm_host_swap_in_bytes_per_s=0.0,
        vm_host_swap_out_bytes_per_s=0.0,
        guest_total_bytes=configured,
        guest_free_bytes=100 * MIB,
        guest_available_bytes=200 * MIB,
        guest_cache_bytes=100 * MIB,
        guest_swap_in_bytes_per_s=0.0,
        guest_swap_out_bytes_per_s=0.0,
        guest_major_faults_per_s=0.0,
    )
    fields.update(over)
    return fields


def write_run(
    path: Path,
    seconds: int,
    vms: dict[str, Callable[[int], dict[str, Any]]],
    host: Callable[[int], tuple[int, str]] = lambda t: (800 * MIB, "high"),
    truth: Callable[[int, str], VmTruth] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """A run file of ``seconds`` + 1 samples; ``vms[name](t)`` gives a VM's fields,
    ``host(t)`` the host's available memory and state, ``meta`` more run facts."""
    facts = {"scenario": "hand", "policy": "static", "page_size": 4096, **(meta or {})}
    with RunStore.create(path, facts) as st:
        for t in range(seconds + 1):
            available, state = host(t)
            samples = tuple(VmSample(**fn(t)) for fn in vms.values())
            st.record_observation(
                Observation(
                    float(t),
                    HostSample(HOST, available, host_swap_in_bytes_per_s=0.0),
                    samples,
                    host_state=state,
                    truth={name: truth(t, name) for name in vms} if truth else {},
                )
            )
    return path

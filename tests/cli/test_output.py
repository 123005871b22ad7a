"""The summary table the CLI prints for simulate, run and lab run."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from juggler.cli import output
from juggler.summary import (
    HostSummary,
    RunSummary,
    StallSeconds,
    Violations,
    VmSummary,
    WorkloadSummary,
)
from juggler.units import GIB, MIB


def _summary(workload: WorkloadSummary | None, slowdown: float | None) -> RunSummary:
    vm = VmSummary(
        name="A",
        configured_bytes=GIB,
        reservation_bytes=0,
        peak_working_set_bytes=720 * MIB,
        balloon_max_bytes=469 * MIB,
        balloon_final_bytes=311 * MIB,
        min_resident_bytes=40 * MIB,
        guest_swap_in_bytes=0,
        guest_swap_out_bytes=0,
        host_swap_in_bytes=206 * MIB,
        host_swap_out_bytes=226 * MIB,
        slowdown=slowdown,
        stall_seconds=StallSeconds(guest_swap=None, host_swap=None, cache_miss=None, balloon=None),
        workload=workload,
    )
    host = HostSummary(
        memory_bytes=2 * GIB,
        overcommit_ratio=2.0,
        min_available_bytes=42 * MIB,
        host_swap_in_bytes=461 * MIB,
        host_swap_out_bytes=574 * MIB,
        seconds_in_state={"high": 586.0, "soft": 14.0, "low": 0.0},
    )
    return RunSummary(
        scenario="seed",
        policy="juggler",
        backend="sim",
        duration_s=600.0,
        run="runs/seed.sqlite",
        decisions=28,
        host=host,
        vms=(vm,),
        violations=Violations(reservation=0, guest_oom=0),
    )


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "out", Console(file=buffer, width=200))
    return buffer


def test_a_simulated_run_shows_slowdown_and_the_host_states(printed: io.StringIO) -> None:
    output.print_summary(_summary(None, 1.05), "examples/seed.toml")
    text = printed.getvalue()
    assert "seed · policy juggler · 10m (examples/seed.toml)" in text
    assert "1.05x" in text and "206 MiB / 226 MiB" in text
    assert "states: high 9m46s, soft 14s" in text


def test_a_lab_run_shows_the_workloads_p99_as_the_report_does(printed: io.StringIO) -> None:
    workload = WorkloadSummary(
        accesses_per_s=150e3,
        latency_p50_seconds=2e-6,
        latency_p99_seconds=8.714e-6,
        latency_p99_max_seconds=2.03e-3,
    )
    output.print_summary(_summary(workload, None), "lab")
    assert "access p99 mean / worst" in printed.getvalue()
    assert "8.71 µs / 2.03 ms" in printed.getvalue()


def test_json_is_the_summary_itself(printed: io.StringIO) -> None:
    import json

    output.show_summary(_summary(None, 1.05), "x", as_json=True)
    assert json.loads(printed.getvalue())["decisions"] == 28

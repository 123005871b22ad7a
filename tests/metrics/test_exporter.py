"""The Prometheus exporter: gauges from observations, bounded decision reasons, the
Manager's health, the tee, and serving ``/metrics`` over HTTP."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.scrape import Scrape, scrape

from juggler.errors import MetricsAddressError
from juggler.manager import ERROR_KINDS, STAGES, Limits, guard
from juggler.metrics.exporter import (
    REASON_KINDS,
    MetricsExporter,
    exporting,
    parse_metrics_addr,
    reason_kind,
    serve_metrics,
)
from juggler.metrics.names import (
    EXPORTER_METRICS,
    HOST_METRICS,
    HOST_STATES,
    METRIC_HELP,
    TRUTH_METRICS,
    VM_METRICS,
)
from juggler.metrics.tee import TeeRecorder, tee
from juggler.observation import (
    Decision,
    GuardChange,
    HostSample,
    Observation,
    VmSample,
    VmTarget,
    VmTruth,
)
from juggler.units import MIB

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _vm(name: str, **fields: object) -> VmSample:
    base: dict[str, object] = dict(
        name=name,
        configured_bytes=1024 * MIB,
        reservation_bytes=128 * MIB,
        balloon_target_bytes=64 * MIB,
        balloon_actual_bytes=60 * MIB,
        resident_bytes=700 * MIB,
        host_swapped_bytes=0,
        guest_swap_in_bytes_per_s=4096.0,
        working_set_estimate_bytes=None,
    )
    base.update(fields)
    return VmSample(**base)  # type: ignore[arg-type]


def _obs(time_s: float = 10.0, **fields: object) -> Observation:
    base: dict[str, object] = dict(
        time_s=time_s,
        host=HostSample(2048 * MIB, 100 * MIB, host_swap_used_bytes=5 * MIB),
        vms=(_vm("A"), _vm("B", resident_bytes=300 * MIB)),
        host_state="soft",
    )
    base.update(fields)
    return Observation(**base)  # type: ignore[arg-type]


def _scrape(exporter: MetricsExporter) -> Scrape:
    return Scrape(exporter.text())


def test_gauges_carry_the_latest_observation_with_a_vm_label() -> None:
    exporter = MetricsExporter(info={"scenario": "seed", "policy": "juggler", "backend": "sim"})
    exporter.record_observation(_obs(time_s=5.0, vms=(_vm("A", resident_bytes=1),)))
    exporter.record_observation(_obs())
    got = _scrape(exporter)
    assert got.value("juggler_host_available_bytes") == 100 * MIB
    assert got.value("juggler_host_swap_used_bytes") == 5 * MIB
    assert got.value("juggler_backend_time_seconds") == 10.0
    assert got.by_vm("juggler_resident_bytes") == {"A": 700 * MIB, "B": 300 * MIB}
    assert got.by_vm("juggler_reservation_bytes") == {"A": 128 * MIB, "B": 128 * MIB}
    assert got.by_vm("juggler_guest_swap_in_bytes_per_s") == {"A": 4096.0, "B": 4096.0}
    assert got.value("juggler_run_info", scenario="seed", policy="juggler", backend="sim") == 1


def test_what_a_backend_cannot_measure_is_absent_not_zero() -> None:
    exporter = MetricsExporter()
    exporter.record_observation(_obs(host_state=None))
    names = _scrape(exporter).names()
    assert "juggler_host_psi_some_avg10" not in names  # None on the host
    assert "juggler_working_set_estimate_bytes" not in names  # None on every VM
    assert "juggler_host_state" not in names
    assert "juggler_slowdown" not in names  # no truth from a real backend


def test_the_host_state_is_one_gauge_per_state_set_to_1_for_the_current_one() -> None:
    exporter = MetricsExporter()
    exporter.record_observation(_obs(host_state="hard"))
    got = _scrape(exporter)
    assert {state: got.value("juggler_host_state", state=state) for state in HOST_STATES} == {
        "high": 0,
        "soft": 0,
        "hard": 1,
        "low": 0,
    }


def test_simulator_truth_is_exported_per_vm_when_present() -> None:
    exporter = MetricsExporter()
    truth = {"A": VmTruth(400 * MIB, 0.5, 0.25, 0.0, 0.125, 1000.0, 500.0, guest_oom_events=1)}
    exporter.record_observation(_obs(truth=truth))
    got = _scrape(exporter)
    assert got.by_vm("juggler_slowdown") == {"A": 2.0}
    assert got.by_vm("juggler_stall_seconds_host_swap") == {"A": 0.25}
    assert got.by_vm("juggler_stall_seconds_balloon") == {"A": 0.125}
    assert got.by_vm("juggler_true_working_set_bytes") == {"A": 400 * MIB}


def test_a_missing_vm_drops_out_but_keeps_the_time_it_was_last_seen() -> None:
    clock = iter([1000.0, 1005.0])
    exporter = MetricsExporter(clock=lambda: next(clock))
    exporter.record_observation(_obs())
    exporter.record_observation(_obs(time_s=15.0, missing={"B": "QMP socket gone"}))
    got = _scrape(exporter)
    assert got.by_vm("juggler_resident_bytes") == {"A": 700 * MIB}
    assert got.by_vm("juggler_last_observe_timestamp_seconds") == {"A": 1005.0, "B": 1000.0}


@pytest.mark.parametrize(
    ("guard_changes", "balloon", "previous", "kind"),
    [
        ((), 200 * MIB, 100 * MIB, "inflate"),
        ((GuardChange.STEP_LIMITED,), 0, 256 * MIB, "deflate"),
        ((GuardChange.OOM_RESCUE,), 0, 64, "oom_rescue"),
        ((GuardChange.OOM_RESCUE, GuardChange.CLAMPED_RESERVATION), 5, 1, "oom_rescue"),
        ((GuardChange.CLAMPED_RESERVATION, GuardChange.STEP_LIMITED), 5, 1, "reservation"),
        ((GuardChange.CLAMPED_LIMIT,), 512 * MIB, 512 * MIB, "limit"),
        ((), 7, 7, "hold"),
    ],
)
def test_the_reason_label_comes_from_the_guards_kinds_not_the_text(
    guard_changes: tuple[GuardChange, ...], balloon: int, previous: int, kind: str
) -> None:
    assert reason_kind(guard_changes, balloon, previous) == kind


def test_the_label_follows_what_the_guard_did_whatever_the_policy_wrote() -> None:
    """A policy whose reason quotes the guard's words does not fool the label."""
    exporter = MetricsExporter()
    exporter.record_decision(1.0, "A", 2 * MIB, MIB, "not clamped to reservation, nor near OOM")
    exporter.record_decision(2.0, "A", 2 * MIB, MIB, "wish", (GuardChange.CLAMPED_LIMIT,))
    got = _scrape(exporter)
    assert got.value("juggler_decisions_total", vm="A", reason="inflate") == 1
    assert got.value("juggler_decisions_total", vm="A", reason="limit") == 1


def test_the_guard_reports_its_overrides_as_the_kinds_the_label_reads() -> None:
    vm = _vm(
        "v",
        balloon_target_bytes=0,
        balloon_actual_bytes=0,
        guest_total_bytes=1024 * MIB,
        guest_available_bytes=500 * MIB,
    )
    cases = {
        "reservation": (vm, VmTarget(1000 * MIB, "wish")),
        "limit": (dataclasses.replace(vm, limit_bytes=512 * MIB), VmTarget(0, "wish")),
        "oom_rescue": (
            dataclasses.replace(
                vm,
                balloon_target_bytes=600 * MIB,
                balloon_actual_bytes=600 * MIB,
                guest_total_bytes=424 * MIB,
                guest_available_bytes=4 * MIB,
            ),
            VmTarget(700 * MIB, "wish"),
        ),
    }
    for kind, (sample, wish) in cases.items():
        obs = Observation(0.0, HostSample(2048 * MIB, 100 * MIB), (sample,))
        target = guard(Decision({"v": wish}), obs, Limits(max_step_bytes=2**40))["v"]
        previous = sample.balloon_target_bytes or 0
        assert reason_kind(target.guard, target.balloon_bytes or 0, previous) == kind


def test_the_decisions_counter_stays_bounded_whatever_the_reasons_say() -> None:
    exporter = MetricsExporter()
    for i in range(200):
        exporter.record_decision(float(i), "A", i * MIB, 100 * MIB, f"reclaim {i} MiB at {i}%")
    got = _scrape(exporter)
    reasons = {dict(labels)["reason"] for labels in got.samples["juggler_decisions_total"]}
    assert reasons <= set(REASON_KINDS)
    assert got.value("juggler_decisions_total", vm="A", reason="inflate") == 99
    assert got.value("juggler_decisions_total", vm="A", reason="deflate") == 100


def test_errors_are_counted_by_kind_from_zero() -> None:
    exporter = MetricsExporter()
    before = _scrape(exporter)
    assert {k: before.value("juggler_manager_errors_total", kind=k) for k in ERROR_KINDS} == {
        k: 0 for k in ERROR_KINDS
    }
    exporter.record_event(1.0, "B", "vm_missing", "gone")
    exporter.record_event(2.0, "B", "vm_missing", "gone")
    exporter.record_event(2.0, None, "apply", "timeout")
    after = _scrape(exporter)
    assert after.value("juggler_manager_errors_total", kind="vm_missing") == 2
    assert after.value("juggler_manager_errors_total", kind="apply") == 1


def test_stage_timings_go_to_one_histogram_per_stage() -> None:
    exporter = MetricsExporter()
    for stage in STAGES:
        exporter.record_timing(stage, 0.003)
    exporter.record_timing("observe", 0.2)
    exporter.record_timing("not-a-stage", 1.0)  # ignored, not an error
    got = _scrape(exporter)
    assert got.value("juggler_manager_observe_seconds_count") == 2
    assert got.value("juggler_manager_observe_seconds_sum") == pytest.approx(0.203)
    assert got.value("juggler_manager_observe_seconds_bucket", le="0.005") == 1
    assert got.value("juggler_manager_loop_seconds_count") == 1


def test_two_exporters_in_one_process_keep_apart() -> None:
    first, second = MetricsExporter(), MetricsExporter()
    first.record_observation(_obs())
    assert "juggler_resident_bytes" in _scrape(first).names()
    assert "juggler_resident_bytes" not in _scrape(second).names()


class _Store:
    """A recorder without record_timing, as the run file is."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def record_observation(self, obs: Observation) -> None:
        self.calls.append("observation")

    def record_decision(self, *args: object) -> None:
        self.calls.append("decision")

    def record_event(self, *args: object) -> None:
        self.calls.append("event")


def test_the_tee_records_everywhere_and_timings_only_where_wanted() -> None:
    store, exporter = _Store(), MetricsExporter()
    both = TeeRecorder(store, exporter)
    both.record_observation(_obs())
    both.record_decision(1.0, "A", 2 * MIB, MIB, "more")
    both.record_event(1.0, None, "policy", "boom")
    both.record_timing("decide", 0.01)
    assert store.calls == ["observation", "decision", "event"]
    got = _scrape(exporter)
    assert got.value("juggler_decisions_total", vm="A", reason="inflate") == 1
    assert got.value("juggler_manager_errors_total", kind="policy") == 1
    assert got.value("juggler_manager_decide_seconds_count") == 1
    assert tee(store, None) is store


def test_every_series_has_help_and_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for name in HOST_METRICS + VM_METRICS + TRUTH_METRICS:
        assert METRIC_HELP.get(name), f"{name}: add a help line to metrics/names.py"
    for name in HOST_METRICS + VM_METRICS + TRUTH_METRICS + EXPORTER_METRICS:
        assert f"`juggler_{name}" in docs, f"juggler_{name} is not in docs/metrics.md"


def test_the_help_text_served_is_the_one_beside_the_name_in_names_py() -> None:
    exporter = MetricsExporter()
    exporter.record_observation(_obs())
    text = exporter.text()
    for name in ("host_memory_bytes", "host_available_bytes", "resident_bytes"):
        assert f"# HELP juggler_{name} {METRIC_HELP[name]}\n" in text


# ------------------------------------------------------------------ serving


def test_serve_metrics_answers_over_http_and_stops() -> None:
    exporter = MetricsExporter()
    exporter.record_observation(_obs())
    with serve_metrics("127.0.0.1:0", exporter.registry) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
        assert scrape(server.url).by_vm("juggler_resident_bytes") == {
            "A": 700 * MIB,
            "B": 300 * MIB,
        }
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)


def test_exporting_serves_while_the_block_runs() -> None:
    with exporting("127.0.0.1:0", info={"backend": "qemu"}) as exporter:
        assert exporter.server is not None
        url = exporter.server.url
        exporter.record_observation(_obs())
        assert scrape(url).value("juggler_run_info", backend="qemu") == 1
    assert exporter.server is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_busy_port_names_the_option_the_port_and_the_way_out() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = (
            rf"--metrics-addr '127\.0\.0\.1:{port}': port {port} is already in use "
            r"on 127\.0\.0\.1; pick another \(port 0 picks a free one\)"
        )
        with pytest.raises(MetricsAddressError, match=expected):
            serve_metrics(f"127.0.0.1:{port}", MetricsExporter().registry)


@pytest.mark.parametrize(
    ("addr", "problem"),
    [
        ("9177", "expected HOST:PORT"),
        ("127.0.0.1:", "expected HOST:PORT"),
        ("127.0.0.1:http", "port 'http' must be a number from 0 to 65535"),
        ("127.0.0.1:70000", "port '70000' must be a number from 0 to 65535"),
        ("::1:9177", r"write an IPv6 address in brackets, such as \[::1\]:9177"),
    ],
)
def test_a_malformed_address_says_what_form_it_takes(addr: str, problem: str) -> None:
    with pytest.raises(MetricsAddressError, match=rf"--metrics-addr '{addr}': {problem}"):
        parse_metrics_addr(addr)


def test_address_forms() -> None:
    assert parse_metrics_addr("127.0.0.1:9177") == ("127.0.0.1", 9177)
    assert parse_metrics_addr("[::1]:0") == ("::1", 0)
    assert parse_metrics_addr(":9177") == ("0.0.0.0", 9177)


def test_an_address_not_on_this_machine_is_a_clear_error() -> None:
    expected = r"192\.0\.2\.1 is not an address of this machine"
    with pytest.raises(MetricsAddressError, match=expected):
        serve_metrics("192.0.2.1:0", MetricsExporter().registry)

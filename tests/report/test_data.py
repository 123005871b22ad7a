"""Loading a run for the report: layers of configured memory, truth, guest swap estimate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from juggler.diagnose.data import VmSeries
from juggler.metrics.names import VM_METRICS
from juggler.metrics.store import RunStore
from juggler.report import charts
from juggler.report.data import LAYERS, guest_swapped_estimate, load_report_data, memory_layers
from juggler.report.svg import TimeAxis
from juggler.units import MIB


def _vm(t: list[float], configured: int = 1024 * MIB, **cols: list[float]) -> VmSeries:
    n = len(t)
    arrays = {m: np.full(n, np.nan) for m in VM_METRICS}
    arrays.update({k: np.array(v, dtype=float) for k, v in cols.items()})
    return VmSeries("X", configured, 0, None, True, np.array(t, dtype=float), arrays)


def test_the_seed_runs_layers_add_up_to_each_vms_configured_memory(
    seed_run: tuple[Path, Path],
) -> None:
    with RunStore.open(seed_run[0]) as store:
        data = load_report_data(store)
    assert list(data.run.vms) == ["A", "B", "C", "D"]
    assert data.backend == "sim" and data.has_truth
    assert (data.t0, data.t1) == (0.0, 600.0)
    ballooned = 0
    for vm in data.run.vms.values():
        layers = memory_layers(vm)
        assert list(layers) == [key for key, _ in LAYERS]
        total = sum(layers.values())
        assert np.allclose(total, vm.col("configured_bytes")), vm.name
        assert all(np.all(layer >= 0) for layer in layers.values())
        ballooned += int(np.any(layers["balloon"] > 0))
        truth = data.truth[vm.name]
        assert len(truth.t) == len(vm.t) and np.all(truth.cols["slowdown"] >= 1.0)
    assert ballooned >= 3  # the seed story balloons B, C and D for A
    assert any(f.cause != "none" for f in data.findings)
    assert data.summary.decisions == len(data.run.decisions) > 0


def test_a_stack_above_configured_memory_is_shown_not_hidden() -> None:
    # (a real VM whose resident and swapped memory overlap in one sample, e.g. a
    # VmRSS fallback that counts QEMU's own memory): the excess is drawn, not clipped
    vm = _vm(
        [0, 1],
        configured=256 * MIB,
        configured_bytes=[256 * MIB] * 2,
        resident_bytes=[300 * MIB, 200 * MIB],
        host_swapped_bytes=[0, 0],
        balloon_actual_bytes=[0, 16 * MIB],
    )
    layers = memory_layers(vm)
    assert list(layers["other"]) == [0, 40 * MIB]
    assert sum(layers.values())[0] == 300 * MIB


def test_guest_swap_in_use_is_estimated_from_the_rates_and_never_negative() -> None:
    vm = _vm(
        [0, 1, 2, 3, 4],
        guest_swap_out_bytes_per_s=[0, 10 * MIB, 0, 0, 0],
        guest_swap_in_bytes_per_s=[0, 0, 4 * MIB, 20 * MIB, 0],
    )
    used = guest_swapped_estimate(vm)
    assert used is not None
    assert list(used / MIB) == [0, 10, 6, 0, 0]


def test_no_guest_swap_traffic_means_no_estimate() -> None:
    assert guest_swapped_estimate(_vm([0, 1])) is None
    assert (
        guest_swapped_estimate(
            _vm([0, 1], guest_swap_in_bytes_per_s=[0, 0], guest_swap_out_bytes_per_s=[0, 0])
        )
        is None
    )


def test_an_idle_workloads_zero_latency_is_a_gap_not_a_point() -> None:
    """The workload reports 0 latency when it timed no access; a log axis cannot draw
    0 and 0 is not a latency, so the chart leaves a gap (and draws no chart when all is)."""
    vm = _vm(
        [0.0, 2.0, 4.0],
        workload_accesses_per_s=[0.0, 20000.0, 0.0],
        workload_latency_p50_seconds=[0.0, 1e-6, 0.0],
        workload_latency_p99_seconds=[0.0, 2e-4, 0.0],
    )
    latencies = charts.workload_latencies(vm)
    assert np.isnan(latencies["p99"][[0, 2]]).all() and latencies["p99"][1] == 2e-4
    assert charts.has_workload(vm)
    idle = _vm(
        [0.0, 2.0],
        workload_accesses_per_s=[0.0, 0.0],
        workload_latency_p50_seconds=[0.0, 0.0],
        workload_latency_p99_seconds=[0.0, 0.0],
    )
    assert charts.vm_latency_chart(None, idle, TimeAxis(0, 2)) is None  # type: ignore[arg-type]
    assert not charts.has_workload(_vm([0.0, 2.0]))  # a simulated run: all NULL


def test_latency_and_count_ticks_read_in_their_units() -> None:
    assert [charts.format_latency(10.0**e) for e in (-7, -6, -4, -3, 0)] == [
        "100 ns",
        "1 µs",
        "100 µs",
        "1 ms",
        "1 s",
    ]
    assert [charts.format_count_rate(v) for v in (0, 500, 20000, 1.5e6)] == [
        "0/s",
        "500/s",
        "20k/s",
        "1.5M/s",
    ]


def test_disk_io_is_drawn_only_where_the_backend_measured_it() -> None:
    simulated = _vm([0.0, 1.0])
    lab = _vm(
        [0.0, 1.0], vm_disk_read_bytes_per_s=[0.0, 4096.0], vm_disk_write_bytes_per_s=[0.0, 0.0]
    )
    assert [c for c, _, _ in charts.io_series(simulated)] == [
        c for c, _, _ in charts.IO_SERIES if not c.startswith("vm_disk_")
    ]
    assert [c for c, _, _ in charts.io_series(lab)] == [c for c, _, _ in charts.IO_SERIES]

"""The charts of one run's report, each an SVG string on the run's shared time axis.

Every function takes the loaded :class:`~juggler.report.data.ReportData` and the
:class:`~juggler.report.svg.TimeAxis`, so all charts of a report line up.
Downsampling (see :mod:`~juggler.report.downsample`): memory layers and
working sets are bucket means; rates, slowdown, latency and available memory draw
the bucket min–max envelope with the mean through it (latency's of its logarithm).
"""

from __future__ import annotations

import math

import numpy as np

from juggler.diagnose import Finding
from juggler.diagnose.data import VmSeries
from juggler.metrics.names import HOST_STATES
from juggler.metrics.store import DecisionRow
from juggler.render import format_latency, format_rate
from juggler.report.data import LAYERS, ReportData, guest_swapped_estimate, memory_layers
from juggler.report.downsample import Buckets
from juggler.report.svg import Chart, TimeAxis, nice_step
from juggler.units import MIB, format_duration, format_size

MEMORY_HEIGHT = 220
SMALL_HEIGHT = 130


def _peak(*arrays: np.ndarray | None) -> float:
    values = [np.nanmax(a) for a in arrays if a is not None and len(a) and np.any(np.isfinite(a))]
    return float(max(values)) if values else 0.0


def _draw(chart: Chart, buckets: Buckets, v: np.ndarray, cls: str, title: str) -> None:
    """A measured series: its min–max envelope when downsampled, its mean as a line."""
    if np.all(np.isnan(v)):
        return
    if buckets.reduced:
        chart.envelope(
            buckets.t, buckets.min(v), buckets.max(v), f"env {cls}", f"{title} (min–max per bucket)"
        )
    chart.line(buckets.t, buckets.mean(v), cls, title)


def _findings_of(data: ReportData, vm: str) -> list[tuple[int, Finding]]:
    return [
        (index, f)
        for index, f in enumerate(data.findings, start=1)
        if f.vm == vm and f.cause != "none"
    ]


def _windows(chart: Chart, data: ReportData, vm: str, anchor: bool) -> None:
    """Shade the diagnose findings' windows; each links to its finding, and on the
    memory chart is the target the findings table links to."""
    for index, finding in _findings_of(data, vm):
        chart.span(
            finding.start_s,
            finding.end_s,
            f"finding cause-{finding.cause}",
            f"finding #{index}: {finding.cause} {finding.start_s:g}–{finding.end_s:g} s — "
            f"{finding.recommendation}",
            href=f"#finding-{index}",
            ident=f"win-{index}" if anchor else None,
            label=f"#{index}" if anchor else None,
        )


# ------------------------------------------------------------------ host


def host_memory_chart(data: ReportData, axis: TimeAxis) -> str:
    """Host available memory over the free-memory state bands (the worst state per bucket)."""
    host = data.run.host
    memory = _peak(host.col("host_memory_bytes"))
    available = host.col("host_available_bytes")
    chart = Chart(
        axis,
        MEMORY_HEIGHT,
        max(memory, _peak(available)) * 1.02,
        "host available memory and free-memory state",
    )
    buckets = Buckets(host.t)
    states = buckets.worst(host.state, HOST_STATES)
    t = buckets.t
    # a state holds from its bucket to the next one
    start = 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            begin = float(t[start]) if start else axis.t0
            end = float(t[i]) if i < len(states) else axis.t1
            if states[start] in HOST_STATES:  # a run that recorded no state draws no band
                chart.span(
                    begin,
                    end,
                    f"state state-{states[start]}",
                    f"host state {states[start]}: {format_duration(round(begin, 1))}–"
                    f"{format_duration(round(end, 1))}",
                )
            start = i
    if memory:
        chart.hmark(memory, "mark-configured", f"host memory {format_size(memory)}")
    _draw(chart, buckets, available, "s-available", "host available memory")
    return chart.render()


def host_swap_chart(data: ReportData, axis: TimeAxis) -> str:
    """Host swap-in and swap-out rates."""
    host = data.run.host
    swap_in, swap_out = host.col("host_swap_in_bytes_per_s"), host.col("host_swap_out_bytes_per_s")
    chart = Chart(
        axis,
        SMALL_HEIGHT,
        _peak(swap_in, swap_out) * 1.05 or MIB,
        "host swap in/out",
        fmt=format_rate,
    )
    buckets = Buckets(host.t)
    _draw(chart, buckets, swap_out, "s-swap-out", "host swap-out")
    _draw(chart, buckets, swap_in, "s-swap-in", "host swap-in")
    return chart.render()


# ------------------------------------------------------------------ per VM


def vm_memory_chart(data: ReportData, vm: VmSeries, axis: TimeAxis) -> str:
    """Where the VM's configured memory is (stacked), its working sets as lines over it,
    the balloon target as a step line, reservation, limit and configured as marks."""
    layers = memory_layers(vm)
    guest_swapped = guest_swapped_estimate(vm)
    truth = data.truth.get(vm.name)
    true_ws = truth.cols["true_working_set_bytes"] if truth is not None else None
    top = layers["resident"] + layers["host_swapped"] + layers["balloon"] + layers["other"]
    if guest_swapped is not None:
        top = top + guest_swapped
    ws = vm.col("working_set_estimate_bytes")
    y_max = max(_peak(top, ws, true_ws), float(vm.configured_bytes), float(vm.limit_bytes or 0))
    chart = Chart(axis, MEMORY_HEIGHT, y_max * 1.04, f"VM {vm.name}: where its memory is")
    buckets = Buckets(vm.t)
    stack = [(f"l-{key}", label, buckets.mean(layers[key])) for key, label in LAYERS]
    if guest_swapped is not None:
        stack.append(
            (
                "l-guest_swapped",
                "swapped out by the guest (estimate: swap-out − swap-in integrated; "
                "on the guest's swap disk, beyond its configured memory)",
                buckets.mean(guest_swapped),
            )
        )
    chart.stack(buckets.t, stack)
    _windows(chart, data, vm.name, anchor=True)
    chart.hmark(
        vm.configured_bytes, "mark-configured", f"configured {format_size(vm.configured_bytes)}"
    )
    if vm.limit_bytes is not None:
        chart.hmark(vm.limit_bytes, "mark-limit", f"limit {format_size(vm.limit_bytes)}")
    chart.hmark(
        vm.reservation_bytes, "mark-reservation", f"reservation {format_size(vm.reservation_bytes)}"
    )
    target = vm.col("balloon_target_bytes")
    if vm.balloon_present and np.any(np.nan_to_num(target)):
        configured = vm.col("configured_bytes")
        configured = np.where(np.isnan(configured), float(vm.configured_bytes), configured)
        chart.line(
            buckets.t,
            buckets.mean(configured - np.nan_to_num(target)),
            "s-target",
            "balloon target (drawn down from the configured memory)",
            step=True,
        )
    chart.line(buckets.t, buckets.mean(ws), "s-ws-estimate", "working set, the manager's estimate")
    if truth is not None and true_ws is not None:
        tb = Buckets(truth.t)
        chart.line(tb.t, tb.mean(true_ws), "s-ws-true", "true working set (simulator)")
    return chart.render()


def vm_wait_chart(data: ReportData, vm: VmSeries, axis: TimeAxis) -> tuple[str, str]:
    """How much the VM waited: slowdown for simulated runs; the guest's major faults per
    second for a run that has neither truth nor a workload's own reports (older lab files).
    A lab run with workload reports draws :func:`vm_latency_chart` and
    :func:`vm_accesses_chart` instead.

    :return: the SVG and a caption saying which it is.
    """
    truth = data.truth.get(vm.name)
    if truth is not None:
        slowdown = truth.cols["slowdown"]
        peak = _peak(slowdown)
        chart = Chart(
            axis,
            SMALL_HEIGHT,
            max(peak * 1.02, 1.1),
            f"VM {vm.name}: slowdown",
            fmt=lambda v: f"{v:.3g}×",
            y_min=1.0,
            step=nice_step,
        )
        _windows(chart, data, vm.name, anchor=False)
        _draw(chart, Buckets(truth.t), slowdown, "s-slowdown", "slowdown (nominal / achieved work)")
        return chart.render(), "slowdown: nominal over achieved work in each period (simulator)"
    faults = vm.col("guest_major_faults_per_s")
    chart = Chart(
        axis,
        SMALL_HEIGHT,
        _peak(faults) * 1.05,
        f"VM {vm.name}: guest major faults",
        fmt=lambda v: f"{v:.3g}/s",
        step=nice_step,
    )
    _windows(chart, data, vm.name, anchor=False)
    _draw(chart, Buckets(vm.t), faults, "s-faults", "guest major faults per second")
    return chart.render(), (
        "guest major faults per second. This run file records no latency (it predates the "
        "workload's reports in the run file), and slowdown is known only to the simulator"
    )


def has_workload(vm: VmSeries) -> bool:
    """Whether the VM's own workload reported anything (lab runs since the ``workload_*``
    columns); simulated runs and older lab files leave them NULL."""
    return bool(np.any(np.isfinite(vm.col("workload_accesses_per_s"))))


def workload_latencies(vm: VmSeries) -> dict[str, np.ndarray]:
    """p50 and p99 latency in seconds, NaN where the workload made no access.

    An idle workload reports 0 for both (it timed nothing); 0 is no latency, and a
    log axis cannot draw it, so it becomes a gap rather than a point.
    """
    out = {}
    for key in ("p50", "p99"):
        values = vm.col(f"workload_latency_{key}_seconds")
        out[key] = np.where(values > 0, values, np.nan)
    return out


def vm_latency_chart(data: ReportData, vm: VmSeries, axis: TimeAxis) -> str | None:
    """The workload's own access latency, p50 and p99, on a log axis (a page in RAM is
    touched in about a microsecond, one read back from swap in a millisecond or more, so
    the interesting change is orders of magnitude). ``None`` when it timed no access."""
    latencies = workload_latencies(vm)
    known = np.concatenate([v[np.isfinite(v)] for v in latencies.values()])
    if not len(known):
        return None
    lo = math.floor(math.log10(float(known.min())))
    hi = max(math.ceil(math.log10(float(known.max()))), lo + 1)
    chart = Chart(
        axis,
        SMALL_HEIGHT,
        float(hi),
        f"VM {vm.name}: workload latency (log scale)",
        fmt=lambda v: format_latency(10**v),
        y_min=float(lo),
        step=lambda span: 1.0 if span <= 6 else float(math.ceil(span / 6)),
    )
    _windows(chart, data, vm.name, anchor=False)
    buckets = Buckets(vm.t)
    _draw(
        chart,
        buckets,
        np.log10(latencies["p99"]),
        "s-p99",
        "p99 latency (the worst second of the period)",
    )
    _draw(chart, buckets, np.log10(latencies["p50"]), "s-p50", "p50 latency (median)")
    return chart.render()


def format_count_rate(value: float) -> str:
    """``500/s``, ``20k/s``, ``1.5M/s``: a per-second count tick."""
    for suffix, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}/s"
    return f"{value:.3g}/s"


def vm_accesses_chart(data: ReportData, vm: VmSeries, axis: TimeAxis) -> str:
    """The workload's accesses per second (the work it got done) with the guest's major
    faults per second (the accesses that waited on a disk) on the same count axis."""
    accesses = vm.col("workload_accesses_per_s")
    faults = vm.col("guest_major_faults_per_s")
    chart = Chart(
        axis,
        SMALL_HEIGHT,
        _peak(accesses, faults) * 1.05,
        f"VM {vm.name}: workload accesses and guest major faults",
        fmt=format_count_rate,
        step=nice_step,
    )
    _windows(chart, data, vm.name, anchor=False)
    buckets = Buckets(vm.t)
    _draw(chart, buckets, accesses, "s-accesses", "workload accesses per second")
    _draw(chart, buckets, faults, "s-faults", "guest major faults per second")
    return chart.render()


#: the VM's I/O series: (column, css class, title); the disk's only where measured
IO_SERIES: tuple[tuple[str, str, str], ...] = (
    ("guest_swap_in_bytes_per_s", "s-guest-in", "guest swap-in"),
    ("guest_swap_out_bytes_per_s", "s-guest-out", "guest swap-out"),
    ("vm_host_swap_in_bytes_per_s", "s-host-in", "host swap-in of its pages"),
    ("vm_host_swap_out_bytes_per_s", "s-host-out", "host swap-out of its pages"),
    ("vm_disk_read_bytes_per_s", "s-disk-read", "disk read (QEMU blockstats)"),
    ("vm_disk_write_bytes_per_s", "s-disk-write", "disk write (QEMU blockstats)"),
)


def io_series(vm: VmSeries) -> list[tuple[str, str, str]]:
    """The :data:`IO_SERIES` this VM has: the swap rates always (the legend names them
    even when flat), the disk's only when the backend measured it (lab runs)."""
    return [
        item
        for item in IO_SERIES
        if not item[0].startswith("vm_disk_") or np.any(np.isfinite(vm.col(item[0])))
    ]


def vm_io_chart(data: ReportData, vm: VmSeries, axis: TimeAxis) -> str:
    """Guest swap in/out, the host's swap in/out of this VM's pages and, where measured,
    the guest's disk reads and writes (which include its swap disk's)."""
    series = io_series(vm)
    peak = _peak(*(vm.col(col) for col, _, _ in series))
    what = "swap and disk I/O" if len(series) > 4 else "swap I/O"
    chart = Chart(axis, SMALL_HEIGHT, peak * 1.05 or MIB, f"VM {vm.name}: {what}", fmt=format_rate)
    _windows(chart, data, vm.name, anchor=False)
    buckets = Buckets(vm.t)
    for col, cls, title in series:
        _draw(chart, buckets, vm.col(col), cls, title)
    return chart.render()


# ------------------------------------------------------------------ decisions


def decisions_chart(data: ReportData, axis: TimeAxis, max_marks: int = 600) -> str:
    """One row per VM, a mark per balloon target sent (up: inflate, down: deflate) with
    its reason on hover; decisions closer than a bucket share one mark."""
    names = list(data.run.vms)
    height = 24 + 26 * max(len(names), 1)
    chart = Chart(
        axis,
        height,
        len(names) + 0.5,
        "the manager's decisions",
        fmt=lambda v: "",
        y_min=0.5,
        step=lambda span: 1.0,
    )
    width = (axis.t1 - axis.t0) / max_marks
    for row, name in enumerate(names):
        y = len(names) - row
        chart.text(4, float(chart.y(y)) + 4, f"VM {name}", "rowlabel")
        groups: dict[int, list[DecisionRow]] = {}
        for decision in data.run.decisions:
            if decision.vm == name:
                bucket = int((decision.time_s - axis.t0) // max(width, 1e-9))
                groups.setdefault(bucket, []).append(decision)
        for kind, inflates in (("inflate", True), ("deflate", False)):
            times, titles = [], []
            for items in groups.values():
                chosen = [d for d in items if d.inflates == inflates]
                if chosen:
                    times.append(chosen[-1].time_s)
                    titles.append(_decision_title(chosen))
            chart.marks(times, y, f"dec dec-{kind}", titles)
    return chart.render()


def _decision_title(items: list[DecisionRow]) -> str:
    lines = [
        f"{d.time_s:g} s {d.vm}: balloon {format_size(d.previous_target_bytes)} → "
        f"{format_size(d.balloon_target_bytes)}: {d.reason}"
        for d in items[:3]
    ]
    if len(items) > 3:
        lines.append(f"… and {len(items) - 3} more in this bucket")
    return "\n".join(lines)

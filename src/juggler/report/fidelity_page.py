"""``juggler fidelity --report``: the lab's and the simulator's trajectories overlaid.

Per policy and VM, one chart on one time axis (seconds since each run's start, the
same for every chart of the page): resident memory, the balloon's size and what the
host swapped out of the VM, the lab's as solid lines, the simulator's dashed in the
same colour, so where the two worlds part is where the simulator's model is wrong.
The host's chart draws the VMs' resident memory summed. Above the charts, the
fidelity table itself (:class:`~juggler.fidelity.FidelityTable`), misses marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from juggler.fidelity import HOST, FidelityRow, FidelityTable
from juggler.metrics.store import RunStore
from juggler.report.downsample import Buckets
from juggler.report.page import html_page
from juggler.report.svg import Chart, TimeAxis
from juggler.units import format_size

#: what each VM's chart overlays: (column, css class, label)
SERIES: tuple[tuple[str, str, str], ...] = (
    ("resident_bytes", "f-resident", "resident in host RAM"),
    ("balloon_actual_bytes", "f-balloon", "balloon"),
    ("host_swapped_bytes", "f-swapped", "swapped out by the host"),
)
HEIGHT = 200


@dataclass
class _World:
    """One run file's series: per VM (and ``host``) the sample times and columns."""

    configured: dict[str, float]
    series: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]


def _load(path: str | None) -> _World | None:
    if path is None:
        return None
    with RunStore.open(path) as store:
        configured = {vm.name: float(vm.configured_bytes or 0) for vm in store.vms()}
        series = {}
        by_time: dict[float, float] = {}
        for vm in configured:
            samples = store.vm_samples(vm)
            columns = {column: samples.columns[column] for column, _, _ in SERIES}
            series[vm] = (samples.time_s, columns)
            for t, value in zip(samples.time_s, columns["resident_bytes"], strict=True):
                if np.isfinite(value):
                    by_time[float(t)] = by_time.get(float(t), 0.0) + float(value)
        times = np.array(sorted(by_time))
        series[HOST] = (times, {"resident_bytes": np.array([by_time[t] for t in times])})
    return _World(configured, series)


def _chart(axis: TimeAxis, title: str, worlds: dict[str, _World | None], vm: str) -> str:
    peak = 0.0
    for world in worlds.values():
        if world is None or vm not in world.series:
            continue
        peak = max(
            peak, world.configured.get(vm, 0.0), sum(world.configured.values()) * (vm == HOST)
        )
        for values in world.series[vm][1].values():
            if np.any(np.isfinite(values)):
                peak = max(peak, float(np.nanmax(values)))
    chart = Chart(axis, HEIGHT, peak * 1.04, title)
    for name, world in worlds.items():
        if world is None or vm not in world.series:
            continue
        t, columns = world.series[vm]
        buckets = Buckets(t)
        for column, cls, label in SERIES:
            if column in columns and np.any(np.isfinite(columns[column])):
                chart.line(
                    buckets.t, buckets.mean(columns[column]), f"{cls} f-{name}", f"{name}: {label}"
                )
    return chart.render()


def _legend() -> str:
    items = []
    for _, cls, label in SERIES:
        for world in ("lab", "sim"):
            swatch = f'<span class="sw line {cls} f-{world}"></span>'
            items.append(f"<span>{swatch}{escape(label)} ({world})</span>")
    return f'<div class="legend">{"".join(items)}</div>'


def _cell(row: FidelityRow, value: float | None) -> str:
    if value is None:
        return "-"
    if row.metric.endswith("_bytes"):
        return format_size(round(value))
    if row.metric == "throughput_vs_static":
        return f"{value:.3f}×"
    return f"{value:g}"


def _table(table: FidelityTable, policy: str) -> str:
    rows = []
    for row in table.rows:
        if row.policy != policy:
            continue
        meets = row.meets_goal()
        goal = "" if meets is None else ("ok" if meets else "miss")
        cls = {"ok": "best", "miss": "bad"}.get(goal, "")
        error = "-" if row.relative_error is None else f"{row.relative_error:+.1%}"
        rows.append(
            f"<tr><td class=l>{escape(row.vm)}</td><td class=l>{escape(row.metric)}</td>"
            f"<td>{_cell(row, row.lab)}</td><td>{_cell(row, row.sim)}</td><td>{error}</td>"
            f'<td class="{cls}">{goal}</td></tr>'
        )
    return (
        '<table class="fidelity-table"><tr><th class=l>VM</th><th class=l>metric</th>'
        f"<th>lab</th><th>sim</th><th>error</th><th>goal</th></tr>{''.join(rows)}</table>"
    )


def fidelity_report_html(table: FidelityTable) -> str:
    """The page for a fidelity table, its charts read from the table's run files.

    :raise StoreError: When one of the run files cannot be read.
    """
    loaded = {
        policy: {world: _load(table.runs[policy][world]) for world in ("lab", "sim")}
        for policy in table.policies
    }
    ends = [
        float(series[0][-1])
        for worlds in loaded.values()
        for world in worlds.values()
        if world is not None
        for series in world.series.values()
        if len(series[0])
    ]
    axis = TimeAxis(0.0, max(ends, default=1.0))
    sections = []
    for policy, worlds in loaded.items():
        names = list(
            dict.fromkeys(vm for w in worlds.values() if w is not None for vm in w.configured)
        )
        charts = "".join(
            f"<h3>VM {escape(vm)}</h3>{_chart(axis, f'VM {vm} under {policy}', worlds, vm)}"
            for vm in names
        )
        host = _chart(axis, f"all VMs' resident memory under {policy}", worlds, HOST)
        runs = table.runs[policy]
        sections.append(
            f'<section id="policy-{escape(policy)}"><h2>policy {escape(policy)}</h2>'
            f'<p class="meta">lab run <code>{escape(runs["lab"] or "none")}</code> · simulated '
            f"run <code>{escape(runs['sim'] or 'none')}</code></p>{_table(table, policy)}"
            f"{_legend()}{charts}<h3>host: the VMs' resident memory summed</h3>{host}</section>"
        )
    nav = "".join(f'<a href="#policy-{escape(p)}">{escape(p)}</a>' for p in table.policies)
    body = (
        f"<h1>juggler fidelity: {escape(table.scenario)} at scale {table.scale:g}</h1>"
        '<p class="meta">The lab (real QEMU guests) as solid lines, the simulator (the '
        "scenario matched to the lab's sizes, tcg profile) dashed; seconds since each run's "
        "start. error = (sim − lab) / lab; goal: a total within 25% of the lab or within "
        "32 MiB, a throughput on the same side of 1 as the lab's (within 2%: no change).</p>"
        f"<nav>{nav}</nav>{''.join(sections)}"
    )
    return html_page(f"juggler fidelity: {table.scenario}", body)

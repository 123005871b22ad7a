"""One run's report as a self-contained HTML page.

Sections, top to bottom: the summary (``juggler simulate``'s table), the
diagnose findings (each linked to its shaded window in the VM's charts), the
host, the manager's decisions, then one section per VM whose three charts
(memory, waiting, swap I/O) share the time axis with every other chart, and
the decisions and events as tables. Everything is inline: the page makes no
request.
"""

from __future__ import annotations

from html import escape

from juggler import __version__
from juggler.diagnose.data import VmSeries
from juggler.diagnose.report import _WHAT as CAUSE_TEXT  # the words `diagnose` prints
from juggler.metrics.names import HOST_STATES
from juggler.render import format_host_states, format_reported_latency, slowdown_level
from juggler.report import charts
from juggler.report.data import LAYERS, ReportData
from juggler.report.downsample import MAX_POINTS
from juggler.report.style import CSS, SCRIPT
from juggler.report.svg import TimeAxis
from juggler.summary import RunSummary
from juggler.units import format_duration, format_size

#: the decisions table lists at most this many (the timeline shows them all)
MAX_DECISION_ROWS = 2000


def _legend(items: list[tuple[str, str, bool]]) -> str:
    """``(css class, label, is_line)`` swatches under a chart."""
    out = []
    for cls, label, is_line in items:
        kind = "sw line" if is_line else "sw"
        out.append(f'<span><span class="{kind} {cls}"></span>{escape(label)}</span>')
    return f'<div class="legend">{"".join(out)}</div>'


def html_page(title: str, body: str) -> str:
    """The page around ``body``: inline CSS and script, no external resource."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<div id="readout" hidden></div>{body}'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _summary(summary: RunSummary) -> str:
    """The summary table; a lab run's last column is its workload's p99 latency (mean over
    the run / worst interval) where a simulated run's is slowdown."""
    workload = any(vm.workload for vm in summary.vms)
    last_head = "access p99 mean / worst" if workload else "slowdown"
    head = (
        "<tr><th class=l>VM</th><th>configured</th><th>reservation</th><th>peak WS</th>"
        "<th>peak balloon</th><th>final balloon</th><th>min resident</th>"
        f"<th>guest swap in / out</th><th>host swap in / out</th><th>{last_head}</th></tr>"
    )
    rows = []
    for vm in summary.vms:
        slowdown = vm.slowdown
        cls = slowdown_level(slowdown)
        if workload:
            work = vm.workload
            last = (
                f"{format_reported_latency(work.latency_p99_seconds if work else None)} / "
                f"{format_reported_latency(work.latency_p99_max_seconds if work else None)}"
            )
        else:
            last = "-" if slowdown is None else f"{slowdown:.2f}×"
        sizes = (
            format_size(vm.configured_bytes),
            format_size(vm.reservation_bytes),
            format_size(vm.peak_working_set_bytes),
            format_size(vm.balloon_max_bytes),
            format_size(vm.balloon_final_bytes),
            format_size(vm.min_resident_bytes),
            f"{format_size(vm.guest_swap_in_bytes)} / {format_size(vm.guest_swap_out_bytes)}",
            f"{format_size(vm.host_swap_in_bytes)} / {format_size(vm.host_swap_out_bytes)}",
        )
        rows.append(
            f'<tr><td class=l><a href="#vm-{escape(vm.name)}">{escape(vm.name)}</a></td>'
            f"{''.join(f'<td>{cell}</td>' for cell in sizes)}"
            f'<td class="{cls}">{last}</td></tr>'
        )
    host = summary.host
    states = format_host_states(host.seconds_in_state)
    ratio = host.overcommit_ratio
    violations = summary.violations
    return (
        f'<table id="summary-table">{head}{"".join(rows)}</table>'
        f"<p>host: {format_size(host.memory_bytes)}, over-commit "
        f"{'-' if ratio is None else f'{ratio:.2f}×'}, lowest available "
        f"{format_size(host.min_available_bytes)}, host swap in / out "
        f"{format_size(host.host_swap_in_bytes)} / {format_size(host.host_swap_out_bytes)}; "
        f"states: {escape(states)}</p><p>violations: reservation {violations.reservation}, "
        f"guest OOM {violations.guest_oom}; decisions {summary.decisions}</p>"
    )


def _findings(data: ReportData) -> str:
    if not data.findings:
        return "<p>diagnose found nothing to report (no samples).</p>"
    rows = []
    for index, f in enumerate(data.findings, start=1):
        vm = escape(f.vm)
        if f.cause == "none":
            where = f'<a href="#vm-{vm}">{f.start_s:g}–{f.end_s:g} s</a>'
        else:
            where = f'<a href="#win-{index}">{f.start_s:g}–{f.end_s:g} s</a>'
        neighbours = ", ".join(
            f"{escape(n['vm'])} (grew {format_size(n['grew_bytes'])})" for n in f.neighbours
        )
        evidence = "<br>".join(
            escape(f"{e.get('metric')}: {e.get('value')} {e.get('unit') or ''}") for e in f.evidence
        )
        secondary = f"<br>also: {escape(', '.join(f.secondary))}" if f.secondary else ""
        rows.append(
            f'<tr id="finding-{index}"><td>#{index}</td><td class=l>{vm}</td><td>{where}</td>'
            f"<td class=l><b>{escape(f.cause)}</b>: {escape(CAUSE_TEXT.get(f.cause, ''))}"
            f"{secondary}</td><td class=l>{neighbours}</td>"
            f"<td class=l>{escape(f.recommendation)}</td>"
            f"<td class=l><details><summary>evidence</summary>{evidence}</details></td></tr>"
        )
    return (
        '<table id="findings-table"><tr><th>#</th><th class=l>VM</th><th>window</th>'
        "<th class=l>cause</th><th class=l>neighbours</th><th class=l>recommendation</th>"
        f"<th class=l></th></tr>{''.join(rows)}</table>"
        '<p class="note-text">Each window links to its shading in the VM\'s charts '
        "(the shading links back here). Diagnose reads only what a real host observes, "
        "never the simulator's truth.</p>"
    )


def _decisions_table(data: ReportData) -> str:
    decisions = data.run.decisions
    rows = [
        f"<tr><td>{d.time_s:g} s</td><td class=l>{escape(d.vm)}</td>"
        f"<td>{format_size(d.previous_target_bytes)}</td><td>{format_size(d.balloon_target_bytes)}</td>"
        f"<td class=l>{escape(d.reason or '')}</td>"
        f"<td class=l>{escape(', '.join(d.guard))}</td></tr>"
        for d in decisions[:MAX_DECISION_ROWS]
    ]
    more = (
        f"<p>… and {len(decisions) - MAX_DECISION_ROWS} more decisions (in the run file's "
        "<code>decisions</code> table).</p>"
        if len(decisions) > MAX_DECISION_ROWS
        else ""
    )
    return (
        f"<details><summary>all {len(decisions)} decisions as a table</summary>"
        '<table id="decisions-table"><tr><th>time</th><th class=l>VM</th>'
        "<th>balloon before</th><th>balloon target</th><th class=l>reason</th>"
        "<th class=l>guard changed</th></tr>"
        f"{''.join(rows)}</table>{more}</details>"
    )


def _policy_notes_table(data: ReportData) -> str:
    """The policy's notes and its reasons for leaving VMs alone, a repeated text folded
    into one row (a note made every interval would fill the page)."""
    folded: dict[tuple[str, str, str], list[float]] = {}
    for note in data.run.notes:
        if note.text:
            folded.setdefault((note.vm or "", note.kind, note.text), []).append(note.time_s)
    if not folded:
        return "<p>the policy made no notes and left no VM alone with a reason.</p>"
    ordered = sorted(folded.items(), key=lambda item: item[1][0])
    rows = [
        f"<tr><td>{times[0]:g} s</td><td>{times[-1]:g} s</td><td>{len(times)}</td>"
        f"<td class=l>{escape(vm or 'host')}</td><td class=l>{escape(kind)}</td>"
        f"<td class=l>{escape(text)}</td></tr>"
        for (vm, kind, text), times in ordered[:MAX_DECISION_ROWS]
    ]
    more = (
        f"<p>… and {len(ordered) - MAX_DECISION_ROWS} more (in the run file's "
        "<code>decision_notes</code> table).</p>"
        if len(ordered) > MAX_DECISION_ROWS
        else ""
    )
    return (
        f"<details><summary>{len(ordered)} distinct policy notes</summary>"
        '<table id="policy-notes-table"><tr><th>first</th><th>last</th><th>times</th>'
        "<th class=l>VM</th><th class=l>kind</th><th class=l>note</th></tr>"
        f"{''.join(rows)}</table>{more}</details>"
    )


def _events_table(data: ReportData) -> str:
    events = data.run.events
    if not events:
        return "<p>no events (errors, missing VMs, guest OOMs) were recorded.</p>"
    rows = [
        f"<tr><td>{t:g} s</td><td class=l>{escape(vm or '')}</td><td class=l>{escape(kind)}</td>"
        f"<td class=l>{escape(message or '')}</td></tr>"
        for t, vm, kind, message in events[:MAX_DECISION_ROWS]
    ]
    return (
        '<table id="events-table"><tr><th>time</th><th class=l>VM</th><th class=l>kind</th>'
        f"<th class=l>message</th></tr>{''.join(rows)}</table>"
    )


def _waiting(data: ReportData, vm: VmSeries, axis: TimeAxis) -> str:
    """How much the VM waited, drawn as well as the run knows it: slowdown (simulator),
    the workload's own latency and accesses (lab), or major faults (older lab files)."""
    if data.truth.get(vm.name) is not None or not charts.has_workload(vm):
        svg, caption = charts.vm_wait_chart(data, vm, axis)
        return f'<h3>waiting</h3>{svg}<p class="caption">{escape(caption)}</p>'
    latency = charts.vm_latency_chart(data, vm, axis)
    if latency is None:
        latency_html = (
            '<h3>workload latency</h3><p class="caption">The workload timed no access in '
            "this run (it was idle), so there is no latency to draw.</p>"
        )
    else:
        latency_html = (
            f"<h3>workload latency</h3>{latency}"
            + _legend([("s-p99", "p99", True), ("s-p50", "p50", True)])
            + '<p class="caption">The workload\'s own access latency as it reports it on the '
            "guest console, per manager interval: p50 the median of its seconds' medians, p99 "
            "the worst second's p99. Log scale: a page in RAM is about a microsecond away, one "
            "read back from swap a millisecond or more. Gaps are periods with no access.</p>"
        )
    return (
        f"{latency_html}<h3>workload accesses</h3>{charts.vm_accesses_chart(data, vm, axis)}"
        + _legend(
            [
                ("s-accesses", "workload accesses/s", True),
                ("s-faults", "guest major faults/s", True),
            ]
        )
        + '<p class="caption">Accesses per second are the work the workload got done (it '
        "aims at its phase's rate); major faults are the guest's accesses that waited on a "
        "disk (its swap or page cache misses).</p>"
    )


def _vm_section(data: ReportData, name: str, axis: TimeAxis) -> str:
    vm = data.run.vms[name]
    memory_svg = charts.vm_memory_chart(data, vm, axis)
    memory_legend = [(f"l-{key}", label, False) for key, label in LAYERS]
    if "l-guest_swapped" in memory_svg:
        memory_legend.append(("l-guest_swapped", "guest-swapped (estimate)", False))
    memory_legend += [
        ("s-ws-estimate", "working set (manager's estimate)", True),
        *([("s-ws-true", "true working set (simulator)", True)] if data.has_truth else []),
        ("s-target", "balloon target", True),
        ("mark-configured", "configured", True),
        *([("mark-limit", "limit", True)] if vm.limit_bytes is not None else []),
        ("mark-reservation", "reservation", True),
        ("finding", "diagnose window (click: finding)", False),
    ]
    no_guest_swap = (
        ""
        if "l-guest_swapped" in memory_svg
        else (" The guest reported no swap traffic, so nothing is drawn as guest-swapped.")
    )
    io = charts.io_series(vm)
    io_title = "swap and disk I/O" if len(io) > 4 else "swap I/O"
    limit = "none" if vm.limit_bytes is None else format_size(vm.limit_bytes)
    return (
        f'<section id="vm-{escape(name)}"><h2>VM {escape(name)}</h2>'
        f'<p class="meta">configured {format_size(vm.configured_bytes)}, reservation '
        f"{format_size(vm.reservation_bytes)}, limit {limit}, balloon driver "
        f"{'yes' if vm.balloon_present else 'no'}</p>"
        f"<h3>where its configured memory is</h3>{memory_svg}{_legend(memory_legend)}"
        '<p class="caption">The layers add up to the configured memory (a real VM\'s resident '
        "memory is its guest RAM's, without QEMU's own). The balloon takes memory "
        "from the top: its target is drawn down from the configured mark. The run file holds "
        "no amount of guest-swapped memory; the purple layer above the configured memory "
        "(those pages are on the guest's swap disk) integrates the guest's swap-out minus "
        f"swap-in rates, an estimate.{no_guest_swap}</p>"
        f"{_waiting(data, vm, axis)}"
        f"<h3>{io_title}</h3>{charts.vm_io_chart(data, vm, axis)}"
        + _legend([(cls, title, True) for _, cls, title in io])
        + (
            '<p class="caption">Disk read and write are all the guest\'s disks as QEMU counts '
            "them (query-blockstats): its swap disk, so they include guest swap I/O, and its "
            "data disk (page cache reads).</p>"
            if len(io) > 4
            else ""
        )
        + "</section>"
    )


def run_report_html(data: ReportData) -> str:
    """The whole page for one run."""
    meta = data.run.meta
    axis = TimeAxis(data.t0, data.t1)
    scenario, policy = meta.get("scenario", "?"), meta.get("policy", "?")
    world = {"sim": "simulated host", "qemu": "lab (real QEMU VMs)"}.get(
        data.backend, data.backend or "unknown"
    )
    n_samples = max([len(v.t) for v in data.run.vms.values()] + [len(data.run.host.t)])
    sampling = (
        f"{n_samples} samples per series, more than {MAX_POINTS}: charts draw {MAX_POINTS} "
        "equal-time buckets — memory layers and working sets the bucket mean, rates, "
        "slowdown and available memory the min–max band with the mean as the line, host "
        "states the worst state in the bucket"
        if n_samples > MAX_POINTS
        else f"{n_samples} samples per series, every one drawn"
    )
    has_states = any(state in HOST_STATES for state in data.run.host.state)
    vm_links = " ".join(f'<a href="#vm-{escape(n)}">VM {escape(n)}</a>' for n in data.run.vms)
    body = (
        f"<h1>juggler report: {escape(scenario)} · policy {escape(policy)}</h1>"
        f'<p class="meta">{escape(world)} · {format_duration(round(data.t1 - data.t0, 1))} · seed '
        f"{escape(meta.get('seed', '-'))} · run file <code>{escape(str(data.path))}</code> · "
        f"juggler {escape(__version__)}</p>"
        f'<nav><a href="#summary">summary</a><a href="#findings">findings</a>'
        f'<a href="#host">host</a><a href="#decisions">decisions</a>{vm_links}'
        f'<a href="#events">events</a></nav>'
        f'<section id="summary"><h2>Summary</h2>{_summary(data.summary)}</section>'
        f'<section id="findings"><h2>Diagnose findings</h2>{_findings(data)}</section>'
        f'<section id="host"><h2>Host</h2><h3>available memory and free-memory state</h3>'
        f"{charts.host_memory_chart(data, axis)}"
        + _legend(
            [(f"state-{s}", f"state {s}", False) for s in HOST_STATES if has_states]
            + [("s-available", "available", True), ("mark-configured", "host memory", True)]
        )
        + (
            ""
            if has_states
            else '<p class="caption">This run file records no free-memory '
            "state (its <code>host_state</code> is empty), so no state bands are drawn.</p>"
        )
        + f"<h3>host swap</h3>{charts.host_swap_chart(data, axis)}"
        + _legend([("s-swap-in", "swap-in", True), ("s-swap-out", "swap-out", True)])
        + '</section><section id="decisions"><h2>Decisions</h2>'
        f"{charts.decisions_chart(data, axis)}"
        + _legend(
            [
                ("dec-inflate", "balloon target raised (inflate)", False),
                ("dec-deflate", "balloon target lowered (deflate)", False),
            ]
        )
        + '<p class="caption">Hover a mark for the policy\'s reason; decisions closer than '
        "1/600 of the run share a mark.</p>"
        f"{_decisions_table(data)}{_policy_notes_table(data)}</section>"
        + "".join(_vm_section(data, name, axis) for name in data.run.vms)
        + f'<section id="events"><h2>Events</h2>{_events_table(data)}</section>'
        f'<section id="notes"><h2>Notes</h2><p class="note-text">{escape(sampling)}. '
        "Every chart shares one time axis; the crosshair follows the mouse in all of them. "
        "Rates are per second over the period since the previous sample.</p></section>"
    )
    return html_page(f"juggler report: {scenario} · {policy}", body)

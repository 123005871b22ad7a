"""What every ``juggler`` command prints: the two consoles, the one-line error exit,
the summary and comparison tables, and where a run's HTML report goes.

One module so that a message, a table or the exit status of an error reads the
same whichever command prints it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from juggler.metrics.exporter import MetricsExporter, exporting
from juggler.render import format_host_states, format_reported_latency, slowdown_level
from juggler.units import format_duration, format_size

if TYPE_CHECKING:
    from juggler.summary import RunSummary

out = Console()
err = Console(stderr=True)

#: a slowdown's colour in the summary table, by :func:`~juggler.render.slowdown_level`
_SLOWDOWN_STYLES = {"bad": "red", "warn": "yellow", "": ""}


def wide() -> Console:
    """The output console, drawn at least 132 columns wide when it is not a terminal
    (a pipe or file gets whole table rows rather than cells wrapped at 80)."""
    return out if out.is_terminal else Console(file=out.file, width=max(out.width, 132))


def progress_bar(done: str, *, quiet: bool) -> Progress:
    """A progress bar on stderr that goes away when done, so stdout stays the result
    alone; off when ``quiet`` or when stderr is not a terminal (a log gets no bar).

    :param done: how far the task is, as a rich column template such as
        ``"{task.completed}/{task.total} runs"``.
    :param quiet: no bar at all.
    :return: the bar, to use as a context manager.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(done),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )


def fail(error: object) -> NoReturn:
    """Print ``error`` as one line on stderr and exit with status 2: how every command
    reports a user error (a bad option, a missing file, a refused scenario).

    :param error: the message, or the exception whose text it is.
    :raise typer.Exit: Always, with status 2.
    """
    # escape: the message quotes user input ("[/x]" would be read as markup);
    # soft_wrap: a long message stays on its lines rather than being cut mid-path
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def check_report_path(path: Path) -> None:
    """Refuse an unwritable ``--report`` path before spending time on a run."""
    from juggler.report import check_writable

    check_writable(path)


def write_run_report(run: Path, path: Path) -> Path:
    from juggler.report import write_report

    return write_report(run, path)


def print_comparison(rows: list[dict[str, Any]], seeds: int) -> None:
    """One table per scenario, a row per policy (means over seeds), best cells marked."""
    from juggler.compare import METRICS, aggregate, best_marks

    columns: dict[str, tuple[str, Callable[[float], str]]] = {
        "mean_slowdown": ("mean slowdown", lambda v: f"{v:.3f}x"),
        "worst_slowdown": ("worst slowdown", lambda v: f"{v:.3f}x"),
        "guest_swap_bytes": ("guest swap", lambda v: format_size(round(v))),
        "host_swap_bytes": ("host swap", lambda v: format_size(round(v))),
        "balloon_moved_bytes": ("balloon moved", lambda v: format_size(round(v))),
        "seconds_hard_low": ("hard+low", lambda v: format_duration(round(v, 1))),
        "reservation_violations": ("resv. viol.", lambda v: f"{v:g}"),
        "guest_oom": ("guest OOM", lambda v: f"{v:g}"),
        "reversals_per_vm_per_10min": ("reversals", lambda v: f"{v:.1f}"),
        "reversals_max_vm_per_10min": ("max VM rev.", lambda v: f"{v:.1f}"),
        "oom_rescues": ("OOM rescues", lambda v: f"{v:g}"),
        "host_in_use_bytes": ("host in use", lambda v: format_size(round(v))),
        "excess_slowdown": ("over oracle", lambda v: f"{v:+.3f}"),
    }
    any_failed = any(row["error"] for row in rows)
    for scenario, by_policy in aggregate(rows).items():
        marks = best_marks(by_policy)
        table = Table(
            title=f"{scenario} · mean of {seeds} seed{'s' if seeds > 1 else ''} "
            "· [bold green]best[/] per column",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("policy", no_wrap=True)
        for metric in METRICS:
            table.add_column(columns[metric][0], justify="right", min_width=6)
        if any_failed:
            table.add_column("runs", justify="right")
        for policy, entry in by_policy.items():
            cells: list[Any] = [policy]
            for metric in METRICS:
                value = entry[metric]
                style = "bold green" if policy in marks[metric] else ""
                text = columns[metric][1](value) if value is not None else "-"
                cells.append(Text(text, style=style, no_wrap=True))
            if any_failed:
                runs = f"{entry['runs']} ok"
                if entry["failed"]:
                    runs += f", {entry['failed']} failed"
                cells.append(Text(runs, style="red" if entry["failed"] else ""))
            table.add_row(*cells)
        # piped output is not cut to 80 columns: the table is for reading in a file too
        wide().print(table)
    out.print("swap: bytes in + out; hard+low: time the host spent in those states")
    out.print("resv. viol.: samples below a reservation after first reaching it")
    out.print(
        "reversals: balloon target turns per VM per 10 min (mean; max VM); OOM rescues: "
        "the guard deflated a guest near OOM; host in use: time-averaged; over oracle: "
        "mean slowdown less the oracle's (same seeds)"
    )
    if rows:
        out.print(f"run files in [bold]{escape(str(Path(rows[0]['run']).parent))}[/]")


def say_serving(exporter: MetricsExporter, what: str = "") -> None:
    """Tell the user (on stderr) where the live metrics are."""
    url = exporter.server.url if exporter.server is not None else "(not serving)"
    err.print(f"serving metrics at {url}{what}", highlight=False, soft_wrap=True)


def serve_run_metrics(
    stack: contextlib.ExitStack, addr: str, run: Path, info: dict[str, str], what: str = ""
) -> MetricsExporter:
    """Serve a run's live metrics and its findings until ``stack`` closes, and say where.

    The port is bound now, so a busy one fails before anything boots. The findings
    come from ``juggler.diagnose`` re-run on the run file: the CLI hands it to the
    exporter, as ``metrics/`` does not import what sits above it.
    """
    from juggler.diagnose import diagnose

    exporter = stack.enter_context(exporting(addr, run=run, diagnose=diagnose, info=info))
    say_serving(exporter, what)
    return exporter


def show_summary(summary: RunSummary, source: str, *, as_json: bool) -> None:
    """A run's summary on stdout: JSON for ``--json`` (the same for simulate, run and
    ``lab run``), else the table.

    :param source: where the VMs came from, for the table's title.
    :param as_json: JSON rather than the table.
    """
    if as_json:
        out.print_json(summary.to_json())
        return
    print_summary(summary, source)


def print_summary(summary: RunSummary, source: str) -> None:
    """The per-VM table and the host line, for people."""
    table = Table(
        title=f"{summary.scenario} · policy {summary.policy} · "
        f"{format_duration(summary.duration_s)} ({source})",
        title_justify="left",
    )
    latency = any(vm.workload for vm in summary.vms)
    for column in (
        "VM",
        "configured",
        "reservation",
        "peak WS",
        "peak balloon",
        "final balloon",
        "guest swap in/out",
        "host swap in/out",
        "access p99 mean / worst" if latency else "slowdown",
    ):
        table.add_column(column, justify="left" if column == "VM" else "right")
    for vm in summary.vms:
        slowdown = vm.slowdown
        style = _SLOWDOWN_STYLES[slowdown_level(slowdown)]
        last: str | Text
        if latency:
            work = vm.workload
            last = (
                f"{format_reported_latency(work.latency_p99_seconds if work else None)} / "
                f"{format_reported_latency(work.latency_p99_max_seconds if work else None)}"
            )
        else:
            last = Text(f"{slowdown:.2f}x", style=style) if slowdown is not None else "-"
        table.add_row(
            vm.name,
            format_size(vm.configured_bytes),
            format_size(vm.reservation_bytes),
            format_size(vm.peak_working_set_bytes),
            format_size(vm.balloon_max_bytes),
            format_size(vm.balloon_final_bytes),
            f"{format_size(vm.guest_swap_in_bytes)} / {format_size(vm.guest_swap_out_bytes)}",
            f"{format_size(vm.host_swap_in_bytes)} / {format_size(vm.host_swap_out_bytes)}",
            last,
        )
    console = wide()
    console.print(table)
    host = summary.host
    states = format_host_states(host.seconds_in_state)
    console.print(
        f"host: {format_size(host.memory_bytes)}, over-commit {host.overcommit_ratio:.2f}x, "
        f"lowest available {format_size(host.min_available_bytes)}, "
        f"host swap in/out {format_size(host.host_swap_in_bytes)} / "
        f"{format_size(host.host_swap_out_bytes)}; states: {states}"
    )
    violations = summary.violations
    console.print(
        f"violations: reservation {violations.reservation}, guest OOM "
        f"{violations.guest_oom}; decisions {summary.decisions}"
    )
    console.print(f"metrics written to [bold]{summary.run}[/]")

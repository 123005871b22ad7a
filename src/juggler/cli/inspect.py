"""``juggler diagnose``, ``juggler top`` and ``juggler report``: reading a run file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from juggler.cli.options import parsed_option
from juggler.cli.output import fail, out, wide, write_run_report
from juggler.errors import JugglerError
from juggler.units import parse_duration


def diagnose(
    run: Annotated[
        Path, typer.Argument(help="Run file (.sqlite) written by simulate, compare or the lab.")
    ],
    vm: Annotated[str | None, typer.Option("--vm", help="Only this VM.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Look from this time on, e.g. 120s, 2m.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Look up to this time, e.g. 300s.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON on stdout.")
    ] = False,
) -> None:
    """Name the root cause of each VM's slowness: host swap, balloon, its own working set,
    host contention (which neighbours grew) or an uncooperative balloon."""
    from juggler.diagnose import diagnose as run_diagnosis
    from juggler.diagnose.report import print_findings, to_json
    from juggler.metrics.store import RunStore

    bounds: list[float | None] = []
    for flag, value in (("--from", start), ("--to", end)):
        if value is None:
            bounds.append(None)
            continue
        seconds = parsed_option(parse_duration, value, flag)
        if seconds < 0:
            fail(f"{flag}: {value!r} must not be negative")
        bounds.append(seconds)
    if bounds[0] is not None and bounds[1] is not None and bounds[1] <= bounds[0]:
        fail(f"--to ({end}) must be later than --from ({start})")
    try:
        with RunStore.open(run) as store:
            findings = run_diagnosis(store, vm=vm, start_s=bounds[0], end_s=bounds[1])
    except JugglerError as error:
        fail(error)
    if json_output:
        out.print_json(to_json(findings))
        return
    print_findings(findings, wide(), str(run))


def top(
    run: Annotated[
        Path, typer.Argument(help="Run file (.sqlite) to follow; it may still be being written.")
    ],
    refresh: Annotated[
        str, typer.Option("--refresh", help="Time between reads of the file, e.g. 1s, 500ms.")
    ] = "1s",
) -> None:
    """A live view of a run, like esxtop's memory panel: one row per VM, sortable; q quits."""
    from juggler.top import show_top

    refresh_s = parsed_option(parse_duration, refresh, "--refresh")
    if refresh_s < 0.1:
        fail(f"--refresh: {refresh!r} must be at least 100ms")
    try:
        show_top(run, refresh_s=refresh_s)
    except JugglerError as error:
        fail(error)


def report(
    run: Annotated[
        Path, typer.Argument(help="Run file (.sqlite) written by simulate, compare or the lab.")
    ],
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: the run file's name with .html)."
        ),
    ] = None,
) -> None:
    """Draw a run as one self-contained HTML page: memory per VM, the host, decisions,
    slowdown and swap on one time axis, and the diagnose findings."""
    try:
        written = write_run_report(run, out_path or run.with_suffix(".html"))
    except JugglerError as error:
        fail(error)
    out.print(f"report written to [bold]{escape(str(written))}[/]", highlight=False)

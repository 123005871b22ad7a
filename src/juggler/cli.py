"""The ``juggler`` command line (typer + rich). The only module that configures logging.

Every user error is a :class:`~juggler.errors.JugglerError`, printed as one
clear message with exit status 2; a traceback means a bug in juggler.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from juggler import __version__
from juggler.errors import JugglerError
from juggler.units import format_duration, format_size, parse_duration

app = typer.Typer(
    name="juggler",
    help="Manage the memory of over-committed virtual machines: simulate, compare, diagnose.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"juggler {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """juggler decides how much host memory each VM holds and moves memory between VMs
    with balloon drivers, within reservations, so neither guests nor the host swap more
    than they must."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _fail(error: Exception | str) -> None:
    # escape: the message quotes user input ("[/x]" would be read as markup);
    # soft_wrap: a long message stays on its lines rather than being cut mid-path
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _load(scenario: str | None) -> tuple[Any, str, str]:
    """The scenario object, its TOML text and where it came from."""
    from juggler.scenario import (
        BUILTIN_SCENARIOS,
        builtin_scenario_text,
        load_scenario,
        parse_scenario,
    )

    if scenario is None or (scenario in BUILTIN_SCENARIOS and not Path(scenario).exists()):
        name = scenario or "seed"
        text = builtin_scenario_text(name)
        return parse_scenario(text, f"<built-in {name}>"), text, f"built-in {name}"
    loaded = load_scenario(scenario)
    return loaded, Path(scenario).read_text(encoding="utf-8"), scenario


@app.command()
def simulate(
    scenario: Annotated[
        str | None,
        typer.Argument(help="Scenario TOML file; the built-in seed story when omitted."),
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help="Policy (overrides the scenario's).")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Simulated time, e.g. 10m, 90s.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Random seed (0 or more).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run file to write (default: runs/<scenario>-...)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a scenario on the simulated host and summarize what happened to each VM."""
    from juggler.policy import get_policy
    from juggler.simulate import default_run_path, run_simulation
    from juggler.summary import to_json

    duration_s = None
    if duration is not None:
        try:
            duration_s = parse_duration(duration)
        except ValueError as error:
            _fail(f"--duration: {error}")
        if duration_s is not None and duration_s <= 0:
            _fail(f"--duration: {duration!r} must be more than 0 (such as 30s or 10m)")
    if policy is not None:
        try:
            get_policy(policy)
        except JugglerError as error:
            _fail(f"--policy: {error}")
    try:
        loaded, text, source = _load(scenario)
        options = [
            f"{flag} {value}"
            for flag, value in (("--policy", policy), ("--duration", duration), ("--seed", seed))
            if value is not None
        ]
        loaded = loaded.with_overrides(
            policy=policy,
            duration_s=duration_s,
            seed=seed,
            source=f"{source} with {' '.join(options)}" if options else source,
        )
        path = out_path or default_run_path(loaded)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[simulated]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet or not err.is_terminal,
        )
        with progress:
            task = progress.add_task(
                f"simulating {loaded.name} ({loaded.manager.policy})",
                total=loaded.run.duration,
                simulated="",
            )

            def advance(elapsed: float) -> None:
                progress.update(
                    task,
                    completed=elapsed,
                    simulated=f"{format_duration(elapsed)} / "
                    f"{format_duration(loaded.run.duration)}",
                )

            summary = run_simulation(loaded, path, progress=advance, scenario_text=text)
    except JugglerError as error:
        _fail(error)
    if json_output:
        out.print_json(to_json(summary))
        return
    print_summary(summary, source)


def _bytes(value: int | None) -> str:
    return format_size(value)


def print_summary(summary: dict[str, Any], source: str) -> None:
    """The per-VM table and the host line, for people."""
    table = Table(
        title=f"{summary['scenario']} · policy {summary['policy']} · "
        f"{format_duration(summary['duration_s'])} ({source})",
        title_justify="left",
    )
    for column in (
        "VM", "configured", "reservation", "peak WS", "peak balloon", "final balloon",
        "guest swap in/out", "host swap in/out", "slowdown",
    ):
        table.add_column(column, justify="left" if column == "VM" else "right")
    for vm in summary["vms"]:
        slowdown = vm["slowdown"]
        style = "red" if (slowdown or 0) > 1.5 else ("yellow" if (slowdown or 0) > 1.1 else "")
        table.add_row(
            vm["name"],
            _bytes(vm["configured_bytes"]),
            _bytes(vm["reservation_bytes"]),
            _bytes(vm["peak_working_set_bytes"]),
            _bytes(vm["balloon_max_bytes"]),
            _bytes(vm["balloon_final_bytes"]),
            f"{_bytes(vm['guest_swap_in_bytes'])} / {_bytes(vm['guest_swap_out_bytes'])}",
            f"{_bytes(vm['host_swap_in_bytes'])} / {_bytes(vm['host_swap_out_bytes'])}",
            Text(f"{slowdown:.2f}x", style=style) if slowdown is not None else "-",
        )
    out.print(table)
    host = summary["host"]
    states = ", ".join(
        f"{name} {format_duration(seconds)}" for name, seconds in host["seconds_in_state"].items()
        if seconds
    )
    out.print(
        f"host: {_bytes(host['memory_bytes'])}, over-commit {host['overcommit_ratio']:.2f}x, "
        f"lowest available {_bytes(host['min_available_bytes'])}, "
        f"host swap in/out {_bytes(host['host_swap_in_bytes'])} / "
        f"{_bytes(host['host_swap_out_bytes'])}; states: {states}"
    )
    violations = summary["violations"]
    out.print(
        f"violations: reservation {violations['reservation']}, guest OOM "
        f"{violations['guest_oom']}; decisions {summary['decisions']}"
    )
    out.print(f"metrics written to [bold]{summary['run']}[/]")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
if __name__ == "__main__":
    main()

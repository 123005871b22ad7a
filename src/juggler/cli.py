"""The ``juggler`` command line (typer + rich). The only module that configures logging.

Every user error is a :class:`~juggler.errors.JugglerError`, printed as one
clear message with exit status 2; a traceback means a bug in juggler.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from juggler import __version__
from juggler.cli_options import JsonOutput, PolicyOverride, ScenarioFile
from juggler.errors import JugglerError
from juggler.metrics.exporter import DEFAULT_METRICS_ADDR, MetricsExporter, exporting
from juggler.units import format_duration, format_size, parse_duration

if TYPE_CHECKING:
    from juggler.summary import RunSummary

#: simulated seconds per wall second of ``simulate --serve`` (10 minutes of the seed
#: story in one minute: fast enough to watch, slow enough for a 5 s scrape interval)
SERVE_SPEED = 10.0

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
    # qemu.qmp reports every refused connection at ERROR; the backend reports what matters
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)


def _wide() -> Console:
    """The output console, drawn at least 132 columns wide when it is not a terminal
    (a pipe or file gets whole table rows rather than cells wrapped at 80)."""
    return out if out.is_terminal else Console(file=out.file, width=max(out.width, 132))


def _fail(error: Exception | str) -> None:
    # escape: the message quotes user input ("[/x]" would be read as markup);
    # soft_wrap: a long message stays on its lines rather than being cut mid-path
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _duration_option(
    duration: str | None, flag: str = "--duration", example: str = "30s or 10m"
) -> float | None:
    """A positive time option (``--duration`` unless ``flag`` says) in seconds, None
    when not given; exits on a bad value."""
    if duration is None:
        return None
    try:
        duration_s = parse_duration(duration)
    except ValueError as error:
        _fail(f"{flag}: {error}")
    if duration_s <= 0:
        _fail(f"{flag}: {duration!r} must be more than 0 (such as {example})")
    return duration_s


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
    scenario: ScenarioFile = None,
    policy: PolicyOverride = None,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Simulated time, e.g. 10m, 90s.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Random seed (0 or more).")
    ] = None,
    json_output: JsonOutput = False,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run file to write (default: runs/<scenario>-...)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Serve live metrics for Prometheus while the run goes, paced."
        ),
    ] = False,
    metrics_addr: Annotated[
        str | None,
        typer.Option(
            "--metrics-addr",
            help="Where --serve serves /metrics, HOST:PORT (default 127.0.0.1:9177; "
            "port 0 picks a free one); implies --serve.",
        ),
    ] = None,
    top: Annotated[
        bool, typer.Option("--top", help="Watch the run live in `juggler top` (q quits).")
    ] = False,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            help=f"Simulated seconds per wall second (default {SERVE_SPEED:g} with --serve, "
            "1 with --top, as fast as it goes otherwise).",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also draw the run as this HTML file.")
    ] = None,
) -> None:
    """Run a scenario on the simulated host and summarize what happened to each VM."""
    from juggler.policy import get_policy
    from juggler.simulate import default_run_path, run_simulation

    duration_s = _duration_option(duration)
    serve = serve or metrics_addr is not None
    if speed is not None and not speed > 0:
        _fail(f"--speed: {speed:g} must be more than 0 (simulated seconds per wall second)")
    pace = speed if speed is not None else (SERVE_SPEED if serve else (1.0 if top else None))
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
        if report is not None:
            _check_report_path(report)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[simulated]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet or top or not err.is_terminal,
        )
        with contextlib.ExitStack() as stack:
            exporter = None
            if serve:
                from juggler.diagnose import diagnose as diagnose_findings

                exporter = stack.enter_context(
                    exporting(
                        metrics_addr or DEFAULT_METRICS_ADDR,
                        run=path,
                        diagnose=diagnose_findings,
                        info={
                            "scenario": loaded.name,
                            "policy": loaded.manager.policy,
                            "backend": "sim",
                        },
                    )
                )
                _say_serving(exporter, f" ({pace:g} simulated seconds per second)")
            stack.enter_context(progress)
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

            if top:  # the screen shows the progress; the run goes to a thread
                from juggler.top import run_with_top

                summary = run_with_top(
                    path,
                    lambda stop: run_simulation(
                        loaded,
                        path,
                        scenario_text=text,
                        recorder=exporter,
                        speed=pace,
                        stop=stop,
                    ),
                )
            else:
                summary = run_simulation(
                    loaded,
                    path,
                    progress=advance,
                    scenario_text=text,
                    recorder=exporter,
                    speed=pace,
                )
        if report is not None:
            _write_run_report(path, report)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except JugglerError as error:
        _fail(error)
    if json_output:
        out.print_json(summary.to_json())
        return
    print_summary(summary, source)


@app.command()
def compare(
    scenarios: Annotated[
        list[Path] | None, typer.Argument(help="Scenario TOML files (e.g. examples/suite/*.toml).")
    ] = None,
    policies: Annotated[
        str | None,
        typer.Option("--policies", "-p", help="Comma-separated policies (default: all of them)."),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Seeds per scenario: its seed, +1, ...")
    ] = 1,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Simulated time, e.g. 5m, 90s.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Parallel jobs (default: CPUs).")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Run on dask: 'local' (a LocalCluster) or tcp://HOST:8786."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one row per run as JSON on stdout.")
    ] = False,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write one row per run to this CSV file.")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-o", help="Where to write run files (runs/compare-<time>)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also draw the comparison as this HTML file."),
    ] = None,
) -> None:
    """Run every policy on every scenario with the same seeds and compare them side by side."""
    import json

    from juggler import compare as cmp
    from juggler.policy import POLICIES

    duration_s = _duration_option(duration)
    try:
        names = cmp.parse_policies(policies or ",".join(sorted(POLICIES)), POLICIES)
    except JugglerError as error:
        _fail(f"--policies: {error}")
    try:
        if dask is not None:
            cmp.import_distributed()
            # distributed sets its loggers to INFO; follow --verbose instead
            logging.getLogger("distributed").setLevel(logging.getLogger().level)
        files = cmp.load_scenario_files([str(path) for path in scenarios or []])
        if report is not None:
            _check_report_path(report)
        work = cmp.build_jobs(files, names, seeds, out_dir or cmp.default_out_dir(), duration_s)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} runs"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet or not err.is_terminal,
        )
        with progress:
            task = progress.add_task(f"comparing {len(names)} policies", total=len(work))
            rows = cmp.run_jobs(work, jobs, dask, on_done=lambda row: progress.advance(task))
        if csv_path is not None:
            cmp.write_csv(rows, csv_path)
        if report is not None:
            from juggler.report import write_compare_report

            write_compare_report(rows, seeds, report)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except JugglerError as error:
        _fail(error)
    if json_output:
        out.print_json(json.dumps({"results": rows}))
    else:
        print_comparison(rows, seeds)
    failed = [row for row in rows if row["error"]]
    for row in failed:
        err.print(
            f"[bold red]failed:[/] {escape(row['scenario'])} {row['policy']} "
            f"seed {row['seed']}: {escape(row['error'])}",
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


@app.command()
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
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            _fail(f"{flag}: {error}")
        if seconds < 0:
            _fail(f"{flag}: {value!r} must not be negative")
        bounds.append(seconds)
    if bounds[0] is not None and bounds[1] is not None and bounds[1] <= bounds[0]:
        _fail(f"--to ({end}) must be later than --from ({start})")
    try:
        with RunStore.open(run) as store:
            findings = run_diagnosis(store, vm=vm, start_s=bounds[0], end_s=bounds[1])
    except JugglerError as error:
        _fail(error)
    if json_output:
        out.print_json(to_json(findings))
        return
    print_findings(findings, _wide(), str(run))


@app.command()
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

    try:
        refresh_s = parse_duration(refresh)
    except ValueError as error:
        _fail(f"--refresh: {error}")
    if refresh_s < 0.1:
        _fail(f"--refresh: {refresh!r} must be at least 100ms")
    try:
        show_top(run, refresh_s=refresh_s)
    except JugglerError as error:
        _fail(error)


@app.command()
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
        written = _write_run_report(run, out_path or run.with_suffix(".html"))
    except JugglerError as error:
        _fail(error)
    out.print(f"report written to [bold]{escape(str(written))}[/]", highlight=False)


def _check_report_path(path: Path) -> None:
    """Refuse an unwritable ``--report`` path before spending time on a run."""
    from juggler.report import check_writable

    check_writable(path)


def _write_run_report(run: Path, path: Path) -> Path:
    from juggler.report import write_report

    return write_report(run, path)


def print_comparison(rows: list[dict[str, Any]], seeds: int) -> None:
    """One table per scenario, a row per policy (means over seeds), best cells marked."""
    from juggler.compare import METRICS, aggregate, best_marks

    formats = {
        "mean_slowdown": lambda v: f"{v:.3f}x",
        "worst_slowdown": lambda v: f"{v:.3f}x",
        "guest_swap_bytes": lambda v: format_size(round(v)),
        "host_swap_bytes": lambda v: format_size(round(v)),
        "balloon_moved_bytes": lambda v: format_size(round(v)),
        "seconds_hard_low": lambda v: format_duration(round(v, 1)),
        "reservation_violations": lambda v: f"{v:g}",
        "guest_oom": lambda v: f"{v:g}",
    }
    headers = (
        "mean slowdown",
        "worst slowdown",
        "guest swap",
        "host swap",
        "balloon moved",
        "hard+low",
        "resv. viol.",
        "guest OOM",
    )
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
        for header in headers:
            table.add_column(header, justify="right", min_width=6)
        if any_failed:
            table.add_column("runs", justify="right")
        for policy, entry in by_policy.items():
            cells: list[Any] = [policy]
            for metric in METRICS:
                value = entry[metric]
                style = "bold green" if policy in marks[metric] else ""
                text = formats[metric](value) if value is not None else "-"
                cells.append(Text(text, style=style, no_wrap=True))
            if any_failed:
                runs = f"{entry['runs']} ok"
                if entry["failed"]:
                    runs += f", {entry['failed']} failed"
                cells.append(Text(runs, style="red" if entry["failed"] else ""))
            table.add_row(*cells)
        # piped output is not cut to 80 columns: the table is for reading in a file too
        _wide().print(table)
    out.print("swap: bytes in + out; hard+low: time the host spent in those states")
    out.print("resv. viol.: samples below a reservation after first reaching it")
    if rows:
        out.print(f"run files in [bold]{escape(str(Path(rows[0]['run']).parent))}[/]")


def _bytes(value: int | None) -> str:
    return format_size(value)


def _say_serving(exporter: MetricsExporter, what: str = "") -> None:
    """Tell the user (on stderr) where the live metrics are."""
    url = exporter.server.url if exporter.server is not None else "(not serving)"
    err.print(f"serving metrics at {url}{what}", highlight=False, soft_wrap=True)


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


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
        style = "red" if (slowdown or 0) > 1.5 else ("yellow" if (slowdown or 0) > 1.1 else "")
        if latency:
            work = vm.workload
            last: str | Text = (
                f"{_latency(work.latency_p99_seconds if work else None)} / "
                f"{_latency(work.latency_p99_max_seconds if work else None)}"
            )
        else:
            last = Text(f"{slowdown:.2f}x", style=style) if slowdown is not None else "-"
        table.add_row(
            vm.name,
            _bytes(vm.configured_bytes),
            _bytes(vm.reservation_bytes),
            _bytes(vm.peak_working_set_bytes),
            _bytes(vm.balloon_max_bytes),
            _bytes(vm.balloon_final_bytes),
            f"{_bytes(vm.guest_swap_in_bytes)} / {_bytes(vm.guest_swap_out_bytes)}",
            f"{_bytes(vm.host_swap_in_bytes)} / {_bytes(vm.host_swap_out_bytes)}",
            last,
        )
    console = _wide()
    console.print(table)
    host = summary.host
    states = ", ".join(
        f"{name} {format_duration(seconds)}"
        for name, seconds in host.seconds_in_state.items()
        if seconds
    )
    console.print(
        f"host: {_bytes(host.memory_bytes)}, over-commit {host.overcommit_ratio:.2f}x, "
        f"lowest available {_bytes(host.min_available_bytes)}, "
        f"host swap in/out {_bytes(host.host_swap_in_bytes)} / "
        f"{_bytes(host.host_swap_out_bytes)}; states: {states}"
    )
    violations = summary.violations
    console.print(
        f"violations: reservation {violations.reservation}, guest OOM "
        f"{violations.guest_oom}; decisions {summary.decisions}"
    )
    console.print(f"metrics written to [bold]{summary.run}[/]")


@app.command("run")
def run_vms(
    socket_dir: Annotated[
        Path | None,
        typer.Option(
            "--socket-dir",
            help="Where the VMs' QMP sockets are (any depth), or a lab's directory (its lab.json).",
        ),
    ] = None,
    backend: Annotated[str, typer.Option(help="qemu (libvirt: not yet).")] = "qemu",
    policy: Annotated[
        str | None,
        typer.Option("--policy", "-p", help="Policy (default: the lab's, else juggler)."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval", "-i", help="Between decisions, e.g. 5s (default: the lab's, else 5s)."
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", "-d", help="How long, e.g. 10m (default: until Ctrl-C)."),
    ] = None,
    host_memory: Annotated[
        str | None,
        typer.Option(
            "--host-memory",
            help="Memory the VMs share, when less than the "
            "machine's (without a lab's cgroup), e.g. 4GiB.",
        ),
    ] = None,
    json_output: JsonOutput = False,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run file to write (default: runs/run-<dir>-...)."),
    ] = None,
    metrics_addr: Annotated[
        str | None,
        typer.Option(
            "--metrics-addr",
            help=f"Serve live metrics for Prometheus at HOST:PORT (default "
            f"{DEFAULT_METRICS_ADDR}; 'off' serves none).",
        ),
    ] = DEFAULT_METRICS_ADDR,
    top: Annotated[
        bool, typer.Option("--top", help="Watch the VMs live in `juggler top`; q stops managing.")
    ] = False,
) -> None:
    """Manage running VMs (a `lab up` lab, or any QEMU with a QMP socket) until the
    duration ends or Ctrl-C; the VMs keep running. Summarizes like `simulate`."""
    import time as clock

    from juggler.manage import discover, manage
    from juggler.units import parse_size

    if backend == "libvirt":
        _fail("--backend libvirt is not implemented yet; use --backend qemu")
    if backend != "qemu":
        _fail(f"--backend {backend!r}: must be qemu (or, later, libvirt)")
    if socket_dir is None:
        _fail("--socket-dir is needed with --backend qemu")
    duration_s = _duration_option(duration)
    interval_s = _duration_option(interval, "--interval", "5s")
    host_bytes = None
    if host_memory is not None:
        try:
            host_bytes = parse_size(host_memory)
        except ValueError as error:
            _fail(f"--host-memory: {error}")
    try:
        target = discover(socket_dir)
        path = out_path or Path("runs") / (
            f"run-{target.directory.name}-{clock.strftime('%Y%m%d-%H%M%S')}.sqlite"
        )
        names = ", ".join(vm.name for vm in target.vms)
        err.print(
            f"managing {escape(names)} ({target.source} in "
            f"{escape(str(target.directory))}); "
            f"{'until Ctrl-C' if duration_s is None else format_duration(duration_s)}",
            highlight=False,
            soft_wrap=True,
        )
        with contextlib.ExitStack() as stack:
            exporter = None
            if metrics_addr not in (None, "off"):
                from juggler.diagnose import diagnose as diagnose_findings

                exporter = stack.enter_context(
                    exporting(
                        metrics_addr,
                        run=path,
                        diagnose=diagnose_findings,
                        info={
                            "scenario": target.directory.name,
                            "policy": policy or "",
                            "backend": "qemu",
                        },
                    )
                )
                _say_serving(exporter)

            def work(stop: threading.Event | None = None) -> RunSummary:
                return manage(
                    target,
                    path,
                    policy=policy,
                    interval_s=interval_s,
                    duration_s=duration_s,
                    host_memory_bytes=host_bytes,
                    recorder=exporter,
                    stop=stop,
                )

            if top:
                from juggler.top import run_with_top

                summary = run_with_top(path, work)
            else:
                summary = work()
    except JugglerError as error:
        _fail(error)
    if json_output:
        out.print_json(summary.to_json())
        return
    print_summary(summary, f"running VMs in {socket_dir}")


def _register_subcommands() -> None:
    from juggler.lab.cli import lab_app

    app.add_typer(lab_app, name="lab")


_register_subcommands()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

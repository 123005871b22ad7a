"""``juggler simulate`` and ``juggler compare``: scenarios on the simulated host."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from juggler.cli.options import (
    JsonOutput,
    PolicyOverride,
    ProfileOverride,
    ScenarioFile,
    duration_option,
    load_scenario_argument,
    overridden_scenario,
)
from juggler.cli.output import (
    check_report_path,
    err,
    fail,
    out,
    print_comparison,
    progress_bar,
    serve_run_metrics,
    show_summary,
    write_run_report,
)
from juggler.errors import JugglerError
from juggler.metrics.exporter import DEFAULT_METRICS_ADDR
from juggler.units import format_duration

#: simulated seconds per wall second of ``simulate --serve`` (10 minutes of the seed
#: story in one minute: fast enough to watch, slow enough for a 5 s scrape interval)
SERVE_SPEED = 10.0


def simulate(
    scenario: ScenarioFile = None,
    policy: PolicyOverride = None,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Simulated time, e.g. 10m, 90s.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Random seed (0 or more).")
    ] = None,
    profile: ProfileOverride = None,
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

    duration_s = duration_option(duration)
    serve = serve or metrics_addr is not None
    if speed is not None and not speed > 0:
        fail(f"--speed: {speed:g} must be more than 0 (simulated seconds per wall second)")
    pace = speed if speed is not None else (SERVE_SPEED if serve else (1.0 if top else None))
    if policy is not None:
        try:
            get_policy(policy)
        except JugglerError as error:
            fail(f"--policy: {error}")
    try:
        loaded, text, source = load_scenario_argument(scenario)
        loaded = overridden_scenario(
            loaded,
            source,
            policy=policy,
            duration=duration,
            duration_s=duration_s,
            seed=seed,
            profile=profile,
        )
        path = out_path or default_run_path(loaded)
        if report is not None:
            check_report_path(report)
        progress = progress_bar("{task.fields[simulated]}", quiet=quiet or top)
        with contextlib.ExitStack() as stack:
            exporter = None
            if serve:
                exporter = serve_run_metrics(
                    stack,
                    metrics_addr or DEFAULT_METRICS_ADDR,
                    path,
                    {"scenario": loaded.name, "policy": loaded.manager.policy, "backend": "sim"},
                    f" ({pace:g} simulated seconds per second)",
                )
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
            write_run_report(path, report)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except JugglerError as error:
        fail(error)
    show_summary(summary, source, as_json=json_output)


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
    profile: ProfileOverride = None,
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

    duration_s = duration_option(duration)
    try:
        names = cmp.parse_policies(policies or ",".join(sorted(POLICIES)), POLICIES)
    except JugglerError as error:
        fail(f"--policies: {error}")
    try:
        if dask is not None:
            cmp.import_distributed()
            # distributed sets its loggers to INFO; follow --verbose instead
            logging.getLogger("distributed").setLevel(logging.getLogger().level)
        files = cmp.load_scenario_files([str(path) for path in scenarios or []])
        if report is not None:
            check_report_path(report)
        work = cmp.build_jobs(
            files, names, seeds, out_dir or cmp.default_out_dir(), duration_s, profile
        )
        progress = progress_bar("{task.completed}/{task.total} runs", quiet=quiet)
        with progress:
            task = progress.add_task(f"comparing {len(names)} policies", total=len(work))
            rows = cmp.run_jobs(work, jobs, dask, on_done=lambda row: progress.advance(task))
        rows = cmp.with_excess_slowdown(rows)
        if csv_path is not None:
            cmp.write_csv(rows, csv_path)
        if report is not None:
            from juggler.report import write_compare_report

            write_compare_report(rows, seeds, report)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except JugglerError as error:
        fail(error)
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

"""``juggler fidelity``: one scenario in the lab and on the simulator, side by side.

Three ways in, one table out (:func:`juggler.fidelity.compare_runs`):

- ``juggler fidelity SCENARIO --scale S --policies juggler,static -o DIR``: runs each
  policy in the lab (real QEMU guests) and on the simulator, matched
  (:mod:`juggler.lab.fidelity`), keeping the run files in DIR;
- ``juggler fidelity --from DIR_OR_FILE ...``: the table again from run files already
  recorded, nothing run;
- ``juggler fidelity --from DIR --resimulate``: the lab's recorded runs against fresh
  simulations of what each ran (after the simulator changed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from juggler.cli.options import (
    Accel,
    ScenarioFile,
    duration_option,
    load_scenario_argument,
    overridden_scenario,
)
from juggler.cli.output import check_report_path, err, fail, out, wide
from juggler.errors import JugglerError
from juggler.units import format_size

if TYPE_CHECKING:
    from juggler.fidelity import FidelityRow, FidelityTable

#: the scale ``juggler fidelity SCENARIO`` runs at unless told (``lab run``'s default)
DEFAULT_SCALE = 0.25
DEFAULT_POLICIES = "juggler,static"


def fidelity(
    scenario: ScenarioFile = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="Fraction of the scenario's sizes the lab boots and the simulator gets "
            f"(0 < scale <= 1; default {DEFAULT_SCALE:g}; with --from, the run files')."
        ),
    ] = None,
    policies: Annotated[
        str | None,
        typer.Option(
            "--policies",
            "-p",
            help=f"Comma-separated policies (default {DEFAULT_POLICIES}; with --from, "
            "every policy the files hold). Throughput is relative to static.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", "-d", help="Run time in both worlds, e.g. 90s."),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print the table as JSON on stdout (scenario, scale, rows)."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also draw both worlds' trajectories as this HTML file."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            "-o",
            help="Where the run files go (default runs/fidelity-<scenario>-<time>; with "
            "--resimulate, the lab runs' directory).",
        ),
    ] = None,
    recorded: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Compare run files already recorded: lab (qemu) and simulated run files, "
            "or directories of them (their *.sqlite); repeat for several.",
        ),
    ] = None,
    resimulate: Annotated[
        bool,
        typer.Option(
            "--resimulate",
            help="With --from: keep the lab runs, simulate again what each ran.",
        ),
    ] = False,
    accel: Accel = "auto",
) -> None:
    """Run a scenario in the lab and on the simulator with the same scaled sizes and
    print, per VM and for the host, each figure in both worlds and the simulator's
    relative error; rows outside the goal (25%, or 32 MiB where small) are marked."""
    from juggler import fidelity as fid

    duration_s = duration_option(duration)
    if scale is not None and not 0 < scale <= 1:
        fail(f"--scale: {scale:g} must be more than 0 and at most 1")
    names = _policies(policies) if policies is not None else None
    if report is not None:
        try:
            check_report_path(report)
        except JugglerError as error:
            fail(error)
    try:
        if recorded:
            if scenario is not None:
                fail("give a SCENARIO to run, or --from run files to compare, not both")
            if scale is not None or duration is not None:
                fail("--scale and --duration are the run files' with --from; leave them out")
            lab, sim = _recorded(recorded, resimulate, out_dir)
        else:
            if resimulate:
                fail("--resimulate needs --from: the lab runs to simulate again")
            lab, sim = _run_both(
                scenario,
                scale if scale is not None else DEFAULT_SCALE,
                names or _policies(DEFAULT_POLICIES),
                duration,
                duration_s,
                out_dir,
                accel,
            )
        table = fid.compare_runs(lab, sim, policies=names)
        if report is not None:
            from juggler.report import write_fidelity_report

            write_fidelity_report(table, report)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except JugglerError as error:
        fail(error)
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/] the VMs, the cgroup and the host swap are gone")
        raise typer.Exit(130) from None
    if json_output:
        out.print_json(table.to_json())
    else:
        print_fidelity(table)


def _policies(text: str) -> list[str]:
    from juggler.compare import parse_policies
    from juggler.policy import POLICIES

    try:
        return parse_policies(text, POLICIES)
    except JugglerError as error:
        fail(f"--policies: {error}")


def _run_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.sqlite"))
            if not found:
                fail(f"--from {path}: the directory holds no run file (*.sqlite)")
            files += found
        elif not path.exists():
            fail(f"--from {path}: no such file or directory")
        else:
            files.append(path)
    return files


def _recorded(
    paths: list[Path], resimulate: bool, out_dir: Path | None
) -> tuple[dict[str, Path], dict[str, Path]]:
    from juggler.fidelity import sort_runs

    lab, sim = sort_runs(_run_files(paths))
    if not resimulate:
        return lab, sim
    if not lab:
        fail("--resimulate: --from gave no lab run (a run file whose backend is qemu)")
    from juggler.lab.fidelity import resimulate as simulate_again

    target = out_dir or next(iter(lab.values())).parent
    return lab, simulate_again(list(lab.values()), target, say=_say)


def _say(line: str) -> None:
    """Progress goes to stderr, so stdout is the table (or the JSON) alone."""
    err.print(escape(line), highlight=False, soft_wrap=True)


def _run_both(
    scenario: str | None,
    scale: float,
    names: list[str],
    duration: str | None,
    duration_s: float | None,
    out_dir: Path | None,
    accel: str,
) -> tuple[dict[str, Path], dict[str, Path]]:
    import time

    from juggler.lab.fidelity import run_fidelity

    loaded, text, source = load_scenario_argument(scenario)
    loaded = overridden_scenario(
        loaded, source, policy=None, duration=duration, duration_s=duration_s
    )
    target = out_dir or Path("runs") / f"fidelity-{loaded.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return run_fidelity(loaded, scale, names, target, scenario_text=text, accel=accel, say=_say)


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric.endswith("_bytes"):
        return format_size(round(value))
    if metric == "throughput_vs_static":
        return f"{value:.3f}×"
    return f"{value:g}"


def _goal(row: FidelityRow) -> Text:
    meets = row.meets_goal()
    if meets is None:
        return Text("")
    return Text("ok", style="green") if meets else Text("miss", style="bold red")


def print_fidelity(table: FidelityTable) -> None:
    """One table per policy: each VM's figures (then the host's) in both worlds."""
    from juggler.fidelity import BASELINE

    console = wide()
    for policy in table.policies:
        rich_table = Table(
            title=f"{table.scenario} · scale {table.scale:g} · policy {policy} · lab vs simulator",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for column in ("VM", "metric", "lab", "sim", "error", "goal"):
            rich_table.add_column(column, justify="left" if column in ("VM", "metric") else "right")
        last_vm = None
        for row in table.rows:
            if row.policy != policy:
                continue
            if last_vm is not None and row.vm != last_vm:
                rich_table.add_section()
            last_vm = row.vm
            error = "-" if row.relative_error is None else f"{row.relative_error:+.1%}"
            rich_table.add_row(
                row.vm,
                row.metric,
                _value(row.metric, row.lab),
                _value(row.metric, row.sim),
                error,
                _goal(row),
            )
        console.print(rich_table)
        runs = table.runs[policy]
        for world in ("lab", "sim"):
            console.print(
                f"  {world}: {escape(runs[world] or 'no run file')}",
                highlight=False,
                soft_wrap=True,
            )
        boot, final = table.overheads[policy]
        if boot is not None:
            console.print(
                f"  the lab's QEMU overhead, outside the guests' share: {format_size(boot)} at "
                f"boot, {format_size(final)} at the end",
                highlight=False,
            )
    throughputs = [row for row in table.rows if row.metric == "throughput_vs_static"]
    if throughputs and all(row.lab is None and row.sim is None for row in throughputs):
        console.print(
            f"no throughput_vs_static: it needs a {BASELINE} run in each world (run {BASELINE} "
            "too, or give its run files)"
        )
    misses = sum(1 for row in table.rows if row.meets_goal() is False)
    console.print(
        "error: (sim − lab) / lab; goal: a total within 25% of the lab or within 32 MiB, "
        "a throughput on the same side of 1 as the lab's (within 2%: no change); "
        f"[bold]{misses}[/] row{'s' if misses != 1 else ''} miss it"
    )

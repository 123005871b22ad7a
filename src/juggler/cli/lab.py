"""``juggler lab``: build the guest image, boot a trial VM, run a scenario for real.

A typer sub-app (``lab_app``) that ``juggler.cli.app`` registers with
``app.add_typer(lab_app, name="lab")``. Like the main CLI it prints a
:class:`~juggler.errors.JugglerError` as one line and exits with status 2.
Logging is configured by the main CLI, not here.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from juggler.backends import QemuBackend, QemuVm
from juggler.cli.options import (
    Accel,
    FreePageReporting,
    HostSwap,
    JsonOutput,
    PolicyOverride,
    Scale,
    ScenarioFile,
    duration_option,
    load_scenario_argument,
    overridden_scenario,
)
from juggler.cli.output import err, fail, out, serve_run_metrics, show_summary, wide
from juggler.errors import JugglerError
from juggler.lab.image import build_image
from juggler.lab.vm import LabVm, VmSpec
from juggler.units import format_size, parse_duration, parse_size

if TYPE_CHECKING:
    from juggler.lab.calibration import Measured
    from juggler.summary import RunSummary

lab_app = typer.Typer(
    help="The lab: tiny real QEMU guests with a virtio balloon and a workload.",
    no_args_is_help=True,
)


@contextlib.contextmanager
def _lab_errors() -> Iterator[None]:
    """A command that boots VMs: an error is one line (exit 2); Ctrl-C says the lab
    was torn down (the boot and run code removes everything on the way out) and
    exits 130."""
    try:
        yield
    except JugglerError as error:
        fail(error)
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/] the VMs, the cgroup and the host swap are gone")
        raise typer.Exit(130) from None


@lab_app.command()
def build(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached.")] = False,
) -> None:
    """Build (or find in the cache) the guest kernel + initramfs."""
    started = time.monotonic()
    try:
        image = build_image(force=force)
    except JugglerError as error:
        fail(error)
    out.print(
        f"guest image [bold]{image.key}[/] ({image.kernel_release}) ready in "
        f"{time.monotonic() - started:.1f} s"
    )
    out.print(f"  kernel {image.kernel}\n  initrd {image.initrd}")


@lab_app.command()
def boot(
    memory: Annotated[str, typer.Option(help="Guest memory, such as 256MiB.")] = "256MiB",
    phases: Annotated[
        str, typer.Option(help="Workload phases DUR:SIZE_MIB:PATTERN:RATE,... (workload.c).")
    ] = "0:64:uniform:50000",
    swap: Annotated[str, typer.Option(help="Guest swap disk size (0: none).")] = "0",
    duration: Annotated[str, typer.Option(help="How long to run before stopping.")] = "20s",
    accel: Accel = "auto",
) -> None:
    """Boot one trial VM, show what it reports for a while, and stop it."""
    try:
        spec = VmSpec("trial", parse_size(memory), phases=phases, swap_bytes=parse_size(swap))
        seconds = parse_duration(duration)
    except ValueError as error:
        fail(error)
    try:
        with LabVm(spec, build_image(), accel=accel) as vm:
            out.print(f"booted under {vm.accel} in {vm.boot_seconds:.1f} s (pid {vm.pid})")
            with QemuBackend([QemuVm("trial", vm.qmp_path)]) as backend:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    time.sleep(2)
                    obs = backend.observe()
                    if "trial" in obs.missing:
                        fail(obs.missing["trial"])
                    sample = obs.vm("trial")
                    report = vm.reports()[-1:] or None
                    last = (
                        f"accesses {report[0].accesses}/s p99 {report[0].p99_us} us"
                        if report
                        else "no report yet"
                    )
                    out.print(
                        f"resident {format_size(sample.resident_bytes)}, guest total "
                        f"{format_size(sample.guest_total_bytes)}, free "
                        f"{format_size(sample.guest_free_bytes)}; {last}"
                    )
    except JugglerError as error:
        fail(error)


@lab_app.command()
def run(
    scenario: ScenarioFile = None,
    policy: PolicyOverride = None,
    scale: Scale = 0.25,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Real time to run, e.g. 90s.")
    ] = None,
    json_output: JsonOutput = False,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run file to write (default: runs/lab-<scenario>-...)."),
    ] = None,
    accel: Accel = "auto",
    free_page_reporting: FreePageReporting = False,
    host_swap: HostSwap = None,
    metrics_addr: Annotated[
        str | None,
        typer.Option(
            "--metrics-addr",
            help="Serve live metrics for Prometheus at HOST:PORT (such as 127.0.0.1:9177; "
            "port 0 picks a free one) while the run goes; off when not given.",
        ),
    ] = None,
    top: Annotated[
        bool,
        typer.Option(
            "--top",
            help="Watch the run live in `juggler top`; q stops it early "
            "(the lab is torn down and the summary printed).",
        ),
    ] = False,
) -> None:
    """Boot a scenario's VMs (scaled) in a memory cgroup playing the host, manage them
    with the policy for the duration, summarize like ``simulate``, and tear down."""
    from juggler.lab.run import run_lab
    from juggler.policy import get_policy
    from juggler.policy.base import check_backend
    from juggler.simulate import default_run_path

    duration_s = duration_option(duration)
    with _lab_errors():
        if policy is not None:
            get_policy(policy)
        loaded, text, source = load_scenario_argument(scenario)
        loaded = overridden_scenario(
            loaded, source, policy=policy, duration=duration, duration_s=duration_s
        )
        # refused before anything boots
        check_backend(get_policy(loaded.manager.policy), has_truth=False, backend="lab's qemu")
        path = out_path or default_run_path(loaded).with_name(
            f"lab-{default_run_path(loaded).name}"
        )
        say = (
            (lambda line: err.print(escape(line)))
            if json_output
            else (lambda line: out.print(escape(line)))
        )
        with contextlib.ExitStack() as stack:
            exporter = None
            if metrics_addr is not None:  # bound before any VM boots: a busy port fails fast
                exporter = serve_run_metrics(
                    stack,
                    metrics_addr,
                    path,
                    {"scenario": loaded.name, "policy": loaded.manager.policy, "backend": "qemu"},
                )

            def work(stop: threading.Event | None, say: Callable[[str], None]) -> RunSummary:
                return run_lab(
                    loaded,
                    path,
                    scale=scale,
                    accel=accel,
                    free_page_reporting=free_page_reporting,
                    host_swap=host_swap,
                    scenario_text=text,
                    say=say,
                    recorder=exporter,
                    stop=stop,
                )

            summary = _run_lab_with_top(path, say, work) if top else work(None, say)
    show_summary(summary, f"{source}, lab at scale {scale:g}", as_json=json_output)


@lab_app.command()
def up(
    scenario: ScenarioFile = None,
    scale: Scale = 0.25,
    name: Annotated[
        str | None, typer.Option("--name", help="The lab's name (default: the scenario's).")
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where lab.json and the sockets go (default: "
            "/run/juggler/lab-NAME; must be new or empty).",
        ),
    ] = None,
    accel: Accel = "auto",
    free_page_reporting: FreePageReporting = False,
    host_swap: HostSwap = None,
) -> None:
    """Boot a scenario's VMs (scaled) in a memory cgroup playing the host, as `lab run`
    does, and leave them running: manage them with `juggler run`, remove them with
    `juggler lab down`."""
    from juggler.lab.up import lab_up

    with _lab_errors():
        loaded, _, _ = load_scenario_argument(scenario)
        state = lab_up(
            loaded,
            name=name,
            directory=directory,
            scale=scale,
            accel=accel,
            free_page_reporting=free_page_reporting,
            host_swap=host_swap,
            say=lambda line: out.print(escape(line), soft_wrap=True, highlight=False),
        )
    out.print(
        f"lab [bold]{escape(state.name)}[/] is up: {len(state.vms)} VMs under "
        f"{state.accel}, cgroup {escape(state.cgroup)} (limit "
        f"{format_size(state.cgroup_limit_bytes)})",
        soft_wrap=True,
    )
    for vm in state.vms:
        out.print(
            f"  {escape(vm.name)}: QMP {escape(vm.qmp_socket)}, QEMU pid {vm.pid}, "
            f"console {escape(vm.console)}",
            soft_wrap=True,
            highlight=False,
        )
    if state.host_swap_file:
        out.print(f"  host swap file {escape(state.host_swap_file)}", soft_wrap=True)
    out.print(f"state in {escape(str(Path(state.dir) / 'lab.json'))}; next:", soft_wrap=True)
    out.print(
        f"  juggler run --backend qemu --socket-dir {escape(state.dir)} --policy {state.policy}",
        soft_wrap=True,
        highlight=False,
    )
    out.print(f"  juggler lab down {escape(state.name)}", highlight=False)


@lab_app.command()
def down(
    name: Annotated[
        str | None, typer.Argument(help="The lab to take down (default: the only one up).")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="The lab whose lab.json is in this directory.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every lab that is up.")] = False,
) -> None:
    """Stop a lab's VMs and remove its cgroup, host swap file and directories; also
    what stale labs and killed `lab run`s left. Nothing up: says so."""
    from juggler.lab.up import lab_down

    if sum((name is not None, directory is not None, every)) > 1:
        fail("give one of NAME, --dir and --all")
    try:
        downed = lab_down(name, directory, every)
    except JugglerError as error:
        fail(error)
    if not downed:
        what = name or (directory and str(directory))
        out.print(f"no lab {escape(what)} is up" if what else "no lab is up")
        return
    for lab_name, removed in downed.items():
        out.print(
            f"lab [bold]{escape(lab_name)}[/] is down: {escape('; '.join(removed))}",
            soft_wrap=True,
            highlight=False,
        )


@lab_app.command()
def calibrate(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Profile to write (default: calibration-<UTC time>.toml)."
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Repeats of each measurement.")
    ] = 3,
    quick: Annotated[
        bool, typer.Option("--quick", help="One repeat of everything (a short check).")
    ] = False,
    accel: Accel = "auto",
) -> None:
    """Measure the simulator's parameters on real guests (balloon speed and vCPU cost,
    re-touch cost, host swap rates and victim order, QEMU overhead, boot-reserved
    memory) and write them as a host profile for `[host] profile = "PATH"`."""
    from juggler.lab.calibrate import calibrate as run_calibration
    from juggler.lab.calibrate import default_output_path
    from juggler.profile import dump_profile, load_profile

    path = output or default_output_path()
    if path.suffix != ".toml":
        fail(f"--output(={path}) must end in .toml (a scenario loads profiles by that suffix)")
    if path.parent != Path() and not path.parent.is_dir():
        fail(f"--output: directory {path.parent} does not exist")
    with _lab_errors():
        result = run_calibration(
            1 if quick else repeats,
            accel=accel,
            say=lambda line: out.print(escape(line), highlight=False, soft_wrap=True),
        )
        path.write_text(dump_profile(result.profile), encoding="utf-8")
        load_profile(str(path))  # what a scenario will read: it must load
    _print_calibration(result.rows)
    out.print(
        f"profile written to [bold]{escape(str(path))}[/] ({result.accel}, "
        f'{result.seconds:.0f} s); use it with \\[host] profile = "{escape(str(path))}"',
        soft_wrap=True,
    )


def _print_calibration(rows: list[Measured]) -> None:
    from rich.table import Table

    table = Table(title="calibration", title_justify="left")
    for column in ("parameter", "median", "min - max", "spread", "unit", "note"):
        table.add_column(column, justify="left" if column in ("parameter", "note") else "right")
    for row in rows:
        spread = "-" if row.spread is None else f"{row.spread:.0%}"
        table.add_row(
            row.name,
            _figure(row.median, row.unit),
            f"{_figure(min(row.values), row.unit)} - {_figure(max(row.values), row.unit)}"
            if len(row.values) > 1
            else "-",
            spread,
            row.unit,
            row.note,
        )
    wide().print(table)


def _figure(value: float, unit: str) -> str:
    """A measured figure: sizes and rates in binary units, the rest in 3 significant digits."""
    if unit in ("B", "B/GiB"):
        return format_size(value)
    if unit == "B/s":
        return f"{format_size(value)}/s"
    return f"{value:.3g}"


def _run_lab_with_top(
    path: Path,
    say: Callable[[str], None],
    work: Callable[[threading.Event, Callable[[str], None]], RunSummary],
) -> RunSummary:
    """``work`` (the lab run) beside ``juggler top`` on its run file; the lines the lab
    says while the screen is up (boots, the cgroup's limit) are held and said after it
    closes, since printing under a full-screen view would garble it."""
    from juggler.top import run_with_top

    held: list[str] = []
    try:
        return run_with_top(path, lambda stop: work(stop, held.append))
    finally:
        for line in held:
            say(line)

"""``juggler run``: manage VMs that are already running (a lab that is up, or any QEMU)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from juggler.cli.options import JsonOutput, duration_option, parsed_option
from juggler.cli.output import err, fail, serve_run_metrics, show_summary
from juggler.errors import JugglerError
from juggler.metrics.exporter import DEFAULT_METRICS_ADDR
from juggler.units import format_duration

if TYPE_CHECKING:
    from juggler.summary import RunSummary


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
    from juggler.policy import get_policy
    from juggler.policy.base import check_backend
    from juggler.units import parse_size

    if backend == "libvirt":
        fail("--backend libvirt is not implemented yet; use --backend qemu")
    if backend != "qemu":
        fail(f"--backend {backend!r}: must be qemu (or, later, libvirt)")
    if socket_dir is None:
        fail("--socket-dir is needed with --backend qemu")
    duration_s = duration_option(duration)
    interval_s = duration_option(interval, "--interval", "5s")
    host_bytes = None
    if host_memory is not None:
        host_bytes = parsed_option(parse_size, host_memory, "--host-memory")
    try:
        if policy is not None:  # refused before any socket is looked for
            check_backend(get_policy(policy), has_truth=False, backend="qemu")
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
                exporter = serve_run_metrics(
                    stack,
                    metrics_addr,
                    path,
                    {"scenario": target.directory.name, "policy": policy or "", "backend": "qemu"},
                )

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
        fail(error)
    show_summary(summary, f"running VMs in {socket_dir}", as_json=json_output)

"""The ``juggler`` command line (typer + rich). The only module that configures logging.

Every user error is a :class:`~juggler.errors.JugglerError`, printed as one
clear message with exit status 2; a traceback means a bug in juggler.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.logging import RichHandler

from juggler import __version__
from juggler.cli.fidelity import fidelity
from juggler.cli.inspect import diagnose, report, top
from juggler.cli.lab import lab_app
from juggler.cli.output import err, out
from juggler.cli.run import run_vms
from juggler.cli.simulate import compare, simulate

app = typer.Typer(
    name="juggler",
    help="Manage the memory of over-committed virtual machines: simulate, compare, diagnose.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def _register_subcommands() -> None:
    """The commands in the order ``juggler --help`` lists them."""
    app.command()(simulate)
    app.command()(compare)
    app.command()(diagnose)
    app.command()(top)
    app.command()(report)
    app.command("run")(run_vms)
    app.add_typer(lab_app, name="lab")
    app.command()(fidelity)


_register_subcommands()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)

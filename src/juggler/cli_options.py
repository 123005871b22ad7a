"""Command-line options that several commands share, declared once.

Why a module of its own: ``cli.py`` registers ``lab/cli.py``'s commands, so the
two cannot import each other at load time; both import these instead, and an
option reads the same (name, help, default) wherever it appears.
"""

from __future__ import annotations

from typing import Annotated

import typer

ScenarioFile = Annotated[
    str | None,
    typer.Argument(help="Scenario TOML file; the built-in seed story when omitted."),
]

PolicyOverride = Annotated[
    str | None, typer.Option("--policy", "-p", help="Policy (overrides the scenario's).")
]

JsonOutput = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]

Scale = Annotated[
    float, typer.Option(help="Fraction of the scenario's sizes the lab boots (0 < scale <= 1).")
]

Accel = Annotated[str, typer.Option(help="auto, kvm or tcg.")]

FreePageReporting = Annotated[
    bool,
    typer.Option(
        "--free-page-reporting",
        help="Guests hand freed pages back to the host (virtio-balloon free page reporting).",
    ),
]

HostSwap = Annotated[
    bool | None,
    typer.Option(
        "--host-swap/--no-host-swap",
        help="Enable a swap file of host.swap × scale while the VMs run, so the host swaps "
        "guest memory instead of OOM-killing a VM (default: when the scenario's host has "
        "swap; needs root).",
        show_default=False,
    ),
]

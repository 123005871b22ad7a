"""Command-line options that several commands share, declared once, and what their
values turn into (a duration in seconds, a scenario).

An option reads the same (name, help, default) wherever it appears, and a bad
value gets the same message from every command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from juggler.cli.output import fail
from juggler.units import parse_duration

if TYPE_CHECKING:
    from juggler.scenario import Scenario

T = TypeVar("T")

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


def parsed_option(parse: Callable[[str], T], value: str, flag: str) -> T:
    """``parse(value)``, exiting with a message that names ``flag`` when ``value`` is
    not what ``parse`` reads (the parsers' messages say what a valid value looks like).

    :param parse: a parser that raises ValueError, such as :func:`~juggler.units.parse_size`.
    :param value: what the user typed.
    :param flag: the option, for the message: ``--refresh: '1x' is not a duration ...``.
    :return: the parsed value.
    """
    try:
        return parse(value)
    except ValueError as error:
        fail(f"{flag}: {error}")


def duration_option(
    duration: str | None, flag: str = "--duration", example: str = "30s or 10m"
) -> float | None:
    """A positive time option (``--duration`` unless ``flag`` says) in seconds, None
    when not given; exits on a bad value."""
    if duration is None:
        return None
    duration_s = parsed_option(parse_duration, duration, flag)
    if duration_s <= 0:
        fail(f"{flag}: {duration!r} must be more than 0 (such as {example})")
    return duration_s


def load_scenario_argument(scenario: str | None) -> tuple[Any, str, str]:
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


def overridden_scenario(
    scenario: Scenario,
    source: str,
    *,
    policy: str | None,
    duration: str | None,
    duration_s: float | None,
    seed: int | None = None,
    profile: str | None = None,
) -> Scenario:
    """The scenario with the options given on the command line over its own values,
    its source naming them (``examples/seed.toml with --policy static``) so the run
    file and any error say how it was run.

    :param source: where the scenario came from, as :func:`load_scenario_argument` says.
    :param duration: ``--duration`` as typed, for the source; ``duration_s`` its seconds.
    :raise ScenarioError: When the overrides make the scenario invalid.
    """
    options = [
        f"{flag} {value}"
        for flag, value in (
            ("--policy", policy),
            ("--duration", duration),
            ("--seed", seed),
            ("--profile", profile),
        )
        if value is not None
    ]
    return scenario.with_overrides(
        policy=policy,
        duration_s=duration_s,
        seed=seed,
        profile=profile,
        source=f"{source} with {' '.join(options)}" if options else source,
    )


ProfileOverride = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Host profile the simulator runs with (overrides the scenario's [host] profile): "
        "kvm, tcg, free, or a profile TOML file (juggler lab calibrate writes one).",
    ),
]

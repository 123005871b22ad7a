"""Numbers as juggler shows them to people, written once for every view: the CLI's
tables, the HTML report and ``juggler top``.

:mod:`juggler.units` parses what operators type and formats sizes and durations;
this module adds what only the views need (latencies, rates, how bad a slowdown
is, the host's time per state), so that a run reads the same in the terminal,
in the page and in the live view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from juggler.units import format_duration, format_size

#: slowdowns above these are marked: the VM runs visibly (warn) or badly (bad) slower
SLOWDOWN_WARN = 1.1
SLOWDOWN_BAD = 1.5

SlowdownLevel = Literal["bad", "warn", ""]

_LATENCY_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6))


def format_rate(bytes_per_s: float | None) -> str:
    """A byte rate in binary units: ``4 MiB/s``, ``0 B/s``; ``-`` for unknown."""
    return "-" if bytes_per_s is None else f"{format_size(bytes_per_s)}/s"


def format_latency(seconds: float | None, *, compact: bool = False) -> str:
    """A latency in three significant digits of the unit that reads best: ``850 ns``,
    ``1.8 µs``, ``180 µs``, ``12 ms``, ``1.2 s``; ``-`` for unknown.

    A value that rounds to 1.00 of the larger unit is written in it (``1 ms``, not
    ``1e+03 µs``).

    :param seconds: the latency, or None when unknown.
    :param compact: ``1.8us``: no space and ASCII ``us``, for a terminal cell where
        every column counts.
    :return: the text.
    """
    if seconds is None:
        return "-"
    unit, scale = "ns", 1e-9
    for name, size in _LATENCY_UNITS:
        if seconds >= size * 0.9995:
            unit, scale = name, size
            break
    if compact:
        return f"{seconds / scale:.3g}{unit.replace('µ', 'u')}"
    return f"{seconds / scale:.3g} {unit}"


def format_reported_latency(seconds: float | None) -> str:
    """A workload's reported latency in a run's summary, as :func:`format_latency`
    writes it; 0 means the workload timed no access, so it reads ``-`` like an unknown."""
    return format_latency(seconds or None)


def slowdown_level(slowdown: float | None) -> SlowdownLevel:
    """How a slowdown is marked: ``bad`` above 1.5x, ``warn`` above 1.1x, else ``""``
    (also when unknown)."""
    if (slowdown or 0) > SLOWDOWN_BAD:
        return "bad"
    return "warn" if (slowdown or 0) > SLOWDOWN_WARN else ""


def format_host_states(seconds_in_state: Mapping[str, float]) -> str:
    """The time the host spent in each state it entered: ``high 9m46s, soft 14s``."""
    entered = ((name, seconds) for name, seconds in seconds_in_state.items() if seconds)
    return ", ".join(f"{name} {format_duration(seconds)}" for name, seconds in entered)

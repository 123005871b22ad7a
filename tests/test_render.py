"""Numbers as every view shows them (juggler.render)."""

from __future__ import annotations

import pytest

from juggler.render import (
    format_host_states,
    format_latency,
    format_rate,
    format_reported_latency,
    slowdown_level,
)
from juggler.units import MIB


@pytest.mark.parametrize(
    ("seconds", "text", "compact"),
    [
        (None, "-", "-"),
        (8.5e-7, "850 ns", "850ns"),
        (1e-6, "1 µs", "1us"),
        (1.8e-4, "180 µs", "180us"),
        (0.9996e-3, "1 ms", "1ms"),  # rounds to 1.00 ms: not "1e+03 µs"
        (0.9994e-3, "999 µs", "999us"),
        (0.012, "12 ms", "12ms"),
        (1.2, "1.2 s", "1.2s"),
        (90.0, "90 s", "90s"),
    ],
)
def test_latency_reads_in_the_unit_that_reads_best(
    seconds: float | None, text: str, compact: str
) -> None:
    assert format_latency(seconds) == text
    assert format_latency(seconds, compact=True) == compact


def test_a_reported_latency_of_0_is_unknown() -> None:
    assert [format_reported_latency(s) for s in (None, 0.0, 8.71e-6)] == ["-", "-", "8.71 µs"]


def test_rate_is_a_size_per_second() -> None:
    assert [format_rate(v) for v in (None, 0, 4 * MIB, 1.5 * 1024 * MIB)] == [
        "-",
        "0 B/s",
        "4 MiB/s",
        "1.5 GiB/s",
    ]


@pytest.mark.parametrize(
    ("slowdown", "level"),
    [(None, ""), (1.0, ""), (1.1, ""), (1.11, "warn"), (1.5, "warn"), (1.51, "bad")],
)
def test_slowdown_is_marked_above_1_1_and_1_5(slowdown: float | None, level: str) -> None:
    assert slowdown_level(slowdown) == level


def test_host_states_list_only_the_states_entered() -> None:
    assert format_host_states({"high": 586.0, "soft": 14.0, "low": 0.0}) == "high 9m46s, soft 14s"
    assert format_host_states({"high": 0.0}) == ""

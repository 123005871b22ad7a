"""Sizes, durations and rates: what operators may write, and what is refused (and how)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from juggler.units import (
    GIB,
    KIB,
    MIB,
    TIB,
    format_duration,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

# ---------------------------------------------------------------- parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # IEC
        ("1KiB", KIB),
        ("512MiB", 512 * MIB),
        ("2GiB", 2 * GIB),
        ("1TiB", TIB),
        ("2gib", 2 * GIB),
        # SI
        ("1kB", 1000),
        ("1MB", 1000**2),
        ("3GB", 3 * 1000**3),
        ("1TB", 1000**4),
        # bare K/M/G/T, as QEMU writes them, are binary
        ("1K", KIB),
        ("64M", 64 * MIB),
        ("1G", GIB),
        ("1T", TIB),
        # bytes
        ("4096", 4096),
        ("4096B", 4096),
        ("0", 0),
        # fractions, rounded down to a whole byte
        ("1.5GiB", 3 * GIB // 2),
        (".5G", GIB // 2),
        ("1.", 1),
        ("1.5", 1),
        # whitespace
        ("  2 GiB ", 2 * GIB),
        ("\t512\tMiB\n", 512 * MIB),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("value", "expected"), [(4096, 4096), (0, 0), (1.9, 1), (2.0**40, TIB)])
def test_parse_size_takes_numbers_as_bytes(value: float, expected: int) -> None:
    assert parse_size(value) == expected
    assert isinstance(parse_size(value), int)


@pytest.mark.parametrize(
    "text", ["12 parsecs", "", "   ", "GiB", "1.5.5GiB", "1e3", "1_000", "nan"]
)
def test_parse_size_rejects_non_sizes_and_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(repr(text))} is not a size \(write a number with a unit, such as "
        r"512MiB, 2GiB or 4096\)$",
    ):
        parse_size(text)


@pytest.mark.parametrize("value", ["-1GiB", " -1 GiB", "-0"])
def test_parse_size_rejects_negative_text(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^size {value!r} must not be negative$"):
        parse_size(value)


def test_parse_size_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError, match=r"^size -5 must not be negative$"):
        parse_size(-5)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_parse_size_rejects_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match=r"must be a finite number of bytes$"):
        parse_size(value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_size_rejects_booleans(value: bool) -> None:
    with pytest.raises(ValueError, match=rf"^{value} is not a size$"):
        parse_size(value)


@pytest.mark.parametrize("value", [None, ["1GiB"], {"size": 1}])
def test_parse_size_rejects_other_types(value: object) -> None:
    with pytest.raises(ValueError, match=r"is not a size$"):
        parse_size(value)  # type: ignore[arg-type]


# ------------------------------------------------------------ parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("10sec", 10.0),
        ("10m", 600.0),
        ("10min", 600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1m30s500ms", 90.5),
        ("1.5s", 1.5),
        ("10S", 10.0),
        (" 30s ", 30.0),
        ("90", 90.0),
        ("1.5", 1.5),
        ("0", 0.0),
    ],
)
def test_parse_duration_accepts(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [(90, 90.0), (1.5, 1.5), (0, 0.0)])
def test_parse_duration_takes_numbers_as_seconds(value: float, expected: float) -> None:
    assert parse_duration(value) == expected
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize(
    "text", ["5 fortnights", "", "s", "10x", "1m1", "10mins", "inf", "nan", "infinity", "1_0"]
)
def test_parse_duration_rejects_non_durations_and_says_what_one_looks_like(text: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(repr(text))} is not a duration \(write a number with a unit, "
        r"such as 500ms, 30s, 10m, 1h or 1h30m\)$",
    ):
        parse_duration(text)


@pytest.mark.parametrize("value", ["-3s", " -1h", "-0"])
def test_parse_duration_rejects_negative_text(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^duration {value!r} must not be negative$"):
        parse_duration(value)


def test_parse_duration_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError, match=r"^duration -3 must not be negative$"):
        parse_duration(-3)


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_parse_duration_rejects_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match=r"must be a finite number of seconds$"):
        parse_duration(value)


def test_parse_duration_rejects_booleans() -> None:
    with pytest.raises(ValueError, match=r"^True is not a duration$"):
        parse_duration(True)


# ---------------------------------------------------------------- parse_rate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4MiB/s", 4.0 * MIB),
        ("4MiB", 4.0 * MIB),
        ("1 GiB/s", 1.0 * GIB),
        ("1MB/S", 1e6),
        ("100", 100.0),
        ("100/s", 100.0),
        (100, 100.0),
        (0, 0.0),
    ],
)
def test_parse_rate_accepts(value: str | int, expected: float) -> None:
    assert parse_rate(value) == expected
    assert isinstance(parse_rate(value), float)


@pytest.mark.parametrize("text", ["/s", "4 parsecs/s", "fast", "", "4MiB/h"])
def test_parse_rate_rejects_non_rates(text: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(repr(text))} is not a rate "
        r"\(write a size per second, such as 4MiB/s\)$",
    ):
        parse_rate(text)


@pytest.mark.parametrize(("value", "shown"), [("-1MiB/s", "'-1MiB/s'"), (-5, "-5")])
def test_parse_rate_rejects_negative_rates(value: str | int, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^rate {shown} must not be negative$"):
        parse_rate(value)


@pytest.mark.parametrize("value", [True, None, math.inf])
def test_parse_rate_rejects_other_values(value: object) -> None:
    with pytest.raises(ValueError, match=r"rate"):
        parse_rate(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------- format


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (KIB, "1 KiB"),
        (1536, "1.5 KiB"),
        (100 * MIB, "100 MiB"),
        (3 * GIB // 2, "1.5 GiB"),
        (2 * TIB, "2 TiB"),
        (-GIB, "-1 GiB"),
    ],
)
def test_format_size(n_bytes: int | None, text: str) -> None:
    assert format_size(n_bytes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (0.5, "0.5s"),
        (42, "42s"),
        (60, "1m"),
        (61, "1m1s"),
        (600, "10m"),
        (3600, "1h"),
        (3900, "1h5m"),
        (5400, "1h30m"),
        (3661, "1h1m1s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


# -------------------------------------------------------------- round trips


@given(st.integers(min_value=0, max_value=1024 * TIB))
def test_format_size_parses_back_within_rounding(n_bytes: int) -> None:
    # one decimal below 100 units, none above: at most 5% off, plus the byte rounded down
    back = parse_size(format_size(n_bytes))
    assert abs(back - n_bytes) <= 0.05 * n_bytes + 1


@given(st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_format_duration_parses_back_within_rounding(seconds: float) -> None:
    # below a minute six significant digits are kept; above, whole seconds
    back = parse_duration(format_duration(seconds))
    assert abs(back - seconds) <= max(0.5, 1e-5 * seconds)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["", "B", "K", "KiB", "kB", "M", "MiB", "MB", "G", "GiB", "GB"]),
)
def test_parse_size_scales_by_the_unit(number: int, unit: str) -> None:
    assert parse_size(f"{number}{unit}") == number * parse_size(f"1{unit}")
    assert parse_rate(f"{number}{unit}/s") == parse_size(f"{number}{unit}")

"""Sizes, durations and rates as people write them ("2GiB", "10m", "4MiB/s").

juggler speaks bytes and seconds at every interface (API, metrics, CLI); pages
exist only inside the simulator's kernels. The parsers accept what operators
type in configuration files and reject anything else with a message that says
what a valid value looks like.
"""

from __future__ import annotations

import math
import re

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kib": KIB,
    "kb": 1000,
    "m": MIB,
    "mib": MIB,
    "mb": 1000**2,
    "g": GIB,
    "gib": GIB,
    "gb": 1000**3,
    "t": TIB,
    "tib": TIB,
    "tb": 1000**4,
}

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_SIZE_RE = re.compile(rf"^\s*{_NUMBER}\s*([a-zA-Z]*)\s*$")
_DURATION_PART_RE = re.compile(rf"{_NUMBER}\s*(ms|sec|min|s|m|h)")
_BARE_NUMBER_RE = re.compile(_NUMBER)


def parse_size(value: str | int | float) -> int:
    """Parse a size into bytes.

    Binary units (``KiB``, ``MiB``, ``GiB``, ``TiB``, and the bare ``K``/``M``/``G``/``T``
    QEMU uses) and decimal units (``kB``, ``MB``, ``GB``, ``TB``) are accepted;
    a bare number is bytes.

    :raise ValueError: When the value is not a number with a known unit, or is negative.
    :return: the size in bytes, rounded down to a whole byte.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"size {value!r} must be a finite number of bytes")
        if value < 0:
            raise ValueError(f"size {value!r} must not be negative")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"size {value!r} must not be negative")
    match = _SIZE_RE.match(text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(
            f"{value!r} is not a size (write a number with a unit, such as 512MiB, 2GiB or 4096)"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_duration(value: str | int | float) -> float:
    """Parse a duration into seconds.

    Accepts ``500ms``, ``10s``, ``10m``, ``2h``, compounds such as ``1h30m``, and a bare
    number of seconds.

    :raise ValueError: When the value is not a duration, or is negative.
    :return: seconds, as a float.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"duration {value!r} must be a finite number of seconds")
        if value < 0:
            raise ValueError(f"duration {value!r} must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    text = value.strip().lower().replace(" ", "")
    if text.startswith("-"):
        raise ValueError(f"duration {value!r} must not be negative")
    # a bare number of seconds; not float(text), which also takes "inf", "nan", "1_0"
    if _BARE_NUMBER_RE.fullmatch(text):
        return float(text)
    parts = list(_DURATION_PART_RE.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        raise ValueError(
            f"{value!r} is not a duration (write a number with a unit, such as 500ms, 30s, "
            "10m, 1h or 1h30m)"
        )
    return sum(float(p.group(1)) * _DURATION_UNITS[p.group(2)] for p in parts)


def parse_rate(value: str | int | float) -> float:
    """Parse a byte rate such as ``4MiB/s`` into bytes per second.

    A bare number is bytes per second; a size without ``/s`` is read as per second too.

    :raise ValueError: When the value is not a size per second, or is negative.
    """
    hint = "write a size per second, such as 4MiB/s"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a rate ({hint})")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"rate {value!r} must be a finite number of bytes per second")
        if value < 0:
            raise ValueError(f"rate {value!r} must not be negative")
        return float(value)
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"rate {value!r} must not be negative")
    if text.lower().endswith("/s"):
        text = text[:-2]
    try:
        return float(parse_size(text))
    except ValueError:
        raise ValueError(f"{value!r} is not a rate ({hint})") from None


def format_size(n_bytes: float | int | None) -> str:
    """Format bytes for people: ``1.5 GiB``, ``300 MiB``, ``0 B``; ``-`` for unknown."""
    if n_bytes is None:
        return "-"
    sign = "-" if n_bytes < 0 else ""
    n = abs(float(n_bytes))
    for unit, size in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            value = n / size
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return f"{sign}{text.removesuffix('.0')} {unit}"
    return f"{sign}{n:.0f} B"


def format_duration(seconds: float | None) -> str:
    """Format seconds for people: ``10m``, ``1h5m``, ``42s``, ``1.5s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs else "")

"""SVG chart primitives: a shared time axis, lines, stacked areas, bands and bars.

Static SVG drawn in Python, so the report needs no script library and makes
no request: every chart of a run uses the same :class:`TimeAxis` (same width,
same margins, same scale), so a point in time sits at the same x in every
chart and cause and effect line up vertically. Hover text is SVG ``<title>``.
Coordinates are rounded to 0.1 px to keep long runs' files small.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from juggler.units import MIB, format_duration, format_size

#: the width of every chart, in SVG user units (the page scales it to fit)
WIDTH = 960
LEFT = 76
RIGHT = 16
TOP = 8
BOTTOM = 22


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


@dataclass(frozen=True)
class TimeAxis:
    """Seconds ``[t0, t1]`` onto the plot's x range; the same for every chart of a run."""

    t0: float
    t1: float
    width: int = WIDTH
    left: int = LEFT
    right: int = RIGHT

    def x(self, t: np.ndarray | float) -> np.ndarray:
        span = max(self.t1 - self.t0, 1e-9)
        return self.left + (np.asarray(t, dtype=float) - self.t0) / span * self.plot_width

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right


def nice_step(span: float, target: int = 5) -> float:
    """A 1-2-5 step giving about ``target`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def byte_step(span: float, target: int = 5) -> float:
    """A power-of-two step in bytes (64 MiB, 256 MiB, 1 GiB...) for about ``target`` ticks,
    so memory axes read in round binary units; below 1 MiB, any power of two, at least 1."""
    if span <= 0 or not math.isfinite(span):
        return float(MIB)
    return float(2 ** max(0, math.ceil(math.log2(span / target))))


def time_step(span: float, target: int = 8) -> float:
    """A step in seconds people count in: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if span / step <= target:
            return float(step)
    return nice_step(span, target)


def format_bytes_tick(value: float) -> str:
    return format_size(value)


@dataclass
class Chart:
    """One chart: a y range over the shared time axis, elements added in drawing order.

    :param title: what the chart shows (also the SVG's accessible name).
    :param fmt: formats a y value for ticks.
    """

    axis: TimeAxis
    height: int
    y_max: float
    title: str
    fmt: Callable[[float], str] = format_bytes_tick
    y_min: float = 0.0
    step: Callable[[float], float] = byte_step
    cls: str = "chart"
    parts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not math.isfinite(self.y_max) or self.y_max <= self.y_min:
            self.y_max = self.y_min + 1.0

    @property
    def plot_top(self) -> float:
        return TOP

    @property
    def plot_bottom(self) -> float:
        return self.height - BOTTOM

    def y(self, v: np.ndarray | float) -> np.ndarray:
        frac = (np.asarray(v, dtype=float) - self.y_min) / (self.y_max - self.y_min)
        return self.plot_bottom - frac * (self.plot_bottom - self.plot_top)

    # ------------------------------------------------------------ elements

    def line(
        self, t: np.ndarray, v: np.ndarray, cls: str, title: str, *, step: bool = False
    ) -> None:
        """A polyline; NaN breaks it (a backend that did not measure draws nothing)."""
        d = path_d(self.axis.x(t), self.y(v), step=step)
        if d:
            self.parts.append(f'<path class="{cls}" d="{d}"><title>{escape(title)}</title></path>')

    def envelope(self, t: np.ndarray, lo: np.ndarray, hi: np.ndarray, cls: str, title: str) -> None:
        """The band between ``lo`` and ``hi`` (a downsampled series' min and max)."""
        d = area_d(self.axis.x(t), self.y(lo), self.y(hi))
        if d:
            self.parts.append(f'<path class="{cls}" d="{d}"><title>{escape(title)}</title></path>')

    def stack(
        self, t: np.ndarray, layers: Sequence[tuple[str, str, np.ndarray]]
    ) -> list[np.ndarray]:
        """Stacked areas, bottom first: ``(css class, hover text, values)``.

        :return: the cumulative tops, one per layer (the last is the stack's height).
        """
        x = self.axis.x(t)
        base = np.zeros(len(t))
        tops = []
        for cls, title, values in layers:
            top = base + np.nan_to_num(values)
            d = area_d(x, self.y(base), self.y(top))
            if d:
                self.parts.append(
                    f'<path class="{cls}" d="{d}"><title>{escape(title)}</title></path>'
                )
            tops.append(top)
            base = top
        return tops

    def hmark(self, value: float, cls: str, title: str) -> None:
        """A horizontal mark across the plot (a reservation, a limit)."""
        y = _num(float(self.y(value)))
        x0, x1 = _num(self.axis.left), _num(self.axis.width - self.axis.right)
        self.parts.append(
            f'<line class="{cls}" x1="{x0}" x2="{x1}" y1="{y}" y2="{y}">'
            f"<title>{escape(title)}</title></line>"
        )

    def span(
        self,
        start: float,
        end: float,
        cls: str,
        title: str,
        href: str | None = None,
        ident: str | None = None,
        label: str | None = None,
    ) -> None:
        """A full-height shaded time window, optionally a link and a link target."""
        x0 = float(self.axis.x(max(start, self.axis.t0)))
        x1 = float(self.axis.x(min(end, self.axis.t1)))
        width = max(x1 - x0, 1.5)
        attrs = f' id="{escape(ident)}"' if ident else ""
        rect = (
            f'<rect class="{cls}"{attrs} x="{_num(x0)}" y="{_num(self.plot_top)}" '
            f'width="{_num(width)}" height="{_num(self.plot_bottom - self.plot_top)}">'
            f"<title>{escape(title)}</title></rect>"
        )
        if label:
            rect += (
                f'<text class="span-label" x="{_num(x0 + 2)}" y="{_num(self.plot_top + 10)}">'
                f"{escape(label)}</text>"
            )
        if href:
            rect = f'<a href="{escape(href)}">{rect}</a>'
        self.parts.append(rect)

    def marks(self, t: Sequence[float], y: float, cls: str, titles: Sequence[str]) -> None:
        """Small triangles at times ``t`` on height ``y`` (decisions on a timeline)."""
        py = float(self.y(y))
        for time_s, title in zip(t, titles, strict=True):
            px = float(self.axis.x(time_s))
            self.parts.append(
                f'<path class="{cls}" d="M{_num(px)},{_num(py - 6)}l5,10h-10z">'
                f"<title>{escape(title)}</title></path>"
            )

    def text(self, x: float, y: float, words: str, cls: str = "note") -> None:
        self.parts.append(f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}">{escape(words)}</text>')

    # ------------------------------------------------------------ output

    def _axes(self) -> str:
        out = []
        step = self.step(self.y_max - self.y_min)
        value = math.ceil(self.y_min / step) * step
        x0, x1 = self.axis.left, self.axis.width - self.axis.right
        while value <= self.y_max + 1e-9 * step:
            y = _num(float(self.y(value)))
            out.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{y}" y2="{y}"/>')
            out.append(
                f'<text class="ytick" x="{x0 - 4}" y="{y}" dy="3">{escape(self.fmt(value))}</text>'
            )
            value += step
        tstep = time_step(self.axis.t1 - self.axis.t0)
        t = math.ceil(self.axis.t0 / tstep) * tstep
        while t <= self.axis.t1 + 1e-9:
            x = _num(float(self.axis.x(t)))
            out.append(
                f'<line class="tick" x1="{x}" x2="{x}" y1="{_num(self.plot_bottom)}" '
                f'y2="{_num(self.plot_bottom + 4)}"/>'
                f'<text class="xtick" x="{x}" y="{_num(self.plot_bottom + 15)}">'
                f"{escape(format_duration(t))}</text>"
            )
            t += tstep
        out.append(
            f'<line class="frame" x1="{x0}" x2="{x0}" y1="{_num(self.plot_top)}" '
            f'y2="{_num(self.plot_bottom)}"/>'
            f'<line class="frame" x1="{x0}" x2="{x1}" y1="{_num(self.plot_bottom)}" '
            f'y2="{_num(self.plot_bottom)}"/>'
        )
        return "".join(out)

    def render(self) -> str:
        """The ``<svg>`` element; ``data-*`` attributes let the page's crosshair map x to time."""
        a = self.axis
        return (
            f'<svg class="{self.cls}" viewBox="0 0 {a.width} {self.height}" role="img" '
            f'aria-label="{escape(self.title)}" data-t0="{a.t0:g}" data-t1="{a.t1:g}" '
            f'data-left="{a.left}" data-right="{a.right}" data-width="{a.width}">'
            f"<title>{escape(self.title)}</title>{self._axes()}{''.join(self.parts)}"
            f'<line class="xhair" x1="-10" x2="-10" y1="{_num(self.plot_top)}" '
            f'y2="{_num(self.plot_bottom)}"/></svg>'
        )


def _segments(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Runs of consecutive finite points."""
    ok = np.isfinite(x) & np.isfinite(y)
    out = []
    start = None
    for i, good in enumerate(ok):
        if good and start is None:
            start = i
        elif not good and start is not None:
            out.append((x[start:i], y[start:i]))
            start = None
    if start is not None:
        out.append((x[start:], y[start:]))
    return out


def path_d(x: np.ndarray, y: np.ndarray, *, step: bool = False) -> str:
    """An SVG path through the points, a new subpath after each NaN; ``step`` holds
    each value until the next sample (for targets, which change in jumps)."""
    parts = []
    for xs, ys in _segments(np.asarray(x, float), np.asarray(y, float)):
        coords = [f"{_num(xs[0])},{_num(ys[0])}"]
        for i in range(1, len(xs)):
            if step:
                coords.append(f"{_num(xs[i])},{_num(ys[i - 1])}")
            coords.append(f"{_num(xs[i])},{_num(ys[i])}")
        if len(xs) == 1:
            coords.append(f"{_num(xs[0] + 1)},{_num(ys[0])}")
        parts.append("M" + "L".join(coords))
    return "".join(parts)


def area_d(x: np.ndarray, y_low: np.ndarray, y_high: np.ndarray) -> str:
    """A closed area between two curves over the same x (forward on top, back below)."""
    x = np.asarray(x, float)
    lo, hi = np.asarray(y_low, float), np.asarray(y_high, float)
    ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any() or np.allclose(lo[ok], hi[ok]):
        return ""
    x, lo, hi = x[ok], lo[ok], hi[ok]
    top = "L".join(f"{_num(a)},{_num(b)}" for a, b in zip(x, hi, strict=True))
    bottom = "L".join(f"{_num(a)},{_num(b)}" for a, b in zip(x[::-1], lo[::-1], strict=True))
    return f"M{top}L{bottom}Z"

"""Grouped bar charts in SVG: for ``compare``, one group per scenario, one bar per policy.

Bars of one chart share a linear y scale from 0; a policy with no value (the
metric was not measured, or every run failed) gets no bar and an ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from juggler.report.svg import _num, nice_step

#: one colour per policy, in the order policies are given
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)

WIDTH = 960
LEFT = 76
TOP = 10
BOTTOM = 40


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Sequence[str],
    values: dict[str, dict[str, float | None]],
    fmt: Callable[[float], str],
    best: dict[str, set[str]] | None = None,
    height: int = 200,
    step: Callable[[float], float] = nice_step,
    tick_fmt: Callable[[float], str] | None = None,
    floor: float = 1.0,
) -> str:
    """``values[group][series]`` as bars, each labelled with its value; the best bar(s)
    of a group (``best[group]``) are outlined.

    :param floor: the y range when every value is 0 (1 MiB for bytes reads better than 1 B).
    """
    best = best or {}
    tick_fmt = tick_fmt or fmt
    known = [v for g in groups for s in series if (v := values.get(g, {}).get(s)) is not None]
    y_max = max(known, default=0.0)
    y_max = y_max * 1.15 if y_max > 0 else floor
    plot_w = WIDTH - LEFT - 10
    bottom = height - BOTTOM

    def y(v: float) -> float:
        return bottom - v / y_max * (bottom - TOP)

    parts = [f"<title>{escape(title)}</title>"]
    tick_step = step(y_max)
    tick = 0.0
    while tick <= y_max + 1e-9 * tick_step:
        py = _num(y(tick))
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 10}" y1="{py}" y2="{py}"/>'
            f'<text class="ytick" x="{LEFT - 4}" y="{py}" dy="3">{escape(tick_fmt(tick))}'
            "</text>"
        )
        tick += tick_step
    group_w = plot_w / max(len(groups), 1)
    bar_w = min(40.0, group_w * 0.8 / max(len(series), 1))
    for gi, group in enumerate(groups):
        x0 = LEFT + gi * group_w + (group_w - bar_w * len(series)) / 2
        for si, name in enumerate(series):
            value = values.get(group, {}).get(name)
            x = x0 + si * bar_w
            colour = PALETTE[si % len(PALETTE)]
            if value is None or not math.isfinite(value):
                parts.append(
                    f'<text class="na" x="{_num(x + bar_w / 2)}" y="{_num(bottom - 3)}">n/a</text>'
                )
                continue
            cls = "bar best-bar" if name in best.get(group, set()) else "bar"
            top = y(value)
            parts.append(
                f'<rect class="{cls}" x="{_num(x + 1)}" y="{_num(top)}" '
                f'width="{_num(max(bar_w - 2, 1))}" height="{_num(max(bottom - top, 0.5))}" '
                f'fill="{colour}"><title>{escape(f"{group} · {name}: {fmt(value)}")}</title></rect>'
            )
            if bar_w >= 18:
                parts.append(
                    f'<text class="value" x="{_num(x + bar_w / 2)}" '
                    f'y="{_num(top - 3)}">{escape(fmt(value))}</text>'
                )
        parts.append(
            f'<text class="group" x="{_num(LEFT + (gi + 0.5) * group_w)}" '
            f'y="{_num(bottom + 16)}">{escape(group)}</text>'
        )
    parts.append(
        f'<line class="frame" x1="{LEFT}" x2="{WIDTH - 10}" y1="{_num(bottom)}" '
        f'y2="{_num(bottom)}"/>'
    )
    return (
        f'<svg class="bars" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )


def bar_legend(series: Sequence[str]) -> str:
    """The policies' colours, as HTML under the charts."""
    items = "".join(
        f'<span><span class="sw" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
        f"{escape(name)}</span>"
        for i, name in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'

"""The SVG primitives: one time axis for every chart, honest paths and stacks."""

from __future__ import annotations

import re

import numpy as np

from juggler.report.bars import grouped_bars
from juggler.report.svg import Chart, TimeAxis, area_d, byte_step, path_d, time_step
from juggler.units import GIB, MIB


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def test_every_chart_maps_a_time_to_the_same_x() -> None:
    axis = TimeAxis(0.0, 600.0)
    tall = Chart(axis, 220, GIB, "a")
    short = Chart(axis, 130, 5.0, "b")
    assert tall.axis.x(300.0) == short.axis.x(300.0) == axis.left + axis.plot_width / 2
    assert float(axis.x(0.0)) == axis.left and float(axis.x(600.0)) == axis.width - axis.right


def test_a_line_breaks_where_a_value_was_not_measured() -> None:
    d = path_d(np.array([0.0, 1, 2, 3, 4]), np.array([1.0, 2, np.nan, 4, 5]))
    assert d.count("M") == 2
    assert path_d(np.array([0.0, 1]), np.array([np.nan, np.nan])) == ""


def test_a_step_line_holds_each_value_until_the_next_sample() -> None:
    d = path_d(np.array([0.0, 10.0]), np.array([5.0, 7.0]), step=True)
    assert _points(d) == [(0.0, 5.0), (10.0, 5.0), (10.0, 7.0)]


def test_stacked_layers_are_cumulative_and_reach_the_total() -> None:
    axis = TimeAxis(0.0, 2.0)
    chart = Chart(axis, 200, 1000.0, "stack")
    t = np.array([0.0, 1.0, 2.0])
    layers = [
        ("a", "a", np.array([100.0, 200, 300])),
        ("b", "b", np.array([400.0, 300, 200])),
        ("c", "c", np.array([500.0, 500, 500])),
    ]
    tops = chart.stack(t, layers)
    assert list(tops[-1]) == [1000.0, 1000.0, 1000.0]
    # the top layer's upper edge is drawn at the top of the plot
    svg = chart.render()
    upper = _points(re.search(r'class="c" d="([^"]+)"', svg).group(1))[:3]
    assert all(abs(y - chart.plot_top) < 0.05 for _, y in upper)
    assert svg.count("<path") == 3


def test_an_empty_layer_draws_nothing() -> None:
    assert area_d(np.array([0.0, 1.0]), np.array([5.0, 5.0]), np.array([5.0, 5.0])) == ""


def test_hover_text_is_escaped() -> None:
    chart = Chart(TimeAxis(0, 10), 100, 10.0, "x")
    chart.line(np.array([0.0, 10.0]), np.array([1.0, 2.0]), "s", "<script>alert(1)</script>")
    assert "<script>" not in chart.render()
    assert "&lt;script&gt;" in chart.render()


def test_ticks_are_round_numbers() -> None:
    assert byte_step(GIB) == 256 * MIB
    assert byte_step(2 * GIB) == 512 * MIB
    assert time_step(600.0) == 120.0
    assert time_step(40.0) == 5.0


def test_grouped_bars_draw_one_bar_per_value_and_na_for_none() -> None:
    svg = grouped_bars(
        "slowdown",
        ["seed", "host-swap"],
        ["static", "juggler"],
        {"seed": {"static": 1.2, "juggler": 1.1}, "host-swap": {"static": 1.5, "juggler": None}},
        lambda v: f"{v:.2f}",
        best={"seed": {"juggler"}},
    )
    heights = {
        title: float(h)
        for h, title in re.findall(r'height="([\d.]+)"[^>]*><title>([^<]+)</title>', svg)
    }
    static, juggler = "seed · static: 1.20", "seed · juggler: 1.10"
    other = "host-swap · static: 1.50"
    assert set(heights) == {static, juggler, other}
    assert heights[other] > heights[static] > heights[juggler]
    assert np.isclose(heights[static] / heights[other], 0.8, rtol=0.01)
    assert svg.count("best-bar") == 1 and "n/a" in svg

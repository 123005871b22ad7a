"""Render a report in headless Chromium (Debian's ``chromium``) and say what drew.

Driven by Playwright's Python API against the system browser: no browser is
downloaded (``playwright install`` is never run). Tests using :func:`render`
are marked with :data:`needs_chromium`, which skips them, saying why, only
when Chromium is not installed (``scripts/setup.sh --test`` installs it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the flags the issue asks for: no sandbox (root in CI), no GPU, no background requests
T = TypeVar("T")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

_chromium_missing = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="chromium is not installed (scripts/setup.sh --test installs Debian's chromium)",
)


def needs_chromium(test: T) -> T:
    """Mark a test ``browser`` and skip it, saying why, when Chromium is not installed."""
    return pytest.mark.browser(_chromium_missing(test))


#: per section holding charts: each SVG's drawn size and its data elements that drew
#: (paths with a real outline, rects with an area), measured by the browser's layout
_CHART_STATS = """
() => Array.from(document.querySelectorAll('section')).map(section => ({
  id: section.id,
  charts: Array.from(section.querySelectorAll(':scope > svg, :scope > section > svg')).map(svg => {
    const box = svg.getBoundingClientRect();
    const paths = Array.from(svg.querySelectorAll('path')).filter(p => {
      const b = p.getBBox();
      return (p.getAttribute('d') || '').length > 8 && (b.width > 0 || b.height > 0);
    }).length;
    const rects = Array.from(svg.querySelectorAll('rect')).filter(r => {
      const b = r.getBBox();
      return b.width > 0 && b.height > 0;
    }).length;
    return {label: svg.getAttribute('aria-label'), width: box.width, height: box.height,
            paths: paths, rects: rects};
  }),
})).filter(section => section.charts.length > 0)
"""

#: in-page links whose target is missing
_BROKEN_LINKS = """
() => Array.from(document.querySelectorAll('a[href^="#"]'))
  .map(a => a.getAttribute('href'))
  .filter(href => !document.getElementById(href.slice(1)))
"""


@dataclass
class Rendered:
    """What the browser saw."""

    console: list[tuple[str, str]]
    page_errors: list[str]
    requests: list[str]
    #: section id -> its charts' stats (label, width, height, paths, rects)
    sections: dict[str, list[dict[str, Any]]]
    broken_links: list[str]
    #: crosshairs shown after moving the mouse over the first chart
    crosshairs_on: int
    screenshot: Path

    @property
    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.page_errors


def render(html: Path, screenshot: Path, width: int = 1100) -> Rendered:
    """Open ``html`` in headless Chromium, measure its charts, hover one, take a
    full-page screenshot."""
    from playwright.sync_api import sync_playwright

    console: list[tuple[str, str]] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html.resolve().as_uri(), wait_until="load")
            sections = {s["id"]: s["charts"] for s in page.evaluate(_CHART_STATS)}
            broken = page.evaluate(_BROKEN_LINKS)
            crosshairs = 0
            first = page.query_selector("svg.chart")
            if first is not None:
                box = first.bounding_box()
                assert box is not None
                first.scroll_into_view_if_needed()
                box = first.bounding_box()
                assert box is not None
                page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
                crosshairs = page.evaluate("document.querySelectorAll('line.xhair.on').length")
                page.mouse.move(0, 0)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Rendered(console, page_errors, requests, sections, broken, crosshairs, screenshot)


def assert_drew(rendered: Rendered, html: Path, sections: dict[str, int]) -> None:
    """Every named section has at least the given number of charts, each laid out with a
    size and at least one data path or rect; nothing went wrong; nothing was fetched."""
    assert rendered.errors == [], rendered.errors
    assert rendered.requests == [html.resolve().as_uri()], rendered.requests
    assert rendered.broken_links == []
    for section, n_charts in sections.items():
        charts = rendered.sections.get(section)
        assert charts is not None, f"no charts in section {section!r}: {list(rendered.sections)}"
        assert len(charts) >= n_charts, (section, charts)
        for chart in charts:
            assert chart["width"] > 300 and chart["height"] > 50, chart
            assert chart["paths"] + chart["rects"] > 0, f"{section}: chart drew nothing: {chart}"
    png = rendered.screenshot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

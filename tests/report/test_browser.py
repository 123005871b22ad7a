"""The reports in a real browser: headless Chromium draws every chart, logs no error,
fetches nothing but the file itself; a screenshot is kept in the test's directory."""

from __future__ import annotations

from pathlib import Path

from tests.report.browser import assert_drew, needs_chromium, render


@needs_chromium
def test_the_seed_report_draws_in_chromium(seed_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, html = seed_run
    rendered = render(html, tmp_path / "seed.png")
    assert_drew(rendered, html, {"host": 2, "decisions": 1, **{f"vm-{n}": 3 for n in "ABCD"}})
    for name in "ABCD":
        memory, wait, io = rendered.sections[f"vm-{name}"]
        # the stacked layers and the working-set lines drew, and the diagnose window
        assert memory["paths"] >= 5 and memory["rects"] >= 1, memory
        assert wait["paths"] >= 1 and io["paths"] >= 1
    host_memory, _ = rendered.sections["host"]
    assert host_memory["rects"] >= 2  # the state bands: high, and soft while A grows
    assert rendered.sections["decisions"][0]["paths"] >= 10
    # one mouse move puts the crosshair at the same time in every chart
    assert rendered.crosshairs_on == 2 + 1 + 4 * 3


@needs_chromium
def test_the_compare_report_draws_in_chromium(
    compare_report: tuple[Path, Path], tmp_path: Path
) -> None:
    _, html = compare_report
    rendered = render(html, tmp_path / "compare.png")
    metrics = [s for s in rendered.sections if s.startswith("metric-")]
    # the eight figures compare always had, and its reversals, OOM rescues, host memory
    # in use, reversals of the worst VM and excess over the oracle
    assert len(metrics) == 13
    # the fixture's compare ran no oracle: its excess chart has nothing to draw
    assert_drew(rendered, html, {m: 1 for m in metrics if m != "metric-excess_slowdown"})
    slowdown = rendered.sections["metric-mean_slowdown"][0]
    assert slowdown["rects"] == 4  # 2 policies × 2 scenarios

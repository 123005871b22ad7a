"""Make docs/report-seed.png: the seed story's report, as headless Chromium draws it.

    .venv/bin/python scripts/report-screenshot.py [OUT.png]

Simulates the built-in seed story (10 simulated minutes), writes its report, and
photographs the page from the top down to VM A's charts in Debian's chromium,
started with the same flags as the browser test (tests/report/browser.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from juggler.report import write_report  # noqa: E402
from juggler.scenario import builtin_scenario_text, parse_scenario  # noqa: E402
from juggler.simulate import run_simulation  # noqa: E402


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        run, html = Path(tmp) / "seed.sqlite", Path(tmp) / "seed.html"
        text = builtin_scenario_text("seed")
        run_simulation(parse_scenario(text, "<built-in seed>"), run, scenario_text=text)
        write_report(run, html)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 800})
                page.goto(html.as_uri(), wait_until="load")
                # down to the end of VM A's section: summary, findings, host, decisions, A
                bottom = page.evaluate(
                    "document.getElementById('vm-A').getBoundingClientRect().bottom"
                    " + window.scrollY"
                )
                page.screenshot(
                    path=str(out),
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": 1000, "height": bottom + 8},
                )
            finally:
                browser.close()
    print(f"{out}: {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "report-seed.png")

"""``juggler report`` on a real lab run: two QEMU guests, drawn and checked in Chromium.

What a lab run file lacks is said on the page rather than drawn as zero: it has
no truth table (no slowdown, no true working set). What it has beyond a simulated
run is drawn: the workload's own latency and accesses, the disks' I/O, and the
free-memory states the Manager classified.
"""

from __future__ import annotations

from pathlib import Path

from lab_helpers import lab
from tests.report.browser import assert_drew, needs_chromium, render
from tests.runfile import run_sql
from typer.testing import CliRunner

from juggler.cli import app
from juggler.cli.lab import lab_app
from juggler.metrics.store import RunStore

TINY = Path(__file__).parent / "data" / "tiny.toml"


@lab
@needs_chromium
def test_a_lab_runs_report_draws_in_chromium(tmp_path: Path) -> None:
    run, html = tmp_path / "lab.sqlite", tmp_path / "lab.html"
    result = CliRunner().invoke(
        lab_app,
        ["run", str(TINY), "--scale", "0.25", "--duration", "40s", "--json", "--out", str(run)],
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["report", str(run), "-o", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "lab (real QEMU VMs)" in page
    assert "true working set (simulator)" not in page  # no truth in a real run
    assert "records no free-memory state" not in page  # the Manager classified the lab's
    assert "This run file records no latency" not in page
    # A idles (its workload times no access: no latency, said in words); B works
    assert "VM B: workload latency (log scale)" in page
    assert "VM A: workload latency" not in page and "timed no access" in page
    assert page.count("disk read (QEMU blockstats)") >= 2
    with RunStore.open(run) as store:
        decided = run_sql(store, "SELECT COUNT(*) FROM decisions")[0][0] > 0
    rendered = render(html, tmp_path / "lab.png")
    # the decisions timeline has marks only if the policy decided (it does by 30 s, see
    # test_lab_run); its rows are drawn either way
    charts = {"host": 2, "vm-A": 3, "vm-B": 4, **({"decisions": 1} if decided else {})}
    assert_drew(rendered, html, charts)
    host_memory = rendered.sections["host"][0]
    assert host_memory["rects"] >= 1, host_memory  # at least one free-memory state band
    for name in "AB":
        memory = rendered.sections[f"vm-{name}"][0]
        assert memory["paths"] >= 2, memory  # resident memory and the working-set estimate
    latency = rendered.sections["vm-B"][1]
    assert latency["label"] == "VM B: workload latency (log scale)"
    assert latency["paths"] >= 2, latency  # p50 and p99
    accesses = rendered.sections["vm-B"][2]
    assert accesses["label"].startswith("VM B: workload accesses"), accesses

"""What the Manager decided, and why, reaches the run file, diagnose and the report.

A simulated seed run whose balloons can barely move (one page a second) makes
juggler mark them uncooperative in its notes; the note, the guard's changes and
the schema version must survive into the run file, ``juggler diagnose`` (text and
JSON) and ``juggler report``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app
from juggler.metrics.store import SCHEMA_VERSION, RunStore

runner = CliRunner()
SEED = Path(__file__).resolve().parents[1] / "examples" / "seed.toml"
NOTE = "uncooperative balloons (not counted on): B, C, D"


@pytest.fixture(scope="module")
def stuck_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("stuck")
    text = SEED.read_text("utf-8").replace(
        # free balloons and a blind host otherwise: the story (a stuck balloon noted,
        # B's first reclaim step-limited) is the policy's, not a host profile's
        'vm_overhead = "16MiB"',
        'vm_overhead = "16MiB"\nballoon_rate = "4KiB"\nprofile = "free"',
    )
    scenario = base / "stuck.toml"
    scenario.write_text(text.replace('duration = "10m"', 'duration = "160s"'), "utf-8")
    run = base / "stuck.sqlite"
    result = runner.invoke(app, ["simulate", str(scenario), "-q", "-o", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_the_run_file_keeps_the_notes_the_guard_kinds_and_its_version(stuck_run: Path) -> None:
    with RunStore.open(stuck_run) as store:
        assert store.meta()["schema_version"] == SCHEMA_VERSION == "3"
        notes = store.decision_notes()
        decisions = store.decisions()
    stuck = [n for n in notes if n.text == NOTE]
    assert stuck and all(n.vm is None and n.kind == "note" for n in stuck)
    # a balloon counts as uncooperative at the fourth interval after its first target:
    # the one that sees the target set, then three without progress
    first = max(min(d.time_s for d in decisions if d.vm == vm) for vm in ("B", "C", "D"))
    assert stuck[0].time_s == first + 4 * 5.0
    # the first reclaim was larger than the 256 MiB step limit: the guard says so
    assert ("step_limited",) in {decision.guard for decision in decisions}


def test_diagnose_shows_the_note_with_the_vm_it_names(stuck_run: Path) -> None:
    text = runner.invoke(app, ["diagnose", str(stuck_run)])
    assert text.exit_code == 0, text.output
    assert f"policy note: {NOTE}" in " ".join(text.output.split())
    as_json = runner.invoke(app, ["diagnose", str(stuck_run), "--json", "--vm", "B"])
    findings = json.loads(as_json.stdout)["findings"]
    with RunStore.open(stuck_run) as store:
        times = [n.time_s for n in store.decision_notes() if n.text == NOTE]
    assert len(times) >= 2
    # diagnose counts each time the policy repeated the note within the finding's window
    counted = [
        (note["count"], sum(1 for t in times if f["start_s"] <= t <= f["end_s"]))
        for f in findings
        for note in f["policy_notes"]
        if note["text"] == NOTE
    ]
    assert counted and all(count == expected >= 2 for count, expected in counted)
    assert any(f["guard_changes"].get("step_limited") for f in findings)


def test_the_report_shows_the_note_and_the_guards_changes(stuck_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "stuck.html"
    result = runner.invoke(app, ["report", str(stuck_run), "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text("utf-8")
    assert 'id="policy-notes-table"' in html and NOTE in html
    assert "<th class=l>guard changed</th>" in html and "<td class=l>step_limited</td>" in html

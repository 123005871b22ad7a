"""What the policy and the guard said about a VM in a window, for a finding.

A policy's notes (``decision_notes``, kind ``note``) are about the host as a
whole; one that names the VM (as juggler's "uncooperative balloons (not counted
on): B" does) belongs with that VM's findings, as do the reasons the policy
gave for leaving the VM alone. Repeats are folded into one line with a count,
so a note made every interval does not drown the findings.
"""

from __future__ import annotations

import re
from typing import Any

from juggler.diagnose.data import Run

#: a finding lists at most this many distinct notes (the most frequent first)
MAX_NOTES = 5


def _names(text: str, vm: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(vm)}(?![\w-])", text) is not None


def policy_notes(run: Run, vm: str, start_s: float, end_s: float) -> list[dict[str, Any]]:
    """The notes naming ``vm`` and the reasons it was left alone, in ``[start_s, end_s]``.

    :return: ``{"kind", "text", "count", "first_s", "last_s"}`` per distinct text,
        the most frequent first, at most :data:`MAX_NOTES`.
    """
    folded: dict[tuple[str, str], dict[str, Any]] = {}
    for note in run.notes:
        if not start_s <= note.time_s <= end_s:
            continue
        if note.vm is None and not _names(note.text, vm):
            continue
        if note.vm is not None and (note.vm != vm or not note.text):
            continue
        entry = folded.setdefault(
            (note.kind, note.text),
            {"kind": note.kind, "text": note.text, "count": 0, "first_s": note.time_s},
        )
        entry["count"] += 1
        entry["last_s"] = note.time_s
    ranked = sorted(folded.values(), key=lambda e: (-e["count"], e["first_s"]))
    return ranked[:MAX_NOTES]


def guard_changes(run: Run, vm: str, start_s: float, end_s: float) -> dict[str, int]:
    """How often the guard changed what the policy wished for ``vm`` in the window:
    by ``GuardChange`` value, including wishes dropped in the dead band."""
    counts: dict[str, int] = {}
    for decision in run.decisions:
        if decision.vm == vm and start_s <= decision.time_s <= end_s:
            for kind in decision.guard:
                counts[kind] = counts.get(kind, 0) + 1
    for note in run.notes:
        if note.vm == vm and note.kind == "dead_band" and start_s <= note.time_s <= end_s:
            counts["dead_band"] = counts.get("dead_band", 0) + 1
    return dict(sorted(counts.items()))

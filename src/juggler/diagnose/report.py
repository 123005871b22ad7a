"""Findings for people (rich text, grouped by VM) and for programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape

from juggler.diagnose import Finding

_STYLE = {
    "none": "green",
    "host_swap": "red",
    "host_contention": "red",
    "balloon": "yellow",
    "own_working_set": "magenta",
    "uncooperative_balloon": "red",
}

_WHAT = {
    "none": "no suffering",
    "host_swap": "the hypervisor swapped this VM's memory (invisible in the guest)",
    "host_contention": "the host ran short because neighbours grew",
    "balloon": "its balloon inflated and the guest then swapped",
    "own_working_set": "its working set exceeds its configured memory",
    "uncooperative_balloon": "its balloon does not reach its target",
}


def to_json(findings: Iterable[Finding]) -> str:
    return json.dumps({"findings": [f.to_dict() for f in findings]}, indent=2)


def _evidence_line(item: dict[str, Any]) -> str:
    text = f"{item['metric']}: {item['value']}"
    if item.get("unit"):
        text += f" {item['unit']}"
    window = item.get("window")
    if window:
        text += f" in {window[0]:g}–{window[1]:g} s"
    extra = []
    if item.get("lag_s") is not None:
        extra.append(f"lag {item['lag_s']:g} s")
    if item.get("correlation") is not None:
        extra.append(f"correlation {item['correlation']:+.2f}")
    if item.get("short_fraction") is not None:
        extra.append(f"host short {item['short_fraction']:.0%} of the time")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _print_policy_side(finding: Finding, console: Console) -> None:
    """What the policy noted about the VM and what the guard changed, in the window."""
    for note in finding.policy_notes:
        times = f" ×{note['count']}, {note['first_s']:g}–{note['last_s']:g} s"
        label = "policy left it alone" if note["kind"] != "note" else "policy note"
        console.print(f"    {label}: {escape(note['text'])}{times}", highlight=False)
    if finding.guard_changes:
        changes = ", ".join(f"{kind} ×{n}" for kind, n in finding.guard_changes.items())
        console.print(f"    guard changed: {changes}", highlight=False)


def print_findings(findings: list[Finding], console: Console, run: str = "") -> None:
    """Findings grouped by VM, each with its cause, evidence and recommendation."""
    if run:
        console.print(f"[bold]diagnosis of {escape(run)}[/]")
    by_vm: dict[str, list[Finding]] = {}
    for finding in findings:
        by_vm.setdefault(finding.vm, []).append(finding)
    for vm, items in by_vm.items():
        suffered = [f for f in items if f.cause != "none"]
        head = (
            f"{len(suffered)} window{'s' if len(suffered) != 1 else ''}"
            if suffered
            else ("healthy")
        )
        console.print(f"\n[bold]VM {escape(vm)}[/] · {head}")
        for f in items:
            style = _STYLE.get(f.cause, "")
            line = f"  {f.start_s:g}–{f.end_s:g} s  [{style}]{f.cause}[/]: {_WHAT.get(f.cause, '')}"
            if f.neighbours:
                line += " — making room for " if f.cause == "balloon" else " — neighbours "
                line += ", ".join(
                    f"{escape(n['vm'])} (grew {n['grew_bytes'] / 1048576:.0f} MiB)"
                    for n in f.neighbours
                )
            console.print(line, highlight=False)
            _print_policy_side(f, console)
            if f.cause == "none":
                continue
            if f.secondary:
                console.print(f"    also: {', '.join(f.secondary)}", highlight=False)
            for item in f.evidence:
                console.print(f"    · {escape(_evidence_line(item))}", highlight=False)
            console.print(f"    [bold]→[/] {escape(f.recommendation)}", highlight=False)

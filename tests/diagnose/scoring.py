"""Scoring ``diagnose`` against the incident suite (``tests/incidents/*.toml``).

Each incident says what it expects in comment lines::

    # expect: vm=B cause=host_contention neighbours=A

The simulator's truth table decides when a VM really suffered: samples whose
stall time (guest swap + host swap + cache misses) is at least 5% of the
period, joined like diagnose's own windows. Each truth window of a VM with an
expectation is scored by the cause of the finding overlapping it most (none
when no finding overlaps). A VM that never suffered must get no cause but
``none``. Used by ``tests/diagnose/test_incidents.py`` and
``benchmarks/diagnose_accuracy.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from juggler.diagnose import CAUSES, Finding, diagnose
from juggler.metrics.store import RunStore
from juggler.scenario import load_scenario
from juggler.simulate import run_simulation
from tests.runfile import run_sql

INCIDENTS = Path(__file__).resolve().parents[1] / "incidents"
STALL_FRACTION = 0.05
GAP_S = 10.0
MIN_S = 3.0
MIN_STALL_S = 0.5

_EXPECT = re.compile(r"^#\s*expect:\s*(.*)$")


@dataclass(frozen=True)
class Expectation:
    vm: str
    cause: str
    neighbours: tuple[str, ...] = ()


def expectations(path: Path) -> list[Expectation]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EXPECT.match(line.strip())
        if not match:
            continue
        fields = dict(part.split("=", 1) for part in match.group(1).split())
        neighbours = tuple(n for n in fields.get("neighbours", "").split(",") if n)
        found.append(Expectation(fields["vm"], fields["cause"], neighbours))
    return found


def truth_windows(store: RunStore, vm: str) -> list[tuple[float, float]]:
    """When ``vm`` really suffered, from the simulator's truth."""
    rows = run_sql(
        store,
        "SELECT time_s, stall_seconds_guest_swap + stall_seconds_host_swap "
        "+ stall_seconds_cache_miss + stall_seconds_balloon FROM truth WHERE vm = ? "
        "ORDER BY time_s",
        (vm,),
    )
    windows: list[list[float]] = []
    previous = None
    for time_s, stall in rows:
        dt = time_s - previous if previous is not None else 0.0
        previous = time_s
        if dt <= 0 or (stall or 0.0) < STALL_FRACTION * dt:
            continue
        if windows and time_s - windows[-1][1] <= GAP_S:
            windows[-1][1] = time_s
            windows[-1][2] += stall
        else:
            windows.append([time_s - dt, time_s, stall])
    return [(a, b) for a, b, s in windows if b - a >= MIN_S and s >= MIN_STALL_S]


@dataclass
class Outcome:
    """One scored item: a truth window of an expected VM, or a VM that did not suffer."""

    incident: str
    vm: str
    start_s: float
    end_s: float
    expected: str
    diagnosed: str
    neighbours_expected: tuple[str, ...] = ()
    neighbours_named: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        return self.expected == self.diagnosed

    @property
    def neighbours_ok(self) -> bool:
        return set(self.neighbours_expected) <= set(self.neighbours_named) and (
            self.vm not in self.neighbours_named
        )


@dataclass
class IncidentResult:
    name: str
    findings: list[Finding]
    outcomes: list[Outcome] = field(default_factory=list)
    #: expected suffering that the simulation did not produce (a construction problem)
    notes: list[str] = field(default_factory=list)


def _overlap(f: Finding, a: float, b: float) -> float:
    return max(0.0, min(f.end_s, b) - max(f.start_s, a))


def score_incident(path: Path, run_dir: Path, seed_offset: int = 0) -> IncidentResult:
    """Simulate one incident (its seed + ``seed_offset``), diagnose it, score it."""
    scenario = load_scenario(path)
    if seed_offset:
        scenario = scenario.with_overrides(seed=scenario.run.seed + seed_offset)
    out = run_dir / f"{path.stem}-s{scenario.run.seed}.sqlite"
    run_simulation(scenario, out)
    with RunStore.open(out) as store:
        findings = diagnose(store)
        expected = {e.vm: e for e in expectations(path)}
        name = path.stem + (f" (seed +{seed_offset})" if seed_offset else "")
        result = IncidentResult(name, findings)
        for vm in store.vm_names():
            mine = [f for f in findings if f.vm == vm]
            windows = truth_windows(store, vm)
            if not windows:
                wrong = [f for f in mine if f.cause != "none"]
                result.outcomes.append(
                    Outcome(name, vm, 0.0, 0.0, "none", wrong[0].cause if wrong else "none")
                )
                if vm in expected and expected[vm].cause != "none":
                    result.notes.append(f"{vm}: expected {expected[vm].cause}, never suffered")
                continue
            if vm not in expected:
                continue  # suffered, but the incident does not say why: not scored
            exp = expected[vm]
            if exp.cause == "none":
                # the construction failed, not diagnose: noted, not scored
                result.notes.append(f"{vm}: expected none, but suffered in {windows}")
                continue
            for a, b in windows:
                best = max(mine, key=lambda f, a=a, b=b: _overlap(f, a, b), default=None)
                hit = best if best is not None and _overlap(best, a, b) > 0 else None
                result.outcomes.append(
                    Outcome(
                        name,
                        vm,
                        a,
                        b,
                        exp.cause,
                        hit.cause if hit else "none",
                        exp.neighbours,
                        tuple(n["vm"] for n in hit.neighbours) if hit else (),
                    )
                )
    return result


def per_cause(outcomes: list[Outcome]) -> dict[str, dict[str, float | int | None]]:
    """Precision and recall per cause over the scored items."""
    table: dict[str, dict[str, float | int | None]] = {}
    for cause in CAUSES:
        tp = sum(1 for o in outcomes if o.expected == cause and o.diagnosed == cause)
        expected = sum(1 for o in outcomes if o.expected == cause)
        diagnosed = sum(1 for o in outcomes if o.diagnosed == cause)
        table[cause] = {
            "expected": expected,
            "diagnosed": diagnosed,
            "correct": tp,
            "precision": tp / diagnosed if diagnosed else None,
            "recall": tp / expected if expected else None,
        }
    return table


def format_table(outcomes: list[Outcome]) -> str:
    lines = [
        f"{'cause':24s} {'expected':>8s} {'diagnosed':>9s} {'correct':>7s} "
        f"{'precision':>9s} {'recall':>7s}"
    ]
    for cause, row in per_cause(outcomes).items():
        p = "-" if row["precision"] is None else f"{row['precision']:.2f}"
        r = "-" if row["recall"] is None else f"{row['recall']:.2f}"
        lines.append(
            f"{cause:24s} {row['expected']:>8} {row['diagnosed']:>9} "
            f"{row['correct']:>7} {p:>9s} {r:>7s}"
        )
    suffering = [o for o in outcomes if o.expected != "none"]
    right = sum(o.correct for o in suffering)
    lines.append(
        f"primary cause correct in {right}/{len(suffering)} suffering windows"
        + (f" ({right / len(suffering):.0%})" if suffering else "")
    )
    return "\n".join(lines)

"""docs/fidelity.md's tables, from ``juggler fidelity --json`` output.

Why a script: the tables are re-measured whenever the simulator or the lab
changes, and figures typed by hand drift from the runs they claim to come from.

    juggler fidelity --from runs/fid-seed --json > seed.json
    python benchmarks/fidelity_tables.py seed.json [more.json ...]

prints, per scenario, the goal's figures (host swap-out and swap-in, guest swap
I/O, balloon movement, mean resident per VM, throughput against static per VM)
for each policy, lab beside simulator, with the relative error and whether the
goal is met (``FidelityRow.meets_goal``), then a count of the misses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from juggler.fidelity import METRICS, FidelityRow
from juggler.units import format_size

#: the figures the tables show: the fidelity table's, less the peaks (no goal names them)
GOAL_METRICS = tuple(m for m in METRICS if m != "peak_resident_bytes")


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric == "throughput_vs_static":
        return f"{value:.2f}x"
    return format_size(value)


def _row(data: dict[str, Any]) -> FidelityRow:
    return FidelityRow(
        vm=data["vm"],
        policy=data["policy"],
        metric=data["metric"],
        lab=data["lab"],
        sim=data["sim"],
        relative_error=data["relative_error"],
    )


def table(result: dict[str, Any]) -> tuple[list[str], int, int]:
    """The Markdown lines of one scenario's table, its goal rows and its misses."""
    rows = [_row(r) for r in result["rows"] if r["metric"] in GOAL_METRICS]
    # the host's totals, then each VM's resident memory and throughput
    wanted = [
        r
        for r in rows
        if (r.vm == "host" and r.metric != "throughput_vs_static")
        or (r.vm != "host" and r.metric in ("mean_resident_bytes", "throughput_vs_static"))
    ]
    lines = [
        "| policy | VM | figure | lab | simulator | error | goal |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    goals = misses = 0
    for r in sorted(wanted, key=lambda r: (r.policy, r.vm == "host", r.vm)):
        verdict = r.meets_goal()
        mark = "" if verdict is None else ("ok" if verdict else "**miss**")
        goals += verdict is not None
        misses += verdict is False
        error = "-" if r.relative_error is None else f"{r.relative_error:+.0%}"
        lines.append(
            f"| {r.policy} | {r.vm} | {r.metric} | {_value(r.metric, r.lab)} | "
            f"{_value(r.metric, r.sim)} | {error} | {mark} |"
        )
    return lines, goals, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="juggler fidelity --json output")
    args = parser.parse_args()
    for path in args.results:
        result = json.loads(path.read_text("utf-8"))
        lines, goals, misses = table(result)
        print(f"\n### {result['scenario']} (scale {result['scale']:g})\n")
        print("\n".join(lines))
        print(f"\n{goals - misses} of {goals} figures meet the goal.")


if __name__ == "__main__":
    main()

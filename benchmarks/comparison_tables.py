"""The tables of docs/comparison.md, from ``juggler compare --json`` output.

Why a script: the comparison page is re-measured whenever the simulator
changes, and figures typed by hand drift from the runs they claim to come from.

    juggler compare examples/suite/*.toml \\
        --policies oracle,juggler,freemem,mom,proxmox,squeezed,static --seeds 3 --json > kvm.json
    juggler compare ... --profile free --json > free.json
    python benchmarks/comparison_tables.py kvm.json --before free.json

prints, in Markdown: the verdict (juggler's mean slowdown against the best other
policy per scenario; the ``oracle`` is a bound, not a rival, and is left out of
it), a table per scenario (means over the seeds; **bold** marks the best in each
column, ties within 1%; "-" where a run file could not say, such as the excess
over the oracle when it was not run), and, with ``--before``, each scenario's
ranking and juggler's figures before → after.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

MIB = 2**20
COLUMNS = (
    ("mean_slowdown", "mean slowdown", "{:.4f}"),
    ("worst_slowdown", "worst VM", "{:.3f}"),
    ("guest_swap_bytes", "guest swap I/O", "mib"),
    ("host_swap_bytes", "host swap I/O", "mib"),
    ("balloon_moved_bytes", "balloon moved", "mib"),
    ("seconds_hard_low", "s hard/low", "{:.0f}"),
    ("reservation_violations", "res. viol.", "{:.0f}"),
    ("guest_oom", "guest OOM", "{:.0f}"),
    ("reversals_per_vm_per_10min", "reversals /VM/10 min", "{:.1f}"),
    ("oom_rescues", "OOM rescues", "{:.0f}"),
    ("host_in_use_bytes", "host in use", "mib"),
    ("excess_slowdown", "excess over oracle", "{:+.4f}"),
)
#: the evaluation bound: in the tables, not in the verdict's "best other"
ORACLE = "oracle"
Table = dict[str, dict[str, dict[str, float | None]]]


def load(path: Path) -> Table:
    """scenario → policy → column → mean over seeds."""
    rows = json.loads(path.read_text("utf-8"))["results"]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("error"):
            raise SystemExit(f"{path}: {row['scenario']} {row['policy']}: {row['error']}")
        grouped[(row["scenario"], row["policy"])].append(row)
    table: Table = defaultdict(dict)
    for (scenario, policy), runs in grouped.items():
        table[scenario][policy] = {key: _mean(runs, key) for key, _, _ in COLUMNS}
    return table


def _mean(runs: list[dict[str, Any]], key: str) -> float | None:
    """The mean over the runs that have ``key`` (an older compare has no new columns)."""
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    return mean(values) if values else None


def _cell(value: float | None, style: str) -> str:
    if value is None:
        return "-"
    if style == "mib":
        mib = value / MIB
        return "0" if value == 0 else ("<1" if mib < 0.5 else f"{mib:.0f}")
    return style.format(value)


def _best(values: list[float]) -> float:
    return min(values)


def scenario_table(policies: dict[str, dict[str, float | None]]) -> list[str]:
    header = "| policy | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    for policy, values in policies.items():
        cells = []
        for key, _, style in COLUMNS:
            value = values[key]
            known = [v for p in policies.values() if (v := p[key]) is not None]
            text = _cell(value, style)
            if value is None or not known:
                cells.append(text)
                continue
            best = _best(known)
            # ties within 1% (or both zero) are best too
            is_best = value <= best + abs(best) * 0.01 if best != 0 else value == 0
            cells.append(f"**{text}**" if is_best else text)
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return lines


def verdict(table: Table) -> list[str]:
    lines = [
        "| scenario | juggler mean | best other (policy) | juggler worst VM "
        "| best other worst VM |",
        "|---|---:|---:|---:|---:|",
    ]
    for scenario, policies in table.items():
        mine = policies.get("juggler")
        if mine is None:
            continue
        others = {p: v for p, v in policies.items() if p not in ("juggler", ORACLE)}
        best_other = min(others, key=lambda p: _num(others[p]["mean_slowdown"]))
        best_worst = min(_num(v["worst_slowdown"]) for v in others.values())
        lines.append(
            f"| {scenario} | {_num(mine['mean_slowdown']):.4f} | "
            f"{_num(others[best_other]['mean_slowdown']):.4f} ({best_other}) | "
            f"{_num(mine['worst_slowdown']):.3f} | {best_worst:.3f} |"
        )
    return lines


def _num(value: float | None) -> float:
    """A slowdown no run measured sorts last."""
    return float("inf") if value is None else value


def ranking(policies: dict[str, dict[str, float | None]]) -> str:
    order = sorted(policies, key=lambda p: _num(policies[p]["mean_slowdown"]))
    return " < ".join(order)


def changes(before: Table, after: Table) -> list[str]:
    lines = [
        "| scenario | ranking before | ranking after | juggler before → after | "
        "static before → after |",
        "|---|---|---|---:|---:|",
    ]
    for scenario, policies in after.items():
        old = before.get(scenario)
        if old is None:
            continue

        def move(policy: str, old: dict = old, new: dict = policies) -> str:
            if policy not in old or policy not in new:
                return "-"
            a, b = _num(old[policy]["mean_slowdown"]), _num(new[policy]["mean_slowdown"])
            return f"{a:.4f} → {b:.4f}"

        lines.append(
            f"| {scenario} | {ranking(old)} | {ranking(policies)} | {move('juggler')} | "
            f"{move('static')} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("after", type=Path, help="compare --json output to tabulate")
    parser.add_argument("--before", type=Path, help="an earlier compare --json to set against")
    args = parser.parse_args()
    after = load(args.after)
    print("## Verdict\n")
    print("\n".join(verdict(after)))
    if args.before:
        print("\n## What changed\n")
        print("\n".join(changes(load(args.before), after)))
    print("\n## The table")
    for scenario, policies in after.items():
        print(f"\n### {scenario}\n")
        print("\n".join(scenario_table(policies)))


if __name__ == "__main__":
    main()

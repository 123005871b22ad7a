"""The juggler/static pairs of docs/lab.md, from their run files.

Why a script: the lab's figures vary from run to run on a shared 2-core machine,
so the page shows every pair and the medians, each computed here from the run
files rather than typed. A pair is ``DIR/pN-juggler.sqlite`` and
``DIR/pN-static.sqlite``, run one after the other:

    juggler lab run examples/lab-seed.toml --scale 1 --policy juggler -o DIR/p1-juggler.sqlite
    juggler lab run examples/lab-seed.toml --scale 1 --policy static -o DIR/p1-static.sqlite
    python benchmarks/lab_pairs.py DIR

For each pair it prints each guest's accesses per second under juggler over
static (whole run; before juggler's first decision, when nothing differs between
the two runs but the machine's own noise; and the ratio after that decision over
the ratio before it, the policy's own effect with the pair's noise taken out),
host swap-out, balloon
moved, direction reversals, the guard's OOM rescues and A's worst p99, and which
run of the pair went first (the lower QEMU pid: pairs recorded on one boot of the
machine). A pair in which either run lost a guest (its QEMU died: the run file's
``lab_guests_lost``, or the guest stopped answering) is listed and left out of the
medians: it compares nothing. Several directories pool their pairs into one set
of medians, so pairs run in both orders can be read together::

    python benchmarks/lab_pairs.py DIR1 DIR2
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from statistics import median

MIB = 2**20


def _rates(
    db: sqlite3.Connection, before: float | None = None, since: float | None = None
) -> dict[str, float]:
    """Each VM's mean accesses per second, over the samples before or since a time."""
    where = "" if before is None else f" and time_s < {before}"
    where += "" if since is None else f" and time_s >= {since}"
    rows = db.execute(
        "select vm, avg(workload_accesses_per_s) from vm_samples "
        f"where workload_accesses_per_s is not null{where} group by vm"
    ).fetchall()
    return {vm: rate for vm, rate in rows}


def _swap_out(db: sqlite3.Connection) -> float:
    rows = db.execute(
        "select time_s, host_swap_out_bytes_per_s from host_samples order by time_s"
    ).fetchall()
    total, last = 0.0, None
    for time_s, rate in rows:
        if last is not None and rate is not None:
            total += rate * (time_s - last)
        last = time_s
    return total


def _balloon(db: sqlite3.Connection) -> tuple[float, int, int]:
    """Balloon moved (sum of |change of actual|), most reversals of one VM, rescues."""
    moved = 0.0
    last: dict[str, float] = {}
    for vm, actual in db.execute(
        "select vm, balloon_actual_bytes from vm_samples order by vm, time_s"
    ):
        if actual is None:
            continue
        if vm in last:
            moved += abs(actual - last[vm])
        last[vm] = actual
    turns: dict[str, int] = {}
    sign: dict[str, int] = {}
    rescues = 0
    for vm, target, previous, guard in db.execute(
        "select vm, balloon_target_bytes, previous_target_bytes, guard from decisions "
        "order by time_s"
    ):
        rescues += "oom_rescue" in (guard or "")
        step = (target or 0) - (previous or 0)
        if abs(step) < MIB:
            continue
        s = 1 if step > 0 else -1
        if vm in sign and sign[vm] != s:
            turns[vm] = turns.get(vm, 0) + 1
        sign[vm] = s
    return moved, max(turns.values(), default=0), rescues


def _worst_p99(db: sqlite3.Connection, vm: str) -> float:
    row = db.execute(
        "select max(workload_latency_p99_seconds) from vm_samples where vm = ?", (vm,)
    ).fetchone()
    return row[0] or 0.0


def _lost(db: sqlite3.Connection) -> str | None:
    """The guests a run lost (its QEMU died, or it stopped answering), or None."""
    row = db.execute("select value from meta where key = 'lab_guests_lost'").fetchone()
    recorded = json.loads(row[0]) if row is not None else {}
    if recorded:
        return "; ".join(f"{vm}: {why}" for vm, why in recorded.items())
    missing = db.execute(
        "select vm, min(time_s) from events where kind = 'vm_missing' group by vm"
    ).fetchall()
    if missing:
        return "; ".join(f"{vm} stopped answering at {t:.0f} s" for vm, t in missing)
    return None


def _first_pid(db: sqlite3.Connection) -> int | None:
    row = db.execute("select value from meta where key = 'lab_qemu_pids'").fetchone()
    if row is None:
        return None
    pids = json.loads(row[0]).values()
    return min(pids) if pids else None


def _ran_first(j: sqlite3.Connection, s: sqlite3.Connection) -> str:
    pj, ps = _first_pid(j), _first_pid(s)
    if pj is None or ps is None:
        return "?"
    return "juggler" if pj < ps else "static"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", type=Path, nargs="+", metavar="DIR")
    args = parser.parse_args()
    pairs = []
    for directory in args.directories:
        found = sorted(
            (
                p
                for p in directory.glob("p*-juggler.sqlite")
                if p.with_name(p.name.replace("juggler", "static")).exists()
            ),
            key=lambda p: int("".join(c for c in p.name.split("-")[0] if c.isdigit()) or 0),
        )
        if not found:
            raise SystemExit(f"{directory}: no pN-juggler.sqlite with its pN-static.sqlite")
        pairs += found
    print(
        "| pair | first | accesses/s juggler ÷ static (A B C D, all) "
        "| before juggler's first move "
        "| after it, over before it "
        "| host swap-out juggler / static | balloon moved | most reversals of a VM "
        "| OOM rescues | A's worst p99 juggler / static |"
    )
    print("|---|---|---|---|---|---|---:|---:|---:|---|")
    ratios: dict[str, list[float]] = {}
    p99: list[tuple[float, float]] = []
    effects: dict[str, list[float]] = {}
    for path in pairs:
        j = sqlite3.connect(path)
        s = sqlite3.connect(path.with_name(path.name.replace("juggler", "static")))
        label = f"{path.parent.name}/{path.name.split('-')[0]} | {_ran_first(j, s)}"
        lost = {policy: _lost(db) for policy, db in (("juggler", j), ("static", s))}
        if any(lost.values()):
            why = "; ".join(f"{policy} run lost {w}" for policy, w in lost.items() if w)
            print(f"| {label} | left out: {why} | | | | | | | |")
            continue
        first = j.execute("select min(time_s) from decisions").fetchone()[0]
        rj, rs = _rates(j), _rates(s)
        cj, cs = _rates(j, before=first), _rates(s, before=first)
        aj, as_ = _rates(j, since=first), _rates(s, since=first)
        names = sorted(rj)
        for vm in names:
            ratios.setdefault(vm, []).append(rj[vm] / rs[vm])
        together = sum(rj.values()) / sum(rs.values())
        ratios.setdefault("all", []).append(together)
        moved, turns, rescues = _balloon(j)
        worst = (_worst_p99(j, "A"), _worst_p99(s, "A"))
        p99.append(worst)
        whole = " ".join(f"{rj[vm] / rs[vm]:.2f}" for vm in names) + f", {together:.2f}"
        control = (
            " ".join(f"{cj[vm] / cs[vm]:.2f}" for vm in names) if first is not None and cj else "-"
        )
        effect = (
            " ".join(f"{(aj[vm] / as_[vm]) / (cj[vm] / cs[vm]):.2f}" for vm in names)
            if first is not None and cj
            else "-"
        )
        if first is not None and cj:
            for vm in names:
                effects.setdefault(vm, []).append((aj[vm] / as_[vm]) / (cj[vm] / cs[vm]))
        print(
            f"| {label} | {whole} | {control} | {effect} "
            f"| {_swap_out(j) / MIB:.0f} / {_swap_out(s) / MIB:.0f} MiB "
            f"| {moved / 2**30:.2f} GiB | {turns} | {rescues} "
            f"| {worst[0] * 1e3:.1f} / {worst[1] * 1e3:.1f} ms |"
        )
    meds = " ".join(f"{vm} {median(v):.2f}" for vm, v in ratios.items())
    print()
    print(f"median accesses/s juggler ÷ static: {meds}")
    print(
        "median of the policy's own effect (after its first move over before): "
        + " ".join(f"{vm} {median(v):.2f}" for vm, v in sorted(effects.items()))
    )
    print(
        f"median of A's worst p99: juggler {median(w[0] for w in p99) * 1e3:.1f} ms, "
        f"static {median(w[1] for w in p99) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()

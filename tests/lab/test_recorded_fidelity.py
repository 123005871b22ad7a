"""The simulator against lab runs recorded on this machine (benchmarks/fidelity-runs).

No VM boots: the lab's run files are kept, and the simulator runs again what each
ran (``juggler fidelity --from DIR --resimulate``), with the ``tcg`` profile. The
lab-seed pair is the controller's own (docs/lab.md, the first of the quiet pairs):
the simulator must predict what the lab found of it, that the host swaps out less
under ``juggler`` than under ``static``, with no guard rescue in either world.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from juggler.fidelity import compare_runs
from juggler.lab.fidelity import resimulate

RECORDED = Path(__file__).resolve().parents[2] / "benchmarks" / "fidelity-runs"


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="a known fidelity miss (docs/fidelity.md): replaying the quiet pair, the "
    "simulator's host swaps out 363 MiB under juggler and 358 under static, where the "
    "lab's swapped 846 and 1039, and it moves 2.5 GiB of balloon where the lab moved 0.8",
)
def test_the_simulator_predicts_that_juggler_swaps_less_on_lab_seed(tmp_path: Path) -> None:
    lab = {
        path.stem.rsplit("-", 1)[1]: path
        for path in sorted((RECORDED / "lab-seed").glob("lab-*.sqlite"))
    }
    assert set(lab) == {"juggler", "static"}
    sim = resimulate(list(lab.values()), tmp_path)
    table = compare_runs(lab, sim)
    swapped: dict[str, dict[str, float]] = {"lab": {}, "sim": {}}
    for row in table.rows:
        if row.metric == "host_swap_out_bytes" and row.vm != "host":
            for world, value in (("lab", row.lab), ("sim", row.sim)):
                assert value is not None, (row.vm, world)
                swapped[world][row.policy] = swapped[world].get(row.policy, 0.0) + value
    for world, by_policy in swapped.items():
        assert by_policy["juggler"] < by_policy["static"], (world, by_policy)
    for run in (*lab.values(), *sim.values()):
        with sqlite3.connect(run) as db:
            rescues = db.execute(
                "select count(*) from decisions where guard like '%oom_rescue%'"
            ).fetchone()[0]
        assert rescues == 0, run

"""ESX's idle memory tax experiment (Waldspurger, OSDI 2002, §5.4, Fig. 7), our way.

Two VMs with equal shares on an over-committed host that swaps at random as ESX's
does (``examples/idle-tax.toml``): one touches 850 MiB and goes idle, the other then
wants 850 MiB. Without the tax (tau = 0) shares alone decide, and equal shares hold
equal allocations; with ESX's tau = 0.75 the idle VM's memory moves to the busy one,
which runs faster.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from juggler.scenario import load_scenario, validate_scenario
from juggler.simulate import run_simulation

EXAMPLE = Path(__file__).parents[2] / "examples" / "idle-tax.toml"


def _run(tmp_path: Path, tax_rate: float) -> tuple[dict[str, float], dict[str, float], int]:
    """Slowdowns by VM, the mean guest memory each was allowed over the last half of
    the run (configured - balloon), and the guard's rescues."""
    data = load_scenario(EXAMPLE).model_dump(exclude_unset=True)
    data["manager"]["params"] = {"tax_rate": tax_rate}
    scenario = validate_scenario(data, str(EXAMPLE))
    out = tmp_path / f"tax-{tax_rate}.sqlite"
    summary = run_simulation(scenario, out)
    slowdown = {vm.name: vm.slowdown or 1.0 for vm in summary.vms}
    half = scenario.run.duration / 2
    with sqlite3.connect(out) as db:
        allowed = dict(
            db.execute(
                "select vm, avg(configured_bytes - coalesce(balloon_target_bytes, 0)) "
                "from vm_samples where time_s >= ? group by vm",
                (half,),
            ).fetchall()
        )
        rescues = db.execute(
            "select count(*) from decisions where guard like '%oom_rescue%'"
        ).fetchone()[0]
    return slowdown, allowed, rescues


def test_the_tax_moves_idle_memory_to_the_busy_vm_and_it_runs_faster(tmp_path):
    untaxed_slowdown, untaxed, untaxed_rescues = _run(tmp_path, 0.0)
    taxed_slowdown, taxed, taxed_rescues = _run(tmp_path, 0.75)
    configured = 1024 * 1024**2
    # tau = 0: equal shares, equal sizes (within 15% of a guest)
    assert abs(untaxed["idle"] - untaxed["busy"]) < 0.15 * configured
    # tau = 0.75: the idle VM gives up a third of its memory or more, the busy one keeps
    # all of its own ...
    assert taxed["busy"] - taxed["idle"] > 0.3 * configured
    # ... and runs faster for it
    assert taxed_slowdown["busy"] < untaxed_slowdown["busy"]
    # the idle VM pays nothing it would notice, and no guest was rescued
    assert taxed_slowdown["idle"] < 1.01
    assert untaxed_rescues == taxed_rescues == 0

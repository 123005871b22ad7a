"""The seed story for real: four QEMU guests, A grows, the host runs short.

``examples/lab-seed.toml`` (the seed story compressed to 2 minutes) runs at its
full size (four 1 GiB guests on a 2 GiB host, with a 2 GiB host swap file),
once under ``juggler`` and once under ``static``. Under static nothing
balloons, so the host swaps guest memory out of the QEMU processes; under
juggler the balloons take the guests' never-touched memory and page cache
first. Both runs' figures are printed (``pytest -s`` shows them).

Asserted: juggler's host swap-out is lower. Measured on the test machine at this
size: 240-321 MiB in ten juggler runs (while its hold rule was tuned), against
332-480 MiB in seven static runs; 11% lower in the closest pair (294 vs 332 MiB).

Not asserted, because it does not hold on the test machine: that A's latency is
better under juggler (A's mean p99 was higher in six pairs of eight). Under
TCG a guest's balloon driver and reclaim run emulated on the same two cores as
every guest's workload, and juggler moves 6-7 GiB of balloon in two minutes:
every guest's accesses per second drop 10-25% under juggler, A's among them,
while Linux's host reclaim (unlike ESX's blind choice) swaps the pages the
guests touched least, so static costs A little. docs/lab.md has the figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import lab
from tests.runfile import run_sql

from juggler.diagnose import diagnose
from juggler.lab.run import run_lab
from juggler.metrics.store import RunStore
from juggler.scenario import load_scenario
from juggler.summary import RunSummary, Violations

LAB_SEED = Path(__file__).parents[2] / "examples" / "lab-seed.toml"
SCALE = 1.0
#: runs of a policy before a lost guest fails the test (the lab's, not the policy's)
RUNS_PER_POLICY = 2


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, RunSummary]]:
    if os.geteuid() != 0:
        pytest.skip("needs root for the cgroup and the host swap file")
    directory = tmp_path_factory.mktemp("lab-seed")
    scenario = load_scenario(LAB_SEED)
    runs = {}
    for policy in ("juggler", "static"):
        for attempt in range(1, RUNS_PER_POLICY + 1):
            out = directory / f"{policy}-{attempt}.sqlite"
            summary = run_lab(scenario.with_overrides(policy=policy), out, scale=SCALE)
            lost = _lost_guests(out)
            if not lost:
                break
            # a guest killed by the lab's cgroup voids the run, not the policy: about
            # one lab-seed run in sixteen (docs/lab.md); it is run once more
            print(f"\nlab seed story, {policy}, attempt {attempt}: lost {lost}")
        runs[policy] = (out, summary)
        print(f"\nlab seed story, {policy}:", json.dumps(_figures(out, summary), indent=1))
    return runs


def _lost_guests(run: Path) -> dict[str, str]:
    with RunStore.open(run) as store:
        lost: dict[str, str] = json.loads(store.meta().get("lab_guests_lost", "{}"))
    return lost


def _growth_window(run: Path) -> tuple[float, float]:
    """From A's first sample reporting its grown working set, 30 s on (the phase
    starts at A's boot, a few seconds before the run's clock)."""
    with RunStore.open(run) as store:
        first = run_sql(
            store,
            "SELECT MIN(time_s) FROM vm_samples WHERE vm = 'A' AND resident_bytes >= "
            "(SELECT MIN(resident_bytes) FROM vm_samples WHERE vm = 'A') + 64 * 1048576",
        )[0][0]
    start = (first or 0.0) - 10.0
    return start, start + 40.0


def _a_worst_p99(run: Path) -> float:
    start, end = _growth_window(run)
    with RunStore.open(run) as store:
        return run_sql(
            store,
            "SELECT MAX(workload_latency_p99_seconds) FROM vm_samples WHERE vm = 'A' "
            "AND time_s BETWEEN ? AND ?",
            (start, end),
        )[0][0]


def _figures(run: Path, summary: RunSummary) -> dict[str, Any]:
    a = next(vm for vm in summary.vms if vm.name == "A")
    assert a.workload is not None and a.workload.latency_p99_seconds is not None
    return {
        "host_swap_out_mib": round((summary.host.host_swap_out_bytes or 0) / 2**20, 1),
        "host_swap_in_mib": round((summary.host.host_swap_in_bytes or 0) / 2**20, 1),
        "a_p99_mean_us": round(a.workload.latency_p99_seconds * 1e6, 1),
        "a_p99_worst_in_growth_us": round(_a_worst_p99(run) * 1e6, 1),
        "balloon_max_mib": {
            vm.name: round((vm.balloon_max_bytes or 0) / 2**20, 1) for vm in summary.vms
        },
        "guest_oom": summary.violations.guest_oom,
    }


@lab
def test_both_policies_run_the_story_to_its_end_and_only_juggler_balloons(
    seed_runs: dict,
) -> None:
    for policy, (run, summary) in seed_runs.items():
        lost = _lost_guests(run)
        # a guest whose QEMU died (the lab cgroup's OOM killer) voids the comparison
        assert not lost, f"{policy} lost {lost} in {RUNS_PER_POLICY} runs"
        assert [vm.name for vm in summary.vms] == ["A", "B", "C", "D"], policy
        assert summary.duration_s >= 110, policy  # 2 minutes, every VM observed
        assert summary.violations == Violations(reservation=0, guest_oom=0), policy
        assert (summary.host.host_swap_out_bytes or 0) > 0, policy  # the host did swap
        assert all(vm.workload for vm in summary.vms), policy  # latency was reported
    juggler, static = seed_runs["juggler"][1], seed_runs["static"][1]
    assert static.decisions == 0 and juggler.decisions > 0
    assert max(vm.balloon_max_bytes or 0 for vm in juggler.vms) > 0


@lab
def test_juggler_keeps_the_host_cgroup_swapping_less_than_static(seed_runs: dict) -> None:
    juggler, static = (
        seed_runs[policy][1].host.host_swap_out_bytes or 0 for policy in ("juggler", "static")
    )
    assert juggler < static, (juggler / 2**20, static / 2**20)


@lab
def test_diagnose_blames_no_balloon_in_the_static_run(seed_runs: dict) -> None:
    with RunStore.open(seed_runs["static"][0]) as store:
        findings = diagnose(store)
    # static never inflates a balloon, so no window can be the balloon's doing
    assert not [f for f in findings if f.cause in ("balloon", "uncooperative_balloon")]

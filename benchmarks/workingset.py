"""Working-set estimator accuracy: the ESX-style sampling estimate against the
simulator's truth, on every scenario of the suite (or the files given).

For each VM, at the end of every sampling period after the first, the relative
error (estimate - truth) / truth, where the truth is the phase's working set (for
idle phases, the pages its trickle touches in a minute) and the estimate is
``policy.workingset.WorkingSetEstimator`` fed the observations a policy sees.
Prints the median and worst absolute error per scenario and over all, and the
signed median (the estimator's bias). Run by hand: ``python benchmarks/workingset.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from juggler.policy.workingset import WorkingSetEstimator
from juggler.scenario import load_scenario
from juggler.sim.host import SimulatedHost

SUITE = Path(__file__).resolve().parent.parent / "examples" / "suite"


def errors_for(path: Path, duration_s: float | None) -> list[float]:
    scenario = load_scenario(path).with_overrides(duration_s=duration_s)
    sim = SimulatedHost(scenario)
    estimators = {vm.name: WorkingSetEstimator() for vm in scenario.vm}
    seen: dict[str, float] = {}
    errors = []
    while sim.time_s < scenario.run.duration:
        sim.advance(scenario.run.tick)
        obs = sim.observe()
        for vm in obs.vms:
            estimate = estimators[vm.name].update(vm)
            truth = obs.truth[vm.name].true_working_set_bytes
            stamp = vm.sampled_at_s
            if estimate is None or stamp is None or seen.get(vm.name) == stamp:
                continue
            seen[vm.name] = stamp
            if truth >= 16 * 2**20:
                errors.append((estimate - truth) / truth)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", type=Path)
    parser.add_argument("--duration", type=float, default=None, help="seconds per scenario")
    args = parser.parse_args()
    paths = args.scenarios or sorted(SUITE.glob("*.toml"))
    everything = []
    print(f"{'scenario':<28} {'samples':>7} {'median |err|':>13} {'worst |err|':>12} {'bias':>7}")
    for path in paths:
        errors = errors_for(path, args.duration)
        if not errors:
            continue
        everything += errors
        absolute = [abs(e) for e in errors]
        print(
            f"{path.stem:<28} {len(errors):>7} {statistics.median(absolute):>12.1%} "
            f"{max(absolute):>12.1%} {statistics.median(errors):>+7.1%}"
        )
    absolute = [abs(e) for e in everything]
    print(
        f"{'all':<28} {len(everything):>7} {statistics.median(absolute):>12.1%} "
        f"{max(absolute):>12.1%} {statistics.median(everything):>+7.1%}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

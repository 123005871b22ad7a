"""Run one scenario in both worlds, matched, for ``juggler fidelity``.

For each policy: one lab run (real QEMU guests, :func:`~juggler.lab.run.run_lab`,
as ``juggler lab run`` does) and one simulation of the *matched* scenario
(:func:`matched_scenario`), each writing its run file into one directory
(``lab-<scenario>-<policy>.sqlite``, ``sim-<scenario>-<policy>.sqlite``), which
:func:`juggler.fidelity.compare_runs` then compares. :func:`resimulate` runs the
simulator again against lab runs already recorded (the lab's side is the
expensive one, and it does not change when the simulator does).

What the matched scenario matches (the lab's own scaling, from
:func:`~juggler.lab.run.plan`, :func:`~juggler.lab.run.lab_limits` and
:func:`~juggler.lab.run.workload_phases`, so the simulator gets the sizes the
guests booted with, each rounded to whole MiB as QEMU's are):

- the host: ``host.memory × scale`` (what the guests share: the cgroup's limit is
  that plus the QEMU overhead measured at boot, so ``vm_overhead = 0`` here), host
  swap ``host.swap × scale`` (at least the lab's smallest swap file), the ``tcg``
  profile; the scenario's own ``balloon_rate`` and ``reclaim`` are dropped, as the
  lab cannot play them (the profile says what this host does);
- each VM: memory, guest swap, reservation and limit scaled, one vCPU and a balloon
  (every lab guest has both), the data disk ``file_size × scale``;
- each phase: its working set (whole MiB, at least 1) and ``cache_rate`` (whole
  KiB/s) scaled, its length rounded to whole seconds, phases after the run's end
  dropped, ``release`` left to its default (the lab's workload does not play it);
- the manager: ``max_step`` and ``dead_band`` scaled, the interval, policy and its
  parameters as they are; the run: the same duration and seed (and the simulator's
  tick, accesses per tick and page size, which the lab has no use for).

What cannot be matched, so the table's errors include it:

- a lab guest's phases start at its boot, a few seconds before the run's first
  sample; the simulator's at the run's 0 s;
- QEMU's own memory changes during a run (``lab_overhead_final_bytes`` against
  ``lab_overhead_bytes``): it grows while TCG translates more code, and shrinks when
  the full cgroup reclaims QEMU's own pages (451 → 343 MiB over 60 s of lab-seed at
  scale 0.25 on 2026-12-02). The cgroup's limit stays, so the guests' share is
  ``host × scale`` minus that change; and the lab host's swap (the host row's
  ``host_swap_*``) counts QEMU's own pages too, where the per-VM rows count guest
  RAM only;
- the guest kernel's own memory (``guest_kernel``) is the scenario's, not scaled:
  the lab boots the same kernel at every scale, and its real footprint is what it is;
- an idle phase touches nothing in the lab, a few pages per second in the simulator
  (``sim.workload.IDLE_RATE``) unless the scenario sets its rate;
- the disks under guest and host swap are this machine's, not ``swap_device``'s;
- the lab samples every manager interval, the simulator every tick; totals are
  integrated over each sample's period in both, so this changes resolution only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from juggler.errors import FidelityError, LabError, ScenarioError
from juggler.lab.image import GuestImage, build_image
from juggler.lab.run import data_disk_bytes, lab_limits, plan, run_lab
from juggler.metrics.store import RunStore
from juggler.scenario import Scenario, parse_scenario, validate_scenario
from juggler.simulate import run_simulation
from juggler.units import KIB, MIB

log = logging.getLogger(__name__)

#: the profile of the host the lab runs on (QEMU under TCG, a memory cgroup)
LAB_PROFILE = "tcg"
#: the worlds' run files in the output directory: ``<world>-<scenario>-<policy>.sqlite``
WORLDS = ("lab", "sim")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "scenario"


def run_path(out_dir: str | Path, world: str, scenario: str, policy: str) -> Path:
    """Where ``juggler fidelity`` keeps a world's run of a policy."""
    return Path(out_dir) / f"{world}-{_safe(scenario)}-{_safe(policy)}.sqlite"


def _phases(scenario: Scenario, index: int, scale: float) -> list[dict[str, Any]]:
    """A VM's phases as the lab's workload plays them (``workload_phases``), as scenario data."""
    vm = scenario.vm[index]
    spans = [s for s in scenario.spans(vm) if s.start_s < scenario.run.duration]
    phases = []
    for number, span in enumerate(spans):
        phase = span.phase.model_dump(exclude_unset=True)
        for key in ("duration", "until", "release"):
            phase.pop(key, None)
        if number < len(spans) - 1:
            phase["duration"] = max(1, round(span.end_s - span.start_s))
        if span.phase.working_set is not None:
            phase["working_set"] = max(1, round(span.phase.working_set * scale / MIB)) * MIB
        if span.phase.cache_rate:
            phase["cache_rate"] = round(span.phase.cache_rate * scale / KIB) * KIB
        phases.append(phase)
    return phases


def matched_scenario(scenario: Scenario, scale: float) -> Scenario:
    """The scenario the simulator runs to match the lab's run of ``scenario`` at ``scale``
    (the module docstring says what is matched), validated like any other.

    :raise LabError: When the lab cannot run it at this scale (the scale is not in
        (0, 1], a VM would be below the lab's smallest).
    :raise ScenarioError: When the matched copy does not validate (say, a guest kernel
        larger than the scaled memory).
    """
    lab = plan(scenario, scale)
    limits = lab_limits(scenario, scale)
    data = scenario.model_dump(exclude_unset=True)
    host = data["host"]
    for key in ("balloon_rate", "reclaim"):
        host.pop(key, None)
    host.update(memory=lab.host_bytes, swap=lab.host_swap_bytes, vm_overhead=0, profile=LAB_PROFILE)
    data.setdefault("manager", {}).update(
        max_step=limits.max_step_bytes, dead_band=limits.dead_band_bytes
    )
    for index, (vm, spec, qemu) in enumerate(zip(scenario.vm, lab.specs, lab.vms, strict=True)):
        entry = data["vm"][index]
        entry.update(
            memory=spec.memory_bytes,
            guest_swap=spec.swap_bytes,
            reservation=qemu.reservation_bytes,
            vcpus=spec.vcpus,
            balloon=True,
            workload=_phases(scenario, index, scale),
        )
        entry.pop("limit", None)
        if qemu.limit_bytes is not None:
            entry["limit"] = qemu.limit_bytes
        entry.pop("file_size", None)
        disk = data_disk_bytes(scenario, vm, scale)
        if disk:
            entry["file_size"] = disk
    return validate_scenario(data, f"{scenario.name} matched to the lab at scale {scale:g}")


def _simulate(
    scenario: Scenario, scale: float, out: Path, lab_run: Path | None, say: Callable[[str], None]
) -> Path:
    matched = matched_scenario(scenario, scale)
    say(f"simulating {scenario.name} under {scenario.manager.policy} ({LAB_PROFILE} profile)")
    run_simulation(
        matched,
        out,
        extra_meta={
            "fidelity_scale": scale,
            "fidelity_lab_run": None if lab_run is None else str(lab_run),
        },
    )
    return out


def run_fidelity(
    scenario: Scenario,
    scale: float,
    policies: Sequence[str],
    out_dir: str | Path,
    *,
    scenario_text: str | None = None,
    image: GuestImage | None = None,
    accel: str = "auto",
    say: Callable[[str], None] = log.info,
) -> tuple[dict[str, Path], dict[str, Path]]:
    """Run ``scenario`` under each policy in the lab and on the simulator, matched.

    Everything is checked before the first VM boots: the lab's plan and the matched
    scenario of every policy. The simulations run first (seconds), then the lab runs
    (minutes each), one at a time; a lab run stopped early (SIGINT, SIGTERM) is the
    last, and the policies after it have no lab run.

    :param scenario_text: the scenario's TOML, kept in the lab's run files so
        :func:`resimulate` can rebuild the scenario exactly.
    :return: the lab's and the simulator's run files, by policy.
    :raise LabError: When the lab cannot run the scenario, or a boot fails.
    :raise ScenarioError: When a policy's scenario or its matched copy does not validate.
    """
    if not policies:
        raise FidelityError("no policy given: name the policies to compare (e.g. juggler,static)")
    runs = {
        p: scenario.with_overrides(policy=p, source=f"{scenario.name} with --policy {p}")
        for p in policies
    }
    for each in runs.values():
        matched_scenario(each, scale)
    image = image or build_image()
    sim = {
        policy: _simulate(
            each,
            scale,
            run_path(out_dir, "sim", scenario.name, policy),
            run_path(out_dir, "lab", scenario.name, policy),
            say,
        )
        for policy, each in runs.items()
    }
    lab: dict[str, Path] = {}
    for policy, each in runs.items():
        say(f"lab: {scenario.name} under {policy} at scale {scale:g}")
        lab[policy] = run_path(out_dir, "lab", scenario.name, policy)
        run_lab(
            each,
            lab[policy],
            scale=scale,
            image=image,
            accel=accel,
            scenario_text=scenario_text,
            say=say,
        )
        with RunStore.open(lab[policy]) as store:
            ended = store.meta(with_scenario_toml=False).get("ended")
        if ended != "duration":
            # a signal stopped the run between samples: boot no more, compare what ran
            say(f"the lab run under {policy} was stopped ({ended}): no further lab run")
            break
    return lab, sim


def recorded_scenario(lab_run: str | Path) -> tuple[Scenario, float]:
    """The scenario a lab run ran (with its policy, duration and seed) and its scale,
    from the run file's meta.

    :raise StoreError: When the file is missing or not a run file.
    :raise FidelityError: When it is not a lab run, or does not say what it ran.
    """
    with RunStore.open(lab_run) as store:
        meta = store.meta()
    if meta.get("backend") != "qemu" or "lab_scale" not in meta:
        raise FidelityError(f"{lab_run}: not a lab run (its backend is {meta.get('backend')!r})")
    try:
        recorded = json.loads(meta["scenario_json"])
    except (KeyError, ValueError):
        raise FidelityError(f"{lab_run}: the run file does not record its scenario") from None
    source = f"{lab_run} (its scenario)"
    try:
        if "scenario_toml" in meta:
            # the file's text keeps which fields were left to their defaults
            scenario = parse_scenario(meta["scenario_toml"], source).with_overrides(
                policy=meta.get("policy"),
                duration_s=float(recorded["run"]["duration"]),
                seed=int(recorded["run"]["seed"]),
                source=source,
            )
        else:
            scenario = validate_scenario(recorded, source)
    except ScenarioError as err:
        raise FidelityError(f"{lab_run}: its scenario no longer validates: {err}") from None
    return scenario, float(meta["lab_scale"])


def resimulate(
    lab_runs: Sequence[str | Path], out_dir: str | Path, *, say: Callable[[str], None] = log.info
) -> dict[str, Path]:
    """Simulate again, matched, what each recorded lab run ran.

    :return: the new simulated run files, by policy.
    :raise FidelityError: When a file is not a lab run, or two are of one policy.
    """
    sim: dict[str, Path] = {}
    for lab_run in lab_runs:
        scenario, scale = recorded_scenario(lab_run)
        policy = scenario.manager.policy
        if policy in sim:
            raise FidelityError(f"two lab runs of policy {policy!r}: give one per policy")
        try:
            sim[policy] = _simulate(
                scenario, scale, run_path(out_dir, "sim", scenario.name, policy), Path(lab_run), say
            )
        except LabError as err:
            raise FidelityError(f"{lab_run}: {err}") from None
    return sim

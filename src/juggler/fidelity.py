"""How far the simulator is from the lab: the same scenario's run files from both worlds,
compared figure by figure (``juggler fidelity``).

Pure: run files in, rows out. Each row is one figure of one VM (or of the host,
``vm = "host"``) under one policy, as the lab measured it and as the simulator
predicted it, with the relative error ``(sim − lab) / lab`` (``None`` when the lab's
figure is 0 or a side is missing). The figures are the ones the summary and
:class:`~juggler.metrics.store.RunStore` already give, so a fidelity table reads a
run exactly as ``juggler simulate``/``lab run`` summarize it:

- ``host_swap_out_bytes``, ``host_swap_in_bytes``: the host's swapping of the VM's
  memory (the host's row: all of it), from :func:`~juggler.summary.summarize`;
- ``guest_swap_out_bytes``, ``guest_swap_in_bytes``: the guest's own swap I/O (the
  host's row: the sum over VMs);
- ``balloon_moved_bytes``: Σ |Δ balloon| over the run, ``RunStore.balloon_moved_bytes``;
- ``mean_resident_bytes``, ``peak_resident_bytes``: guest memory resident in host RAM,
  its mean over time (each sample weighted by the period it covers, as
  ``RunStore.integral`` weighs rates) and its highest sample (the host's row: of the
  VMs' sum at each sample time);
- ``throughput_vs_static``: the work the VM got done under the policy over the work
  under ``static`` in the same world: in the lab the accesses per second its own
  workload reported (``RunStore.workload_means``), in the simulator its achieved
  accesses (``RunStore.truth_totals``), whichever the run file has (truth first). Not
  given for ``static`` itself (it is 1 by definition), ``None`` without a static run
  or when the static run got no work done (an idle VM);
- ``decisions`` (host only): balloon targets the manager sent.

Which world a file comes from is the caller's to say (:func:`compare_runs` takes the
lab's and the simulator's files apart), so two simulations can be compared with this
code as well as a lab run and a simulation. :func:`sort_runs` sorts recorded files by
their ``backend`` for ``juggler fidelity --from``.

The issue's goal for a total (host swap-out, guest swap I/O, balloon movement, mean
resident) is the simulator within 25% of the lab, or within 32 MiB where both are
small (:func:`meets_goal`); for ``throughput_vs_static``, the same sign of "policy vs
static" (above 1, below 1, or within 2% of it) in both worlds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from juggler.errors import FidelityError
from juggler.metrics.store import RunStore
from juggler.summary import RunSummary, summarize
from juggler.units import MIB

#: the row of the host's totals
HOST = "host"
#: the policy every throughput is relative to
BASELINE = "static"

#: per-VM (and host) figures, in table order
METRICS: tuple[str, ...] = (
    "host_swap_out_bytes",
    "host_swap_in_bytes",
    "guest_swap_out_bytes",
    "guest_swap_in_bytes",
    "balloon_moved_bytes",
    "mean_resident_bytes",
    "peak_resident_bytes",
    "throughput_vs_static",
)
#: figures only the host's row has
HOST_METRICS: tuple[str, ...] = ("decisions",)

#: the totals the issue sets a goal for
GOAL_METRICS: frozenset[str] = frozenset(
    {
        "host_swap_out_bytes",
        "guest_swap_out_bytes",
        "guest_swap_in_bytes",
        "balloon_moved_bytes",
        "mean_resident_bytes",
    }
)
#: the simulator within this fraction of the lab...
GOAL_RELATIVE = 0.25
#: ...or within this many bytes of it (where both are small, 25% is less than this)
GOAL_BYTES = 32 * MIB
#: a throughput this close to static's (as a fraction) is neither better nor worse: a
#: lab run at 1.001× and a simulation at exactly 1× agree that the policy changed nothing
THROUGHPUT_TIE = 0.02


@dataclass(frozen=True)
class FidelityRow:
    """One figure of one VM (or ``host``) under one policy, in both worlds."""

    vm: str
    policy: str
    metric: str
    lab: float | None
    sim: float | None
    relative_error: float | None

    def meets_goal(self) -> bool | None:
        """Whether the simulator meets the issue's goal here (:func:`meets_goal`)."""
        return meets_goal(self.metric, self.lab, self.sim)


@dataclass(frozen=True)
class FidelityTable:
    """The comparison of one scenario at one scale."""

    scenario: str
    scale: float
    #: the policies compared, in the order asked
    policies: tuple[str, ...]
    rows: tuple[FidelityRow, ...]
    #: policy -> the run files compared (``lab``, ``sim``; ``None``: not given)
    runs: dict[str, dict[str, str | None]]
    #: policy -> the lab's QEMU overhead (all VMs) at boot and at the end, outside the
    #: guests' share; ``None`` where the lab run does not say
    overheads: dict[str, tuple[int | None, int | None]]

    def to_json(self) -> str:
        """``juggler fidelity --json``: scenario, scale and the rows, nothing else."""
        return json.dumps(
            {
                "scenario": self.scenario,
                "scale": self.scale,
                "rows": [asdict(row) for row in self.rows],
            },
            indent=2,
        )

    def row(self, vm: str, policy: str, metric: str) -> FidelityRow:
        """The row of ``vm``'s ``metric`` under ``policy``.

        :raise KeyError: When the table has none.
        """
        for row in self.rows:
            if (row.vm, row.policy, row.metric) == (vm, policy, metric):
                return row
        raise KeyError((vm, policy, metric))


def relative_error(lab: float | None, sim: float | None) -> float | None:
    """``(sim − lab) / lab``; ``None`` when a side is missing or the lab's is 0."""
    if lab is None or sim is None or lab == 0:
        return None
    return (sim - lab) / lab


def _side(ratio: float) -> int:
    """Above (1), below (-1) or at (0, within :data:`THROUGHPUT_TIE`) static's throughput."""
    if abs(ratio - 1) <= THROUGHPUT_TIE:
        return 0
    return 1 if ratio > 1 else -1


def meets_goal(metric: str, lab: float | None, sim: float | None) -> bool | None:
    """The issue's goal: a total within 25% of the lab or within 32 MiB; a throughput
    ratio on the same side of 1 as the lab's (both within 2% of 1 is the same side:
    no change). ``None``: no goal for this metric, or a side is missing."""
    if lab is None or sim is None:
        return None
    if metric == "throughput_vs_static":
        return _side(lab) == _side(sim)
    if metric not in GOAL_METRICS:
        return None
    return abs(sim - lab) <= max(GOAL_RELATIVE * abs(lab), GOAL_BYTES)


@dataclass(frozen=True)
class RunFigures:
    """What one run file says, for comparison: per VM (and ``host``) per metric."""

    path: Path
    scenario: str
    policy: str
    backend: str
    #: ``lab_scale`` (a lab run) or ``fidelity_scale`` (a matched simulation); None: neither
    scale: float | None
    vms: tuple[str, ...]
    #: (vm, metric) -> value, for :data:`METRICS` but the throughput, and the host's
    figures: dict[tuple[str, str], float | None]
    #: vm (and ``host``) -> work done per second, in the run's own measure
    work: dict[str, float | None]
    #: a lab run's QEMU overhead summed over VMs, at boot and at the end (None: not a lab run)
    overhead_bytes: tuple[int | None, int | None] = (None, None)


def _time_mean(t: np.ndarray, v: np.ndarray) -> float | None:
    """Each sample weighted by the period it covers (since the previous one)."""
    ok = np.isfinite(v)
    if not ok.any():
        return None
    t, v = t[ok], v[ok]
    if len(t) == 1:
        return float(v[0])
    dt = np.diff(t)
    return float(np.sum(v[1:] * dt) / np.sum(dt)) if np.sum(dt) > 0 else float(np.mean(v))


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


def _work_per_s(store: RunStore, summary: RunSummary, vm: str) -> float | None:
    truth = store.truth_totals(vm)
    if truth.achieved_accesses is not None:
        return truth.achieved_accesses / summary.duration_s if summary.duration_s > 0 else None
    means = store.workload_means(vm)
    return None if means is None else float(means.accesses_per_s)


def run_figures(path: str | Path) -> RunFigures:
    """Read one run file's figures.

    :raise StoreError: When it is missing or not a juggler run file.
    """
    with RunStore.open(path) as store:
        meta = store.meta(with_scenario_toml=False)
        summary = summarize(store)
        figures: dict[tuple[str, str], float | None] = {}
        work: dict[str, float | None] = {}
        resident_by_time: dict[float, float] = {}
        for vm in summary.vms:
            samples = store.vm_samples(vm.name)
            resident = samples.columns["resident_bytes"]
            for t, value in zip(samples.time_s, resident, strict=True):
                if math.isfinite(value):
                    resident_by_time[float(t)] = resident_by_time.get(float(t), 0.0) + value
            known = resident[np.isfinite(resident)]
            figures.update(
                {
                    (vm.name, "host_swap_out_bytes"): vm.host_swap_out_bytes,
                    (vm.name, "host_swap_in_bytes"): vm.host_swap_in_bytes,
                    (vm.name, "guest_swap_out_bytes"): vm.guest_swap_out_bytes,
                    (vm.name, "guest_swap_in_bytes"): vm.guest_swap_in_bytes,
                    (vm.name, "balloon_moved_bytes"): store.balloon_moved_bytes(vm.name),
                    (vm.name, "mean_resident_bytes"): _time_mean(samples.time_s, resident),
                    (vm.name, "peak_resident_bytes"): float(known.max()) if len(known) else None,
                }
            )
            work[vm.name] = _work_per_s(store, summary, vm.name)
        names = tuple(vm.name for vm in summary.vms)
        times = np.array(sorted(resident_by_time))
        total = np.array([resident_by_time[t] for t in times])
        host = summary.host
        figures.update(
            {
                (HOST, "host_swap_out_bytes"): host.host_swap_out_bytes,
                (HOST, "host_swap_in_bytes"): host.host_swap_in_bytes,
                (HOST, "guest_swap_out_bytes"): _sum(
                    [figures[vm, "guest_swap_out_bytes"] for vm in names]
                ),
                (HOST, "guest_swap_in_bytes"): _sum(
                    [figures[vm, "guest_swap_in_bytes"] for vm in names]
                ),
                (HOST, "balloon_moved_bytes"): store.balloon_moved_bytes(),
                (HOST, "mean_resident_bytes"): _time_mean(times, total),
                (HOST, "peak_resident_bytes"): float(total.max()) if len(total) else None,
                (HOST, "decisions"): float(summary.decisions),
            }
        )
        work[HOST] = _sum([work[vm] for vm in names])
    scale = meta.get("lab_scale") or meta.get("fidelity_scale")
    return RunFigures(
        path=Path(path),
        scenario=summary.scenario,
        policy=summary.policy,
        backend=summary.backend,
        scale=float(scale) if scale else None,
        vms=names,
        figures=figures,
        work=work,
        overhead_bytes=(
            _overhead(meta, "lab_overhead_bytes"),
            _overhead(meta, "lab_overhead_final_bytes"),
        ),
    )


def _overhead(meta: Mapping[str, str], key: str) -> int | None:
    """A lab run's per-VM overheads (a JSON object in its meta), summed."""
    try:
        return int(sum(json.loads(meta[key]).values()))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def _ratio(
    work: Mapping[str, float | None], baseline: Mapping[str, float | None], vm: str
) -> float | None:
    """``work[vm] / baseline[vm]``, ``None`` when either is unknown or the baseline 0."""
    mine, base = work.get(vm), baseline.get(vm)
    if mine is None or base is None or base == 0:
        return None
    return mine / base


def compare_runs(
    lab: Mapping[str, str | Path],
    sim: Mapping[str, str | Path],
    *,
    policies: Sequence[str] | None = None,
    scenario: str | None = None,
    scale: float | None = None,
) -> FidelityTable:
    """Compare the lab's run files with the simulator's, policy by policy.

    :param lab: policy -> the lab's run file (a policy may be missing: its lab column
        is then empty).
    :param sim: policy -> the simulator's run file (likewise).
    :param policies: the policies to compare, in order (default: every policy given,
        lab first); ``static``'s runs serve the throughputs even when it is not one.
    :param scenario: the scenario's name (default: the run files').
    :param scale: the lab's scale (default: the run files').
    :raise StoreError: When a run file is missing or not a juggler run file.
    :raise FidelityError: When the files are of different scenarios or scales, or none
        is given.
    """
    order = list(policies) if policies is not None else list(dict.fromkeys([*lab, *sim]))
    if not order:
        raise FidelityError("no run files to compare: give a lab and a simulated run file")
    # static's runs are read when given, compared or not: every throughput needs them
    wanted = [*order, BASELINE] if BASELINE not in order else order
    worlds = {
        "lab": {p: run_figures(lab[p]) for p in wanted if p in lab},
        "sim": {p: run_figures(sim[p]) for p in wanted if p in sim},
    }
    every = [f for runs in worlds.values() for f in runs.values()]
    if not every:
        raise FidelityError(f"no run file of the policies {', '.join(order)} was given")
    names = {f.scenario for f in every}
    if len(names) > 1:
        listed = "; ".join(f"{f.path}: {f.scenario!r}" for f in every)
        raise FidelityError(f"the run files are of different scenarios ({listed})")
    scales = {f.scale for f in every if f.scale is not None}
    if len(scales) > 1:
        listed = "; ".join(f"{f.path}: {f.scale:g}" for f in every if f.scale is not None)
        raise FidelityError(f"the run files are of different scales ({listed})")
    vms = tuple(dict.fromkeys(vm for f in every for vm in f.vms))
    rows: list[FidelityRow] = []
    for policy in order:
        lab_run, sim_run = worlds["lab"].get(policy), worlds["sim"].get(policy)
        for vm in (*vms, HOST):
            for metric in METRICS + (HOST_METRICS if vm == HOST else ()):
                if metric == "throughput_vs_static":
                    if policy == BASELINE:
                        continue
                    values = [_throughput(worlds[world], policy, vm) for world in ("lab", "sim")]
                else:
                    values = [
                        None if run is None else run.figures.get((vm, metric))
                        for run in (lab_run, sim_run)
                    ]
                lab_value, sim_value = (None if v is None else float(v) for v in values)
                rows.append(
                    FidelityRow(
                        vm,
                        policy,
                        metric,
                        lab_value,
                        sim_value,
                        relative_error(lab_value, sim_value),
                    )
                )
    runs = {
        policy: {
            world: str(worlds[world][policy].path) if policy in worlds[world] else None
            for world in ("lab", "sim")
        }
        for policy in order
    }
    return FidelityTable(
        scenario=scenario or every[0].scenario,
        scale=scale if scale is not None else (scales.pop() if scales else 1.0),
        policies=tuple(order),
        rows=tuple(rows),
        runs=runs,
        overheads={
            policy: worlds["lab"][policy].overhead_bytes
            if policy in worlds["lab"]
            else (None, None)
            for policy in order
        },
    )


def _throughput(runs: Mapping[str, RunFigures], policy: str, vm: str) -> float | None:
    run, baseline = runs.get(policy), runs.get(BASELINE)
    if run is None or baseline is None:
        return None
    return _ratio(run.work, baseline.work, vm)


def sort_runs(paths: Sequence[str | Path]) -> tuple[dict[str, Path], dict[str, Path]]:
    """Recorded run files sorted into the lab's and the simulator's, by policy, from each
    file's ``backend`` (``qemu``: the lab; ``sim``: the simulator).

    :raise StoreError: When a file is missing or not a run file.
    :raise FidelityError: When a file is of neither world, or two are of one policy in
        one world.
    """
    lab: dict[str, Path] = {}
    sim: dict[str, Path] = {}
    for path in paths:
        with RunStore.open(path) as store:
            meta = store.meta(with_scenario_toml=False)
        backend, policy = meta.get("backend", ""), meta.get("policy", "")
        world = {"qemu": lab, "sim": sim}.get(backend)
        if world is None:
            raise FidelityError(
                f"{path}: backend {backend!r} is neither the lab's (qemu) nor the simulator's (sim)"
            )
        if policy in world:
            raise FidelityError(
                f"{path} and {world[policy]} are both {backend} runs of policy {policy!r}; "
                "give one of each"
            )
        world[policy] = Path(path)
    return lab, sim

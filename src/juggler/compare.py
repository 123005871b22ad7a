"""Compare policies: every policy on every scenario with the same seeds, side by side.

Pure pieces, so the CLI stays thin and each can be tested alone:

- :func:`build_jobs` — the job list scenario × policy × seed (seed *i* is the
  scenario's own seed + *i*), each with the run file it will write;
- :func:`run_job` — simulate one job, return its result row (a failed job —
  any :class:`~juggler.errors.JugglerError` — is a row carrying the error);
- :func:`run_jobs` — run the jobs in local processes or on a dask cluster;
- :func:`with_excess_slowdown` — each row's mean slowdown over the ``oracle``'s on
  the same scenario and seed (the bound: what no policy can do better than);
- :func:`aggregate` — average the rows over seeds, per scenario and policy;
- :func:`best_marks` — which cells are best in each column (lowest wins).

The simulator is deterministic per seed, so the same jobs give the same numbers
wherever they run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from juggler.errors import JugglerError, PolicyError, ScenarioError

if TYPE_CHECKING:
    from juggler.control import ControlFigures
    from juggler.summary import RunSummary

#: the metric columns of a result row, in table order; lowest is best for all of them
METRICS: tuple[str, ...] = (
    "mean_slowdown",
    "worst_slowdown",
    "guest_swap_bytes",
    "host_swap_bytes",
    "balloon_moved_bytes",
    "seconds_hard_low",
    "reservation_violations",
    "guest_oom",
    "reversals_per_vm_per_10min",
    "reversals_max_vm_per_10min",
    "oom_rescues",
    "host_in_use_bytes",
    "excess_slowdown",
)

#: the policy whose slowdown ``excess_slowdown`` is measured from
BASELINE_POLICY = "oracle"

#: the keys of a result row (``--json`` and ``--csv``), in order
ROW_KEYS: tuple[str, ...] = ("scenario", "policy", "seed", *METRICS, "run", "error")

#: values within this fraction of the best are marked best too
TIE_TOLERANCE = 0.01

DASK_HINT = "pip install 'juggler[dask]'"


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario file read and validated once, in the process that plans the jobs."""

    source: str
    text: str
    name: str
    seed: int


@dataclass(frozen=True)
class Job:
    """One simulation: a scenario (as its TOML text), a policy, a seed, a run file."""

    scenario: str
    source: str
    text: str
    policy: str
    seed: int
    duration_s: float | None
    out: str
    #: the host profile to run with instead of the scenario's (None: the scenario's)
    profile: str | None = None


def parse_policies(text: str, known: Iterable[str]) -> list[str]:
    """``"a, b,a"`` → ``["a", "b"]``.

    :raise PolicyError: When a name is unknown (listing the known ones), none is given,
        or a plug-in's spec does not load (naming it).
    """
    from juggler.policy import get_policy, is_known_policy

    known = sorted(known)
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise PolicyError(f"no policy given (choose from: {', '.join(known)})")
    unknown = [name for name in names if name not in known and not is_known_policy(name)]
    if unknown:
        which = ", ".join(repr(name) for name in unknown)
        raise PolicyError(
            f"unknown polic{'ies' if len(unknown) > 1 else 'y'} {which} "
            f"(choose from: {', '.join(known)})"
        )
    for name in names:
        if name not in known:
            get_policy(name)  # a plug-in: a spec that does not load fails here, naming it
    return names


def load_scenario_files(paths: Sequence[str | Path]) -> list[ScenarioFile]:
    """Read and validate every scenario file, before anything runs.

    :raise JugglerError: When there are none.
    :raise ScenarioError: When one is missing or invalid, or two share a name (their
        run files would collide).
    """
    from juggler.scenario import load_scenario

    if not paths:
        raise JugglerError(
            "no scenario files given: name one or more scenario TOML files "
            "(e.g. juggler compare examples/suite/*.toml)"
        )
    files: list[ScenarioFile] = []
    seen: dict[str, str] = {}
    for path in paths:
        scenario = load_scenario(path)
        if scenario.name in seen:
            raise ScenarioError(
                str(path),
                [
                    f"name: {scenario.name!r} is also the name of {seen[scenario.name]}; "
                    "give each compared scenario its own name"
                ],
            )
        seen[scenario.name] = str(path)
        files.append(
            ScenarioFile(
                source=str(path),
                text=Path(path).read_text(encoding="utf-8"),
                name=scenario.name,
                seed=scenario.run.seed,
            )
        )
    return files


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "scenario"


def build_jobs(
    scenarios: Sequence[ScenarioFile],
    policies: Sequence[str],
    seeds: int,
    out_dir: str | Path,
    duration_s: float | None = None,
    profile: str | None = None,
) -> list[Job]:
    """Every policy on every scenario with seeds ``scenario.seed + i`` for ``i < seeds``,
    each writing ``<out_dir>/<scenario>-<policy>-s<seed>.sqlite``."""
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    out_dir = Path(out_dir)
    return [
        Job(
            scenario=scenario.name,
            source=scenario.source,
            text=scenario.text,
            policy=policy,
            seed=scenario.seed + i,
            duration_s=duration_s,
            profile=profile,
            out=str(
                out_dir / f"{_safe(scenario.name)}-{_safe(policy)}-s{scenario.seed + i}.sqlite"
            ),
        )
        for scenario in scenarios
        for policy in policies
        for i in range(seeds)
    ]


def balloon_moved_bytes(run: str | Path) -> int:
    """Sum over VMs of |Δ balloon_actual| between consecutive samples of a run file.

    :raise StoreError: When the run file cannot be read.
    """
    from juggler.metrics.store import RunStore

    with RunStore.open(run) as store:
        return round(store.balloon_moved_bytes())


def row_from_summary(job: Job, summary: RunSummary, control: ControlFigures) -> dict[str, Any]:
    """A job's result row from its run's summary and control figures (``excess_slowdown``
    is left to :func:`with_excess_slowdown`, which sees the other policies' rows)."""
    slowdowns = [vm.slowdown for vm in summary.vms if vm.slowdown is not None]
    host = summary.host
    states = host.seconds_in_state
    return {
        "scenario": job.scenario,
        "policy": job.policy,
        "seed": job.seed,
        "mean_slowdown": round(sum(slowdowns) / len(slowdowns), 4) if slowdowns else None,
        "worst_slowdown": max(slowdowns) if slowdowns else None,
        "guest_swap_bytes": sum(
            (vm.guest_swap_in_bytes or 0) + (vm.guest_swap_out_bytes or 0) for vm in summary.vms
        ),
        "host_swap_bytes": (host.host_swap_in_bytes or 0) + (host.host_swap_out_bytes or 0),
        "balloon_moved_bytes": control.balloon_moved_bytes,
        "seconds_hard_low": round(states.get("hard", 0.0) + states.get("low", 0.0), 3),
        "reservation_violations": summary.violations.reservation,
        "guest_oom": summary.violations.guest_oom,
        "reversals_per_vm_per_10min": control.reversals_per_vm_per_10min,
        "reversals_max_vm_per_10min": control.reversals_max_vm_per_10min,
        "oom_rescues": control.oom_rescues,
        "host_in_use_bytes": control.host_in_use_bytes,
        "excess_slowdown": None,
        "run": summary.run,
        "error": None,
    }


def with_excess_slowdown(
    rows: Iterable[dict[str, Any]], baseline: str = BASELINE_POLICY
) -> list[dict[str, Any]]:
    """The rows with ``excess_slowdown``: the row's mean slowdown less the baseline's on
    the same scenario and seed (``None`` where either is missing or failed, and for
    every row when the baseline was not among the policies). The rows given are not
    changed."""
    rows = list(rows)
    bound = {
        (row["scenario"], row["seed"]): row["mean_slowdown"]
        for row in rows
        if row["policy"] == baseline and not row.get("error")
    }
    result = []
    for row in rows:
        base = bound.get((row["scenario"], row["seed"]))
        mine = row.get("mean_slowdown")
        excess = None
        if base is not None and mine is not None and not row.get("error"):
            excess = round(mine - base, 4)
        result.append({**row, "excess_slowdown": excess})
    return result


def error_row(job: Job, error: str) -> dict[str, Any]:
    """The row of a job that failed: its identity, no numbers, the error."""
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row.update(scenario=job.scenario, policy=job.policy, seed=job.seed, run=job.out, error=error)
    return row


def run_job(job: Job) -> dict[str, Any]:
    """Simulate one job and return its row; a :class:`JugglerError` becomes the row's error.

    Runs in a worker process (local or dask), so it takes and returns plain data.
    """
    from juggler.control import control_figures
    from juggler.scenario import parse_scenario
    from juggler.simulate import run_simulation

    try:
        scenario = parse_scenario(job.text, job.source)
        if job.policy != scenario.manager.policy and scenario.manager.params:
            # [manager.params] belong to the scenario's own policy, not to this one
            manager = scenario.manager.model_copy(update={"params": {}})
            scenario = scenario.model_copy(update={"manager": manager})
        scenario = scenario.with_overrides(
            policy=job.policy,
            duration_s=job.duration_s,
            seed=job.seed,
            profile=job.profile,
            source=f"{job.source} with --policy {job.policy} --seed {job.seed}"
            + (f" --profile {job.profile}" if job.profile else ""),
        )
        Path(job.out).parent.mkdir(parents=True, exist_ok=True)
        summary = run_simulation(scenario, job.out, scenario_text=job.text)
        return row_from_summary(job, summary, control_figures(job.out))
    except JugglerError as error:
        return error_row(job, str(error))
    except OSError as error:
        return error_row(job, f"{job.out}: {error.strerror or error}")


def _crashed(job: Job, error: BaseException) -> dict[str, Any]:
    return error_row(job, f"{type(error).__name__}: {error}")


def run_jobs(
    jobs: Sequence[Job],
    workers: int | None = None,
    dask: str | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``jobs`` and return their rows in job order.

    :param workers: processes (default: ``os.cpu_count()``); with ``dask="local"`` the
        number of workers of the local cluster.
    :param dask: ``None`` for local processes, ``"local"`` for a ``distributed.LocalCluster``,
        or a scheduler address (``tcp://host:8786``).
    :param on_done: called with each row as its job finishes (for a progress bar).
    :raise JugglerError: When dask is asked for but not installed or not reachable.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    if dask is not None:
        return _run_dask(jobs, workers, dask, on_done)
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    if not jobs:
        return []
    # spawn: workers start clean (no copy of the parent's threads, such as a progress bar's)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")
    ) as pool:
        futures = {pool.submit(run_job, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                row = future.result()
            except Exception as error:  # a crashed worker must not stop the others
                row = _crashed(jobs[index], error)
            rows[index] = row
            if on_done is not None:
                on_done(row)
    return [row for row in rows if row is not None]


def import_distributed() -> Any:
    """The ``distributed`` module, or a clear error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise JugglerError(
            f"--dask needs the 'distributed' package, which is not installed: {DASK_HINT}"
        ) from None
    return distributed


def _run_dask(
    jobs: Sequence[Job],
    workers: int,
    address: str,
    on_done: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    distributed = import_distributed()
    cluster = None
    try:
        if address == "local":
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(address, timeout="10s")
            except (OSError, TimeoutError) as error:
                raise JugglerError(
                    f"--dask: cannot reach the dask scheduler at {address}: {error}"
                ) from None
        with client:
            futures = client.map(run_job, list(jobs), pure=False)
            index_of = {future.key: index for index, future in enumerate(futures)}
            rows: list[dict[str, Any] | None] = [None] * len(jobs)
            for future in distributed.as_completed(futures):
                index = index_of[future.key]
                try:
                    row = future.result()
                except Exception as error:  # a lost worker or a bug: report, carry on
                    row = _crashed(jobs[index], error)
                rows[index] = row
                if on_done is not None:
                    on_done(row)
    finally:
        if cluster is not None:
            cluster.close()
    return [row for row in rows if row is not None]


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{scenario: {policy: {metric: mean over seeds, "runs": n, "failed": n}}}``.

    Failed rows count in ``failed`` and not in the means; a metric no run measured is
    ``None``. Scenarios and policies keep the order they first appear in. The excess
    slowdown is the mean over seeds of each seed's excess over the baseline's
    (:func:`with_excess_slowdown`).
    """
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in with_excess_slowdown(rows):
        groups.setdefault(row["scenario"], {}).setdefault(row["policy"], []).append(row)
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario, by_policy in groups.items():
        result[scenario] = {}
        for policy, group in by_policy.items():
            good = [row for row in group if not row.get("error")]
            entry: dict[str, Any] = {"runs": len(good), "failed": len(group) - len(good)}
            for metric in METRICS:
                values = [row[metric] for row in good if row.get(metric) is not None]
                entry[metric] = sum(values) / len(values) if values else None
            result[scenario][policy] = entry
    return result


def best_marks(
    by_policy: dict[str, dict[str, Any]],
    metrics: Sequence[str] = METRICS,
    tolerance: float = TIE_TOLERANCE,
) -> dict[str, set[str]]:
    """For each metric, the policies whose value is best (lowest), ties within
    ``tolerance`` of the best all marked. Policies with no value are never marked."""
    marks: dict[str, set[str]] = {}
    for metric in metrics:
        values = {
            policy: entry[metric]
            for policy, entry in by_policy.items()
            if entry.get(metric) is not None
        }
        if not values:
            marks[metric] = set()
            continue
        best = min(values.values())
        limit = best + abs(best) * tolerance
        marks[metric] = {policy for policy, value in values.items() if value <= limit}
    return marks


def default_out_dir(directory: str | Path = "runs") -> Path:
    """``runs/compare-<time>``."""
    return Path(directory) / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"


def write_csv(rows: Iterable[dict[str, Any]], path: str | Path) -> None:
    """The rows as CSV with a header (``ROW_KEYS``); empty cells for missing values.

    :raise JugglerError: When the file cannot be written.
    """
    import csv

    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=ROW_KEYS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: "" if row.get(key) is None else row[key] for key in ROW_KEYS})
    except OSError as error:
        raise JugglerError(f"--csv: cannot write {path}: {error.strerror or error}") from None

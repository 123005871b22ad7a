"""Run a scenario on the simulated host: the Manager, a SimulatedHost, a run file."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from juggler import __version__
from juggler.backend import Backend
from juggler.manager import Limits, Manager, Recorder
from juggler.metrics.store import RunStore
from juggler.metrics.tee import tee
from juggler.pacing import PacedBackend
from juggler.policy import get_policy
from juggler.scenario import Scenario
from juggler.sim.host import SimulatedHost
from juggler.summary import RunSummary, summarize


def default_run_path(scenario: Scenario, directory: str | Path = "runs") -> Path:
    """``runs/<scenario>-<policy>-<seed>-<time>.sqlite``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{scenario.name}-{scenario.manager.policy}-s{scenario.run.seed}-{stamp}.sqlite"
    return Path(directory) / name


def run_simulation(
    scenario: Scenario,
    out: str | Path,
    progress: Callable[[float], None] | None = None,
    scenario_text: str | None = None,
    *,
    recorder: Recorder | None = None,
    speed: float | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Simulate ``scenario`` under its own policy, write the run file, return the summary.

    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param speed: simulated seconds per wall second, for watching a run live
        (``juggler simulate --top`` or ``--serve``); None runs as fast as the engine goes.
    :param stop: when set, the run ends at the next tick, its file closed and
        summarized like a complete one (shorter).
    :raise PolicyError: When the policy or its parameters are unknown.
    :raise SimulationError: When the host cannot even hold the guests' kernels.
    """
    policy = get_policy(scenario.manager.policy)
    params = policy.make_params(scenario.manager.params)
    host = SimulatedHost(scenario)
    # a paced run waits on ``stop`` rather than sleeping, so it stops at once
    wait = stop.wait if stop is not None else time.sleep
    backend: Backend = host if speed is None else PacedBackend(host, speed, sleep=wait)
    meta = {
        "scenario": scenario.name,
        "policy": policy.name,
        "backend": "sim",
        "juggler_version": __version__,
        "seed": scenario.run.seed,
        "page_size": scenario.run.page_size,
        "tick_s": scenario.run.tick,
        "interval_s": scenario.manager.interval,
        "scenario_json": scenario.model_dump(mode="json"),
    }
    if scenario_text is not None:
        meta["scenario_toml"] = scenario_text
    limits = Limits(
        max_step_bytes=scenario.manager.max_step, dead_band_bytes=scenario.manager.dead_band
    )
    with RunStore.create(out, meta) as store:
        manager = Manager(
            backend,
            policy,
            params,
            tee(store, recorder),
            interval_s=scenario.manager.interval,
            sample_s=scenario.run.tick,
            limits=limits,
            seed=scenario.run.seed,
        )
        started = time.perf_counter()
        with contextlib.suppress(_Stopped):
            manager.run(scenario.run.duration, progress=_stoppable(progress, stop))
        store.set_meta({"wall_seconds": round(time.perf_counter() - started, 3)})
        backend.close()
    with RunStore.open(out) as store:
        return summarize(store)


class _Stopped(Exception):
    """Raised from the progress callback to leave the Manager's loop when asked to stop."""


def _stoppable(
    progress: Callable[[float], None] | None, stop: threading.Event | None
) -> Callable[[float], None] | None:
    """``progress``, also ending the run between two ticks once ``stop`` is set."""
    if stop is None:
        return progress

    def step(elapsed: float) -> None:
        if stop.is_set():
            raise _Stopped
        if progress is not None:
            progress(elapsed)

    return step

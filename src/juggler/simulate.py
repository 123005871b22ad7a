"""Run a scenario on the simulated host: a SimulatedHost, driven by :mod:`juggler.runner`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from juggler import __version__
from juggler.backend import Backend
from juggler.manager import Limits, Recorder
from juggler.pacing import PacedBackend
from juggler.policy import get_policy
from juggler.runner import Schedule, Stop, run
from juggler.scenario import Scenario
from juggler.sim.host import SimulatedHost
from juggler.summary import RunSummary


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
    extra_meta: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Simulate ``scenario`` under its own policy, write the run file, return the summary.

    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param speed: simulated seconds per wall second, for watching a run live
        (``juggler simulate --top`` or ``--serve``); None runs as fast as the engine goes.
    :param stop: when set, the run ends at the next tick, its file closed and
        summarized like a complete one (shorter).
    :param extra_meta: more facts for the run's meta (``juggler fidelity``'s scale and
        the lab run it matches).
    :raise PolicyError: When the policy or its parameters are unknown.
    :raise SimulationError: When the host cannot even hold the guests' kernels.
    """
    policy = get_policy(scenario.manager.policy)
    params = policy.make_params(scenario.manager.params)
    host = SimulatedHost(scenario)
    stopping = Stop(stop)
    # a paced run waits on the stop rather than sleeping, so it stops at once
    backend: Backend = host if speed is None else PacedBackend(host, speed, sleep=stopping.wait)
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
    meta.update(extra_meta or {})
    schedule = Schedule(
        interval_s=scenario.manager.interval,
        duration_s=scenario.run.duration,
        sample_s=scenario.run.tick,
        limits=Limits(
            max_step_bytes=scenario.manager.max_step, dead_band_bytes=scenario.manager.dead_band
        ),
        seed=scenario.run.seed,
        balloon_costs=scenario.host.host_profile().balloon,
    )
    try:
        return run(
            backend,
            policy,
            params,
            schedule,
            out,
            meta,
            recorder=recorder,
            stop=stopping,
            progress=progress,
        )
    finally:
        backend.close()

"""The one way to run the Manager: its stops, its bookkeeping, its summary."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from juggler.manager import Limits
from juggler.metrics.store import RunStore
from juggler.policy import get_policy
from juggler.runner import Schedule, Stop, run
from juggler.scenario import Scenario, builtin_scenario_text, parse_scenario
from juggler.sim.host import SimulatedHost
from juggler.summary import summarize


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(builtin_scenario_text("seed"), "<built-in seed>").with_overrides(
        duration_s=60
    )


def _run(scenario: Scenario, out: Path, duration_s: float, **options: object) -> dict:
    policy = get_policy(scenario.manager.policy)
    host = SimulatedHost(scenario)
    try:
        return run(
            host,
            policy,
            policy.make_params(scenario.manager.params),
            Schedule(
                interval_s=scenario.manager.interval,
                duration_s=duration_s,
                sample_s=scenario.run.tick,
                limits=Limits(),
                seed=scenario.run.seed,
            ),
            out,
            {"scenario": scenario.name, "policy": policy.name, "backend": "sim"},
            **options,  # type: ignore[arg-type]
        )
    finally:
        host.close()


def _meta(out: Path, key: str) -> str:
    with RunStore.open(out) as store:
        return store.meta()[key]


def _last_sample_s(out: Path) -> float:
    with RunStore.open(out) as store:
        return float(store.host_samples().time_s[-1])


def test_a_run_ends_with_its_duration_and_is_summarized(scenario: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    summary = _run(scenario, out, 30.0)
    assert summary.duration_s == pytest.approx(30.0)
    assert summary.run == str(out) and len(summary.vms) == len(scenario.vm)
    assert _meta(out, "ended") == "duration"
    assert float(_meta(out, "wall_seconds")) >= 0
    # juggler decides at the scenario's interval, with the guard's extras
    assert float(_meta(out, "decide_interval_s")) == scenario.manager.interval
    assert _meta(out, "guard_extras") == "true"
    with RunStore.open(out) as store:
        assert summarize(store) == summary


def test_a_stop_set_mid_run_ends_it_after_that_sample_with_a_whole_run_file(
    scenario: Scenario, tmp_path: Path
) -> None:
    stop = Stop()
    seen: list[float] = []

    def progress(elapsed: float) -> None:
        seen.append(elapsed)
        if elapsed >= 10.0:
            stop.set()

    out = tmp_path / "run.sqlite"
    summary = _run(scenario, out, 60.0, stop=stop, progress=progress)
    assert seen[-1] == pytest.approx(10.0), "the loop went on after the stop"
    assert summary.duration_s == pytest.approx(10.0)
    assert _last_sample_s(out) == pytest.approx(seen[-1], abs=scenario.run.tick)
    assert _meta(out, "ended") == "stop"
    with RunStore.open(out) as store:
        assert summarize(store) == summary


def test_a_stop_set_before_the_run_still_records_its_first_sample(
    scenario: Scenario, tmp_path: Path
) -> None:
    stop = Stop()
    stop.set("quit")
    out = tmp_path / "run.sqlite"
    summary = _run(scenario, out, 60.0, stop=stop)
    assert summary.duration_s == 0.0 and summary.vms
    assert _meta(out, "ended") == "quit"


def test_a_signal_while_running_stops_the_run_and_is_the_reason(
    scenario: Scenario, tmp_path: Path
) -> None:
    stop = Stop()

    def progress(elapsed: float) -> None:
        if elapsed == 5.0:
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "run.sqlite"
    with stop.on_signals():
        summary = _run(scenario, out, 60.0, stop=stop, progress=progress)
    assert summary.duration_s == pytest.approx(5.0, abs=1.0)
    assert _meta(out, "ended") == "signal"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the handler was not put back"


def test_a_second_signal_interrupts_at_once(scenario: Scenario, tmp_path: Path) -> None:
    stop = Stop()

    def progress(elapsed: float) -> None:
        if elapsed == 5.0:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)

    with stop.on_signals(), pytest.raises(KeyboardInterrupt):
        _run(scenario, tmp_path / "run.sqlite", 60.0, stop=stop, progress=progress)


def test_a_signal_with_no_run_under_way_interrupts() -> None:
    with Stop().on_signals([signal.SIGTERM]), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs first


def test_off_the_main_thread_signals_are_left_alone() -> None:
    handlers: list[object] = []

    def install() -> None:
        with Stop().on_signals():
            handlers.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert handlers == [signal.SIG_DFL]


def test_a_wall_clock_pause_ends_as_soon_as_the_stop_is_set(
    scenario: Scenario, tmp_path: Path
) -> None:
    """A real host's ``advance`` only sleeps; with ``wall_clock`` a stop cuts that sleep
    short (here a 10-minute sample period, stopped after a fraction of a second)."""
    stop = Stop()
    policy = get_policy("static")
    host = SimulatedHost(scenario)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    try:
        run(
            host,
            policy,
            policy.make_params({}),
            Schedule(interval_s=600.0, duration_s=float("inf")),
            tmp_path / "run.sqlite",
            {"scenario": scenario.name, "policy": policy.name, "backend": "sim"},
            stop=stop,
            wall_clock=True,
        )
    finally:
        host.close()
    assert time.monotonic() - started < 30
    assert _meta(tmp_path / "run.sqlite", "ended") == "stop"


def test_the_meta_records_a_baselines_own_cadence_and_guard(
    scenario: Scenario, tmp_path: Path
) -> None:
    out = tmp_path / "proxmox.sqlite"
    proxmox = scenario.model_copy(
        update={"manager": scenario.manager.model_copy(update={"policy": "proxmox"})}
    )
    assert proxmox.manager.interval == 5.0
    _run(proxmox, out, 20.0)
    assert float(_meta(out, "decide_interval_s")) == 10.0  # pvestatd's cycle, not the 5 s
    assert _meta(out, "guard_extras") == "false"
    assert _meta(out, "busy_interval_s") == "null"

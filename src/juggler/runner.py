"""One way to run the Manager, for every world: simulate, ``lab run``, ``juggler run``.

A run is always the same recipe: a run file created with the run's meta, the
Manager recording to it (and to any extra recorder, such as a live exporter,
through :func:`~juggler.metrics.tee.tee`), the loop until the duration ends or
something asks it to stop, the wall-clock bookkeeping written to the meta, and
the summary read back from the closed file. Only what differs is left to the
callers: the backend, the policy, the meta, and what plays the stop.

Why one stop, checked between samples: whatever ends a run early — ``juggler
top``'s quit, SIGINT or SIGTERM, a caller's progress callback — sets one
:class:`Stop`, which the Manager looks at after each pause. A sample is never
cut in half, so the run file and its summary are whole, only shorter. While a
run is under way a signal only asks it to stop; a second one, or one before the
run starts or after it ends (a lab booting or being torn down), interrupts at
once (``KeyboardInterrupt``), so cleanup code runs either way.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from juggler.backend import Backend
from juggler.manager import Limits, Manager, ProgressFn, Recorder
from juggler.metrics.store import RunStore
from juggler.metrics.tee import tee
from juggler.pacing import StoppableWait
from juggler.policy.base import Policy
from juggler.profile import BalloonCosts
from juggler.summary import RunSummary, summarize

log = logging.getLogger(__name__)

#: the signals :meth:`Stop.on_signals` handles unless told others
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """What ends a run early: set it, and the run ends after its current sample.

    :param event: the event to set and watch, when someone else holds it too (such
        as ``juggler top``'s quit); a fresh one otherwise.
    """

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event if event is not None else threading.Event()
        #: why it was set (``"signal"``, or what :meth:`set` was told), None until then
        self.reason: str | None = None
        self._running = False

    def set(self, reason: str = "stop") -> None:
        """Ask the run to stop; the first reason given is the one kept."""
        if self.reason is None:
            self.reason = reason
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if the stop is set meanwhile.

        :return: whether it is set.
        """
        return self.event.wait(seconds)

    @contextlib.contextmanager
    def on_signals(self, signums: Sequence[int] = STOP_SIGNALS) -> Iterator[Stop]:
        """While inside, ``signums`` stop the run under way, and interrupt
        (``KeyboardInterrupt``) when there is none or it is already stopping.

        Outside the main thread signals cannot be caught: nothing is installed.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in signums}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Mark the time during which a signal stops rather than interrupts."""
        self._running = True
        try:
            yield
        finally:
            self._running = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._running or self.is_set():
            raise KeyboardInterrupt
        log.warning("%s: stopping after this sample", signal.Signals(signum).name)
        self.set("signal")


@dataclass(frozen=True)
class Schedule:
    """When the Manager samples and decides, for how long, and the guard's bounds."""

    #: seconds between decisions
    interval_s: float
    #: seconds of the run (``math.inf``: until stopped)
    duration_s: float
    #: seconds between samples (None: the interval)
    sample_s: float | None = None
    limits: Limits = field(default_factory=Limits)
    #: seeds the policy's random generator
    seed: int = 0
    #: what moving memory costs on this host (the host profile's), told to the policy
    balloon_costs: BalloonCosts | None = None


def run(
    backend: Backend,
    policy: Policy,
    params: Any,
    schedule: Schedule,
    out: str | Path,
    meta: Mapping[str, Any],
    *,
    recorder: Recorder | None = None,
    stop: Stop | None = None,
    progress: ProgressFn | None = None,
    wall_clock: bool = False,
    final_meta: Callable[[], Mapping[str, Any]] | None = None,
) -> RunSummary:
    """Manage ``backend`` with ``policy``, recording to a new run file ``out``, and
    return its summary (:func:`~juggler.summary.summarize`).

    The backend is the caller's to open and close. The meta gets what the Manager
    actually runs at (``decide_interval_s``, ``busy_interval_s``, ``guard_extras``:
    :meth:`~juggler.manager.Manager.cadence_meta`) and, once the loop ends,
    ``wall_seconds`` and ``ended`` (``"duration"``, or the stop's reason).

    :param params: the policy's parameters (``policy.make_params(...)``).
    :param meta: the run's meta (the run file's ``meta`` table).
    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param stop: ends the run after the current sample when set.
    :param progress: told the seconds run so far after each sample.
    :param wall_clock: the backend's ``advance`` only sleeps (a real host): a stop
        then ends the pause at once instead of after the interval.
    :param final_meta: more facts for the meta once the loop ends (the lab's usage).
    :raise StoreError: When the run file cannot be created.
    """
    stop = stop if stop is not None else Stop()
    driven: Backend = StoppableWait(backend, stop.event) if wall_clock else backend
    with RunStore.create(out, dict(meta)) as store:
        manager = Manager(
            driven,
            policy,
            params,
            tee(store, recorder),
            interval_s=schedule.interval_s,
            sample_s=schedule.sample_s,
            limits=schedule.limits,
            seed=schedule.seed,
            balloon_costs=schedule.balloon_costs,
        )
        store.set_meta(manager.cadence_meta())
        started = time.perf_counter()
        with stop.running():
            manager.run(schedule.duration_s, progress=progress, stop=stop.event)
        ended = {
            "wall_seconds": round(time.perf_counter() - started, 3),
            "ended": (stop.reason or "stop") if stop.is_set() else "duration",
        }
        store.set_meta({**ended, **(final_meta() if final_meta is not None else {})})
    with RunStore.open(out) as store:
        return summarize(store)

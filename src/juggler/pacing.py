"""Backends that wrap another: paced to a wall clock, or with pauses a stop ends.

Both change only how time passes between samples, so both forward every other
call through :class:`ForwardingBackend`.

A simulation normally runs as fast as the engine goes. To watch it live (``juggler
top``, a Prometheus scrape, a Grafana dashboard) simulated time must pass at a
pace a person or a scraper can follow: :class:`PacedBackend` wraps any backend and
sleeps in ``advance`` until ``speed`` simulated seconds have passed per wall second.
A simulation that cannot keep up simply runs late; it never skips work.
On a real host, time passes by itself and ``advance`` only sleeps:
:class:`StoppableWait` waits on a stop instead, so a stop ends the pause at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from juggler.backend import Backend
from juggler.backend import provides_truth as _provides_truth
from juggler.observation import Decision, Observation


class ForwardingBackend:
    """A backend that passes every call on to ``backend``; subclasses change one or two.

    :param backend: the backend wrapped.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def provides_truth(self) -> bool:
        """Whether the wrapped backend's observations carry the simulator's truth."""
        return _provides_truth(self.backend)

    def observe(self) -> Observation:
        return self.backend.observe()

    def apply(self, decision: Decision) -> None:
        self.backend.apply(decision)

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    def close(self) -> None:
        self.backend.close()


class StoppableWait(ForwardingBackend):
    """A wall-clock backend (one whose ``advance`` only sleeps) whose pauses end
    as soon as ``stop`` is set, rather than after the whole interval.

    :param backend: the backend on the wall clock (such as a ``QemuBackend``).
    :param stop: what ends a pause early.
    """

    def __init__(self, backend: Backend, stop: threading.Event) -> None:
        super().__init__(backend)
        self.stop = stop

    def advance(self, seconds: float) -> None:
        self.stop.wait(seconds)


class PacedBackend(ForwardingBackend):
    """A backend whose clock runs at ``speed`` × the wall clock.

    :param backend: the backend to pace (usually a ``SimulatedHost``).
    :param speed: simulated seconds per wall second (1 = real time); more than 0.
    :param clock: the wall clock (for tests).
    :param sleep: how to wait (a stop's ``wait``, so that a stop ends the wait at once;
        tests pass their own).
    """

    def __init__(
        self,
        backend: Backend,
        speed: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed(={speed}) must be more than 0")
        super().__init__(backend)
        self.speed = speed
        self._clock = clock
        self._sleep = sleep
        self._started: float | None = None
        self._simulated = 0.0

    def observe(self) -> Observation:
        if self._started is None:
            self._started = self._clock()
        return self.backend.observe()

    def advance(self, seconds: float) -> None:
        if self._started is None:
            self._started = self._clock()
        self.backend.advance(seconds)
        self._simulated += seconds
        due = self._started + self._simulated / self.speed
        wait = due - self._clock()
        if wait > 0:
            self._sleep(wait)

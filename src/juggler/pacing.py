"""Run a simulated host at the speed of a wall clock.

A simulation normally runs as fast as the engine goes. To watch it live (``juggler
top``, a Prometheus scrape, a Grafana dashboard) simulated time must pass at a
pace a person or a scraper can follow: :class:`PacedBackend` wraps any backend and
sleeps in ``advance`` until ``speed`` simulated seconds have passed per wall second.
A simulation that cannot keep up simply runs late; it never skips work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from juggler.backend import Backend
from juggler.observation import Decision, Observation


class PacedBackend:
    """A backend whose clock runs at ``speed`` × the wall clock.

    :param backend: the backend to pace (usually a ``SimulatedHost``).
    :param speed: simulated seconds per wall second (1 = real time); more than 0.
    :param clock: the wall clock (for tests).
    :param sleep: how to wait (for tests).
    """

    def __init__(
        self,
        backend: Backend,
        speed: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed(={speed}) must be more than 0")
        self.backend = backend
        self.speed = speed
        self._clock = clock
        self._sleep = sleep
        self._started: float | None = None
        self._simulated = 0.0

    def observe(self) -> Observation:
        if self._started is None:
            self._started = self._clock()
        return self.backend.observe()

    def apply(self, decision: Decision) -> None:
        self.backend.apply(decision)

    def advance(self, seconds: float) -> None:
        if self._started is None:
            self._started = self._clock()
        self.backend.advance(seconds)
        self._simulated += seconds
        due = self._started + self._simulated / self.speed
        wait = due - self._clock()
        if wait > 0:
            self._sleep(wait)

    def close(self) -> None:
        self.backend.close()

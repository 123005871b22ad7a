from juggler.observation import Decision
from juggler.pacing import PacedBackend


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _Backend:
    def __init__(self, clock: _Clock, cost_s: float) -> None:
        self.clock, self.cost_s, self.advanced, self.applied = clock, cost_s, 0.0, 0

    def observe(self):
        return None

    def apply(self, decision: Decision) -> None:
        self.applied += 1

    def advance(self, seconds: float) -> None:
        self.advanced += seconds
        self.clock.now += self.cost_s  # the engine's own wall time

    def close(self) -> None:
        pass


def test_a_fast_engine_is_slowed_to_the_requested_speed():
    clock = _Clock()
    paced = PacedBackend(_Backend(clock, cost_s=0.01), speed=10, clock=clock, sleep=clock.sleep)
    paced.observe()
    for _ in range(20):
        paced.advance(1.0)
    # 20 simulated seconds at 10x take 2 wall seconds, engine time included
    assert abs(clock.now - 102.0) < 1e-9
    assert all(s > 0 for s in clock.slept)


def test_a_slow_engine_runs_late_and_never_sleeps():
    clock = _Clock()
    backend = _Backend(clock, cost_s=0.5)
    paced = PacedBackend(backend, speed=10, clock=clock, sleep=clock.sleep)
    paced.observe()
    for _ in range(4):
        paced.advance(1.0)
    assert clock.slept == []
    assert backend.advanced == 4.0


def test_speed_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="speed"):
        PacedBackend(_Backend(_Clock(), 0), speed=0)


def test_a_stoppable_wait_ends_its_pause_when_the_stop_is_set_and_forwards_the_rest() -> None:
    import threading
    import time

    from juggler.pacing import StoppableWait

    clock = _Clock()
    inner = _Backend(clock, cost_s=0.0)
    stop = threading.Event()
    backend = StoppableWait(inner, stop)
    backend.apply(Decision())
    assert inner.applied == 1
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    backend.advance(600.0)
    assert time.monotonic() - started < 30
    assert inner.advanced == 0.0, "a wall-clock backend's advance only sleeps: not called"

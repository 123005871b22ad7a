"""``juggler top`` and ``juggler simulate --top`` in a real pseudo-terminal (tmux).

The screen is read as a person would see it. Time-outs are generous (a shared,
noisy machine): they bound waiting, they never measure speed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from juggler.metrics.store import RunStore

from .runs import SQUEEZE
from .tmux import TERMINAL, Tmux, juggler_command, row, rows

pytestmark = TERMINAL


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    """Start commands in tmux; every session is killed afterwards, pass or fail."""
    started: list[Tmux] = []

    def start(*args: str) -> Tmux:
        session = Tmux(juggler_command(*args), cwd=tmp_path)
        started.append(session)
        return session

    yield start
    for session in started:
        session.kill()


def test_top_shows_a_finished_run_sorts_and_quits(
    terminal: Callable[..., Tmux], squeeze_run: Path
) -> None:
    tmux = terminal("top", str(squeeze_run))
    screen = tmux.wait_for(lambda s: rows(s, "AB") and s, 60, "the rows of A and B")
    assert "juggler top squeeze · policy juggler · backend sim · t 40s / 40s · finished" in screen
    assert "over-commit 1.50x" in screen and "host 1 GiB" in screen
    for header in ("MEMSZ", "SZTGT", "RES", "MCTLSZ", "SWCUR", "SWR/s", "SWW/s", "TCHD", "SLOW"):
        assert header in screen
    assert screen.index(row(screen, "A")) < screen.index(row(screen, "B"))
    tmux.keys("a")  # guest available, largest first: B above A
    tmux.wait_for(
        lambda s: rows(s, "AB") and s.index(row(s, "B")) < s.index(row(s, "A")),
        30,
        "B sorted above A",
    )
    tmux.keys("q")
    assert tmux.wait_exit(30) == 0


def test_simulate_top_follows_a_paced_run_and_q_stops_it(
    terminal: Callable[..., Tmux], tmp_path: Path
) -> None:
    out = tmp_path / "live.sqlite"
    tmux = terminal("simulate", "--top", "--speed", "4", "--duration", "2m", "--out", str(out))
    first = tmux.wait_for(
        lambda s: "juggler top seed · policy juggler · backend sim" in s and rows(s, "ABCD") and s,
        120,
        "the seed run's header and rows A to D",
    )
    assert " / 2m · running" in first

    def moved(screen: str) -> bool:
        now = rows(screen, "ABCD")
        return bool(now) and now != rows(first, "ABCD") and "running" in screen

    tmux.wait_for(moved, 120, "the rows to change while the simulation runs")
    tmux.keys("q")
    assert tmux.wait_exit(60) == 0
    summary = tmux.wait_for(lambda s: "metrics written to" in s and s, 30, "the summary")
    assert "over-commit 2.00x" in summary
    with RunStore.open(out) as store:
        meta = store.meta()
        _, last = store.time_span()
    assert "wall_seconds" in meta  # closed cleanly
    assert last < 120  # q stopped it before the end


def test_top_refuses_a_file_that_is_not_a_run(
    terminal: Callable[..., Tmux], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    tmux = terminal("top", str(notes))
    assert tmux.wait_exit(60) == 2
    screen = tmux.screen()
    assert f"error: {notes}: not a juggler run file" in " ".join(screen.split())


FAILING_RUN = """
import sys
from juggler.errors import SimulationError
from juggler.scenario import load_scenario
from juggler.simulate import run_simulation
from juggler.top import run_with_top

def work(stop):
    run_simulation(load_scenario(sys.argv[1]), "failing.sqlite", speed=5, stop=stop)
    raise SimulationError("the host fell over")

try:
    run_with_top("failing.sqlite", work, refresh_s=0.2)
except SimulationError as err:
    print(f"run_with_top raised: {err}")
    sys.exit(3)
"""


def test_a_run_that_fails_closes_the_screen_and_its_error_reaches_the_caller(
    tmp_path: Path,
) -> None:
    script = tmp_path / "failing.py"
    script.write_text(FAILING_RUN)
    tmux = Tmux([sys.executable, str(script), str(SQUEEZE)], cwd=tmp_path)
    try:
        tmux.wait_for(lambda s: rows(s, "AB"), 120, "the run's rows")
        # no key pressed: the failure alone closes the screen
        assert tmux.wait_exit(120) == 3
        assert "run_with_top raised: the host fell over" in tmux.screen()
    finally:
        tmux.kill()

"""Show top on a run file, alone or beside the run that writes it.

``juggler top RUN`` calls :func:`show_top`. A command that writes a run file
and wants ``--top`` (``juggler simulate --top``, and ``juggler run`` on real
VMs) calls :func:`run_with_top` with its run as a function of a stop event:
the run goes to a background thread, the screen stays in the foreground, and
quitting the screen sets the event, so the run can end cleanly (close its run
file, tear its VMs down) before the command prints its summary.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from juggler.errors import JugglerError
from juggler.top.data import RunReader, check_run_path

T = TypeVar("T")


def _need_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise JugglerError(
            "top draws a live screen and needs a terminal; stdin or stdout is not one "
            "(use `juggler diagnose` or the run file for a record)"
        )


def show_top(
    path: str | Path,
    refresh_s: float = 1.0,
    stop_when: Callable[[], bool] | None = None,
) -> None:
    """Follow the run file ``path`` on the terminal until the user quits (``q``).

    The file need not exist yet: the screen says it is waiting for it.

    :param refresh_s: seconds between reads of the file.
    :param stop_when: checked at each refresh; the screen closes when it returns True.
    :raise StoreError: When ``path`` is not (or stops being) a juggler run file.
    :raise JugglerError: When stdin or stdout is not a terminal.
    """
    from juggler.top.app import TopApp

    check_run_path(Path(path))
    _need_terminal()
    with RunReader(path) as reader:
        app = TopApp(reader, refresh_s=refresh_s, stop_when=stop_when)
        app.run()
    if app.error is not None:
        raise app.error


def run_with_top(
    path: str | Path,
    work: Callable[[threading.Event], T],
    refresh_s: float = 1.0,
) -> T:
    """Run ``work(stop)`` in a thread while top follows ``path``; return what it returned.

    ``work`` writes the run file ``path`` and should return soon after ``stop`` is
    set (the user quit). When it finishes first, the screen stays up showing the
    final state until the user quits; when it raises, the screen closes and the
    error is raised here.

    :raise JugglerError: What ``work`` raised, or top's own errors (no terminal, not a run file).
    """
    check_run_path(Path(path))
    _need_terminal()
    stop = threading.Event()
    failed = threading.Event()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work(stop)
        except BaseException as err:  # handed to the caller's thread below
            outcome["error"] = err
            failed.set()

    thread = threading.Thread(target=target, name="juggler-top-run", daemon=True)
    thread.start()
    try:
        show_top(path, refresh_s=refresh_s, stop_when=failed.is_set)
    finally:
        stop.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]

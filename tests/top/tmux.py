"""Drive a command in a real pseudo-terminal with tmux and read its screen.

Each :class:`Tmux` has its own server (``tmux -L <name>``), so a test never
touches a person's sessions and killing it cleans up everything it started.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

import juggler

T = TypeVar("T")

_tmux_missing = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed (apt-get install tmux, or scripts/setup.sh --test)",
)

#: for a whole module: ``pytestmark = TERMINAL``
TERMINAL = [pytest.mark.terminal, _tmux_missing]


def needs_tmux(test: T) -> T:
    """Mark a test ``terminal`` and skip it, saying why, when tmux is not installed."""
    return pytest.mark.terminal(_tmux_missing(test))


#: this checkout's sources, so the command in the terminal runs the code under test
SRC = Path(juggler.__file__).resolve().parents[1]


def juggler_command(*args: str) -> list[str]:
    """``juggler ARGS`` with this interpreter and this checkout."""
    return [sys.executable, "-m", "juggler.cli", *args]


class Tmux:
    """One detached tmux session running one command, 160×40.

    The command's exit status is written to ``status_file`` when it ends, and the
    pane stays open afterwards so what it printed last can still be read.
    """

    def __init__(self, command: Sequence[str], cwd: Path, width: int = 160, height: int = 40):
        self.socket = f"juggler-test-{uuid.uuid4().hex[:8]}"
        self.status_file = cwd / f"{self.socket}.status"
        path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
        env = {"PYTHONPATH": path}
        # COLUMNS and LINES (set by pytest's own terminal) would override the pane's size
        script = (
            f"unset COLUMNS LINES; cd {shlex.quote(str(cwd))} && {shlex.join(command)}; "
            f"echo $? > {shlex.quote(str(self.status_file))}; sleep 3600"
        )
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            str(width),
            "-y",
            str(height),
            *(f"-e{key}={value}" for key, value in env.items()),
            "sh",
            "-c",
            script,
        )

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        """What the terminal shows now."""
        return self._tmux("capture-pane", "-p", "-t", "top")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "top", *keys)

    def exit_status(self) -> int | None:
        """The command's exit status once it has ended, else None."""
        try:
            return int(self.status_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def wait_for(self, predicate: Callable[[str], T], timeout_s: float, what: str) -> T:
        """Poll the screen until ``predicate(screen)`` is truthy; fail showing the screen."""
        deadline = time.monotonic() + timeout_s
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            value = predicate(screen)
            if value:
                return value
            if self.exit_status() is not None and not predicate(self.screen()):
                break
            time.sleep(0.25)
        pytest.fail(
            f"waited {timeout_s:g} s for {what}; command status {self.exit_status()}; "
            f"screen:\n{screen}"
        )

    def wait_exit(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(0.25)
        pytest.fail(f"the command did not end within {timeout_s:g} s; screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def row(screen: str, name: str) -> str | None:
    """The table row of VM ``name``: a line starting with the name and then a size."""
    match = re.search(rf"^\s*{re.escape(name)}\s+\d[^\n]*$", screen, re.MULTILINE)
    return match.group(0) if match else None


def rows(screen: str, names: str) -> list[str] | None:
    """The rows of the one-letter VMs ``names`` (such as ``"ABCD"``), or None unless all show."""
    found = [row(screen, name) for name in names]
    return found if all(found) else None  # type: ignore[return-value]

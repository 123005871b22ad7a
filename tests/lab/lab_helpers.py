"""Helpers shared by the lab tests (polling, process checks)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="qemu-system-x86_64 is not installed (run scripts/setup-lab.sh)",
)


def lab(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test ``lab`` and skip it, saying why, when QEMU is not installed."""
    return pytest.mark.lab(needs_qemu(test))


def wait_for(predicate: Callable[[], T], timeout_s: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test after the time-out."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.25)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False

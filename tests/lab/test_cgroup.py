"""The lab's memory cgroup against the real kernel (a ``sleep`` and a memory hog inside)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import alive

from juggler.errors import LabError
from juggler.lab.cgroup import PREFIX, MemoryCgroup, detect_parent, oom_kills_in, remove_stale
from juggler.units import MIB


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    try:
        parent = detect_parent()
    except LabError as err:
        return str(err)
    return None if os.access(parent, os.W_OK) else f"{parent} is not writable"


pytestmark = [pytest.mark.lab, pytest.mark.skipif(_usable() is not None, reason=str(_usable()))]


@pytest.fixture
def name() -> Iterator[str]:
    name = f"test-{os.getpid()}"
    yield name
    assert not (detect_parent() / f"{PREFIX}{name}").exists(), "cgroup left behind"


def test_process_inside_is_counted_and_killed_on_close(name: str) -> None:
    group = MemoryCgroup(name, 64 * MIB)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        group.add(sleeper.pid)
        assert group.pids() == [sleeper.pid]
        memory = group.memory()
        assert memory.limit_bytes == 64 * MIB
        assert 0 <= memory.usage_bytes <= 64 * MIB
    finally:
        group.close()
        sleeper.wait(timeout=5)
    assert not alive(sleeper.pid)
    assert not group.path.exists()
    group.close()  # twice is fine


def test_limit_is_honoured(name: str) -> None:
    hog = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdin.readline(); b = bytearray(96 << 20); "
            "b[::4096] = b'x' * len(b[::4096]); print(len(b), flush=True)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with MemoryCgroup(name, 48 * MIB) as group:
        group.add(hog.pid)
        assert hog.stdin is not None
        hog.stdin.write("go\n")
        hog.stdin.flush()
        hog.wait(timeout=30)
        memory = group.memory()
        kills = group.oom_kills()
        peak_ok = memory.usage_bytes <= 48 * MIB
    # without room to swap the kernel kills the hog; with swap it survives under the limit
    assert peak_ok
    if memory.swap_bytes in (None, 0) and hog.returncode != 0:
        assert hog.returncode == -9
        assert kills == 1, "the cgroup did not count its OOM kill"
    else:
        assert hog.returncode == 0
        assert kills == 0


def test_stale_cgroup_is_found_and_removed(name: str) -> None:
    stale = detect_parent() / f"{PREFIX}{name}"
    stale.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    (stale / "cgroup.procs").write_text(str(sleeper.pid))
    with MemoryCgroup(name, 32 * MIB) as group:  # replaces the stale one
        assert group.pids() == []
    sleeper.wait(timeout=5)
    stale.mkdir()
    assert stale in remove_stale(prefix=f"{PREFIX}{name}")
    assert not stale.exists()


def test_oom_kills_are_read_from_either_cgroup_version(tmp_path: Path) -> None:
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    v2 = tmp_path / "memory.events"
    v2.write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
    old_kernel = tmp_path / "old"
    old_kernel.write_text("oom_kill_disable 0\nunder_oom 0\n")
    assert oom_kills_in(v1) == 3
    assert oom_kills_in(v2) == 2
    assert oom_kills_in(old_kernel) is None
    assert oom_kills_in(tmp_path / "missing") is None

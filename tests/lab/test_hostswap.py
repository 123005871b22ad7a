"""The lab's host swap file: enabled for a run, always turned off and deleted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from juggler.errors import LabError
from juggler.lab.hostswap import FILE_NAME, SwapFile, active_swaps, remove_stale
from juggler.units import MIB

root = pytest.mark.skipif(os.geteuid() != 0, reason="swapon needs root")


def test_a_swap_file_too_small_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="at least 16 MiB"):
        SwapFile(tmp_path / FILE_NAME, MIB)


def test_active_swaps_reads_proc_swaps(tmp_path: Path) -> None:
    swaps = tmp_path / "swaps"
    swaps.write_text(
        "Filename\tType\tSize\tUsed\tPriority\n"
        "/tmp/juggler-lab-7/host.swap  file  65532  0  -2\n"
        "/var/my\\040swap  file  100  0  -3\n"
    )
    assert active_swaps(swaps) == [Path("/tmp/juggler-lab-7/host.swap"), Path("/var/my swap")]


@root
def test_a_swap_file_is_on_while_open_and_gone_after(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with SwapFile(path, 32 * MIB):
        assert path in active_swaps()
    assert path not in active_swaps()
    assert not path.exists()


@root
def test_a_failed_swapon_leaves_no_file(tmp_path: Path) -> None:
    shm = Path("/dev/shm") / f"juggler-test-{os.getpid()}"  # tmpfs: no swap files there
    shm.mkdir()
    try:
        with pytest.raises(LabError, match="host swap"):
            SwapFile(shm / FILE_NAME, 32 * MIB).enable()
        assert not (shm / FILE_NAME).exists()
    finally:
        shm.rmdir()


@root
def test_a_dead_runs_swap_file_is_turned_off_and_deleted(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_dir = tmp_path / f"juggler-lab-{dead.pid}"
    run_dir.mkdir()
    live_dir = tmp_path / f"juggler-lab-{os.getpid()}"
    live_dir.mkdir()
    stale = SwapFile(run_dir / FILE_NAME, 16 * MIB).enable()
    mine = SwapFile(live_dir / FILE_NAME, 16 * MIB).enable()
    try:

        def alive(directory: Path) -> bool:
            return Path(f"/proc/{directory.name.rsplit('-', 1)[-1]}").exists()

        removed = remove_stale(f"{tmp_path}/juggler-lab-*/*", alive)
        assert removed == [stale.path]
        assert stale.path not in active_swaps() and not stale.path.exists()
        assert mine.path in active_swaps()
    finally:
        stale.disable()
        mine.disable()

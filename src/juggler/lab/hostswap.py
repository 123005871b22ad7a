"""A swap file for the lab's host: real hypervisor swapping.

Why: the lab's memory cgroup plays the host's physical memory. Without swap,
a cgroup at its limit can only reclaim the QEMU processes' page cache, and when
a guest grows faster than the manager balloons its neighbours the kernel's OOM
killer ends a whole VM. A real host has swap: with a swap file enabled, the
kernel swaps guest memory out of QEMU instead — the blind, guest-unaware
hypervisor swapping the seed story is about — and the run can measure it
(the cgroup's swap usage, ``/proc/vmstat``'s swap rates, each QEMU's ``VmSwap``).

Swap is machine-wide: while the file is enabled other processes may use it
too, so it lives only as long as the run. The file is named ``host.swap`` in
the run's directory (``<tmp>/juggler-lab-<pid>/``); :func:`remove_stale` turns
off and deletes those of runs that are gone, as :mod:`juggler.lab.run` does
for their cgroups and directories.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from juggler.errors import LabError, MissingToolError
from juggler.units import MIB

log = logging.getLogger(__name__)

FILE_NAME = "host.swap"
#: the smallest swap file mkswap accepts comfortably
MIN_SWAP_BYTES = 16 * MIB
#: how long turning a swap file off may take (it reads every swapped page back)
SWAPOFF_TIMEOUT_S = 300.0


def active_swaps(proc_swaps: Path = Path("/proc/swaps")) -> list[Path]:
    """The swap areas in use on the machine."""
    try:
        lines = proc_swaps.read_text().splitlines()[1:]
    except OSError:
        return []
    # /proc/swaps escapes spaces in names as \040
    return [Path(line.split()[0].replace("\\040", " ")) for line in lines if line.strip()]


class SwapFile:
    """A swap file enabled for the life of a run; a context manager.

    :param path: where to create it (on a file system that supports swap files:
        ext4 or xfs, not tmpfs or overlayfs).
    :param size_bytes: its size.
    """

    def __init__(self, path: Path, size_bytes: int) -> None:
        if size_bytes < MIN_SWAP_BYTES:
            raise LabError(
                f"host swap size(={size_bytes // MIB} MiB) must be at least "
                f"{MIN_SWAP_BYTES // MIB} MiB"
            )
        self.path = Path(path)
        self.size_bytes = size_bytes
        self.enabled = False

    def enable(self) -> SwapFile:
        """Create, format and turn on the swap file.

        :raise MissingToolError: When ``mkswap``/``swapon`` are not installed.
        :raise LabError: When the file cannot be made or turned on (not root, or a
            file system without swap file support); nothing is left behind.
        """
        for tool in ("mkswap", "swapon", "swapoff"):
            if shutil.which(tool) is None:
                raise MissingToolError(tool, "util-linux", "for the lab's host swap")
        try:
            with self.path.open("wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, self.size_bytes)
            self.path.chmod(0o600)
            _run(["mkswap", str(self.path)])
            _run(["swapon", str(self.path)])
        except (OSError, LabError) as err:
            self.path.unlink(missing_ok=True)
            raise LabError(
                f"cannot enable a {self.size_bytes // MIB} MiB host swap file at {self.path}: "
                f"{err} (the lab's host swap needs root and a file system with swap file "
                "support, such as ext4; or run without --host-swap)"
            ) from err
        self.enabled = True
        log.info("host swap: %s, %d MiB", self.path, self.size_bytes // MIB)
        return self

    def disable(self) -> None:
        """Turn the swap file off (its pages go back to memory) and delete it; safe twice."""
        if self.enabled or self.path in active_swaps():
            try:
                _run(["swapoff", str(self.path)], timeout_s=SWAPOFF_TIMEOUT_S)
            except LabError as err:
                log.warning("could not turn off the host swap file %s: %s", self.path, err)
                return  # never delete a swap file the kernel still uses
        self.enabled = False
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> SwapFile:
        return self.enable()

    def __exit__(self, *exc: object) -> None:
        self.disable()


def remove_stale(pattern: str, is_alive: Callable[[Path], bool]) -> list[Path]:
    """Turn off and delete lab swap files matching ``pattern`` (a glob over
    ``/proc/swaps`` names) whose run directory's run is gone (``is_alive`` is
    asked with the run directory)."""
    removed = []
    for path in active_swaps():
        if path.name == FILE_NAME and path.match(pattern) and not is_alive(path.parent):
            with contextlib.suppress(LabError):
                _run(["swapoff", str(path)], timeout_s=SWAPOFF_TIMEOUT_S)
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _run(command: list[str], timeout_s: float = 60.0) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabError(f"{command[0]} took more than {timeout_s:.0f} s") from None
    if result.returncode != 0:
        raise LabError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout}")

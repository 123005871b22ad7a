"""A memory cgroup that plays the host's physical memory in the lab.

Why: a lab machine has far more memory than the scenario's host, so the lab
puts every QEMU process of a run into one memory cgroup whose limit is the
scenario's host memory (scaled). The kernel then reclaims, swaps or OOM-kills
inside that budget as it would on a host that small, and the cgroup's usage is
what "host memory in use" means for the run.

Both hierarchies are supported. cgroup v2 is used when the memory controller is
enabled in the parent's ``cgroup.subtree_control``; otherwise cgroup v1's
``memory`` hierarchy. The cgroup is named ``juggler-<name>`` and created under
the calling process's own memory cgroup (``/`` on an ordinary host, so
``/sys/fs/cgroup/memory/juggler-<name>``), so a lab run never escapes the budget
a supervisor gave it. A cgroup of the same name left by a killed run is emptied
and removed before a new one is made; :func:`remove_stale` removes them all.

Reading (:func:`~juggler.hosts.cgroup.read_memory`) is not the lab's: it is
production code, which the QEMU backend uses without importing the lab.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from juggler.errors import LabError
from juggler.hosts.cgroup import CgroupMemory, cgroup_version, read_memory

PREFIX = "juggler-"
V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def _own_cgroup(version: int, proc_root: Path = Path("/proc")) -> str:
    """The calling process's cgroup path in the memory hierarchy of ``version``."""
    try:
        lines = (proc_root / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (version == 2 and controllers == "") or (
            version == 1 and "memory" in controllers.split(",")
        ):
            return path or "/"
    return "/"


def detect_parent() -> Path:
    """Where lab cgroups go: v2 when its memory controller is usable, else v1.

    :raise LabError: When neither hierarchy has a usable memory controller.
    """
    for root in V2_ROOTS:
        if not (root / "cgroup.controllers").exists():
            continue
        parent = root / _own_cgroup(2).lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "memory" in enabled:
            return parent
    if (V1_ROOT / "memory.usage_in_bytes").exists():
        parent = V1_ROOT / _own_cgroup(1).lstrip("/")
        return parent if parent.is_dir() else V1_ROOT
    raise LabError(
        "no usable memory cgroup: cgroup v2 has the memory controller disabled in "
        "cgroup.subtree_control and no cgroup v1 memory hierarchy is mounted at "
        f"{V1_ROOT}"
    )


def _pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _empty_and_remove(path: Path, timeout_s: float = 5.0) -> None:
    """Kill what runs in a cgroup, move what will not die to the parent, remove it."""
    for pid in _pids(path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if time.monotonic() > deadline:
                raise LabError(f"cannot remove cgroup {path}: {err}") from err
        if time.monotonic() > deadline - timeout_s / 2:
            for pid in _pids(path):  # survivors (stuck in the kernel): park them upstairs
                with contextlib.suppress(OSError):
                    (path.parent / "cgroup.procs").write_text(str(pid))
        time.sleep(0.05)


def remove_stale(
    parent: Path | None = None,
    prefix: str = PREFIX,
    keep: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """Remove every lab cgroup under ``parent`` (default: :func:`detect_parent`) whose
    name starts with ``prefix``, except those ``keep`` says are still in use.

    :return: the cgroups removed.
    """
    parent = parent or detect_parent()
    removed = []
    for path in sorted(parent.glob(f"{prefix}*")):
        if path.is_dir() and not (keep is not None and keep(path)):
            _empty_and_remove(path)
            removed.append(path)
    return removed


def oom_kills_in(path: Path) -> int | None:
    """The ``oom_kill N`` line of a cgroup's ``memory.oom_control`` or ``memory.events``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


class MemoryCgroup:
    """One lab cgroup: create with a limit, add processes, read, remove on close.

    :param name: the cgroup is ``juggler-<name>``.
    :param limit_bytes: its memory limit (the scenario's host memory).
    :param parent: where it goes (default: :func:`detect_parent`).
    """

    def __init__(self, name: str, limit_bytes: int, parent: Path | None = None) -> None:
        if limit_bytes <= 0:
            raise LabError(f"limit_bytes(={limit_bytes}) must be > 0")
        self.parent = parent or detect_parent()
        self.path = self.parent / f"{PREFIX}{name}"
        if self.path.exists():
            _empty_and_remove(self.path)  # left by a killed run
        try:
            self.path.mkdir()
        except OSError as err:
            raise LabError(f"cannot create cgroup {self.path}: {err}") from err
        self.version = cgroup_version(self.path)
        if self.version == 1:  # charge what a process already holds to the cgroup it joins
            with contextlib.suppress(OSError):
                (self.path / "memory.move_charge_at_immigrate").write_text("3")
        try:
            self.set_limit(limit_bytes)
        except BaseException:
            self.close()
            raise

    def set_limit(self, limit_bytes: int) -> None:
        """Set the memory limit.

        :raise LabError: When the kernel refuses it (for instance, below usage).
        """
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        try:
            (self.path / name).write_text(str(limit_bytes))
        except OSError as err:
            raise LabError(f"cannot set {self.path / name} to {limit_bytes}: {err}") from err
        self.limit_bytes = limit_bytes

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the cgroup.

        :raise LabError: When the process does not exist or cannot be moved.
        """
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
        except OSError as err:
            raise LabError(f"cannot move process {pid} into {self.path}: {err}") from err

    def pids(self) -> list[int]:
        """The processes in the cgroup."""
        return _pids(self.path)

    def memory(self) -> CgroupMemory:
        """Usage, limit and swap now.

        :raise HostError: When the cgroup's usage cannot be read.
        """
        return read_memory(self.path)

    def oom_kills(self) -> int | None:
        """How many processes the kernel's OOM killer has killed in the cgroup (v1:
        ``memory.oom_control``, v2: ``memory.events``); None where the kernel does not
        count them."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        return oom_kills_in(self.path / name)

    def close(self) -> None:
        """Kill what is left inside and remove the cgroup; safe to call twice."""
        _empty_and_remove(self.path)

    def __enter__(self) -> MemoryCgroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Manage VMs that are already running: ``juggler run --backend qemu --socket-dir DIR``.

The third world of the design (after the simulator and ``lab run``): juggler
does not own the VMs, it only observes and balloons them, with the same
:class:`~juggler.manager.Manager`, policies, run file and summary as every
other run. Stopping it (Ctrl-C, SIGTERM, the end of ``--duration``) leaves the
VMs running as they are.

Which VMs: when ``DIR/host.json`` exists (:mod:`juggler.hosts.description`;
``lab up`` writes one for the lab it leaves up), its VMs with their
reservations, limits, shares, consoles and pids, its memory cgroup as the host,
its manager settings (step, dead band, interval, policy) as defaults, and its
facts in the run file's meta. Otherwise every QMP socket under ``DIR`` (any depth): a
``qmp.sock`` is named after its directory, any other ``NAME.sock`` is ``NAME``,
so a QEMU started by hand with ``-qmp unix:DIR/web.sock,server=on,wait=off``
is VM ``web``; the host is then the machine (``/proc/meminfo``), or
``--host-memory`` when the VMs may use only part of it. The sockets are read
once, at the start: a VM that does not answer is logged and retried every
interval (the backend's doing), but a socket created later is not picked up.

Why signals only set a flag: SIGINT and SIGTERM ask the loop to stop at its
next pause between samples (:class:`~juggler.runner.Stop`), so a stop never
lands half-way through writing a sample, and the run file and summary are
whole. A second signal interrupts at once.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from juggler import __version__
from juggler.backends.qemu import QemuBackend, QemuVm
from juggler.errors import ConnectError
from juggler.hosts.description import HOST_FILE, HostDescription, read_description
from juggler.manager import Limits, Recorder
from juggler.policy import get_policy
from juggler.policy.base import check_backend
from juggler.runner import Schedule, Stop, run
from juggler.summary import RunSummary

log = logging.getLogger(__name__)

SOCKET_SUFFIX = ".sock"


@dataclass(frozen=True)
class Target:
    """The VMs to manage, and what plays the host."""

    directory: Path
    vms: tuple[QemuVm, ...]
    #: the ``host.json`` that listed the VMs (None: sockets found)
    description: HostDescription | None = None

    @property
    def source(self) -> str:
        """Where the VMs were learnt from, for people: ``host.json`` or ``sockets``."""
        return HOST_FILE if self.description is not None else "sockets"


def find_sockets(directory: Path) -> dict[str, Path]:
    """The QMP sockets under ``directory`` by VM name (see the module's docstring).

    :raise ConnectError: When two sockets give the same name.
    """
    found: dict[str, Path] = {}
    for parent, dirs, files in os.walk(directory, followlinks=True):
        dirs.sort()
        for file in sorted(files):
            path = Path(parent) / file
            if not file.endswith(SOCKET_SUFFIX) or not _is_socket(path):
                continue
            name = path.parent.name if file == "qmp.sock" else file.removesuffix(SOCKET_SUFFIX)
            if name in found:
                raise ConnectError(
                    f"two QMP sockets under {directory} name VM {name!r}: {found[name]} and "
                    f"{path}; give each VM its own NAME.sock or directory"
                )
            found[name] = path
    return found


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def discover(directory: Path) -> Target:
    """The VMs to manage in ``directory``: its ``host.json``'s, or its sockets'.

    :raise ConnectError: When the directory does not exist or holds no QMP socket.
    :raise HostError: When its ``host.json`` cannot be read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConnectError(f"--socket-dir {directory}: no such directory")
    if (directory / HOST_FILE).is_file():
        described = read_description(directory / HOST_FILE)
        return Target(directory, tuple(described.qemu_vms()), described)
    sockets = find_sockets(directory)
    if not sockets:
        raise ConnectError(
            f"no QMP socket (*{SOCKET_SUFFIX}) under {directory}: start QEMU with "
            f"-qmp unix:{directory}/NAME{SOCKET_SUFFIX},server=on,wait=off, or `juggler lab up`"
        )
    return Target(directory, tuple(QemuVm(name, path) for name, path in sockets.items()))


def run_meta(target: Target, policy: str, interval_s: float) -> dict[str, Any]:
    """The run file's meta: ``lab run``'s keys, and the description's own facts."""
    meta: dict[str, Any] = {
        "scenario": target.description.name if target.description else target.directory.name,
        "policy": policy,
        "backend": "qemu",
        "juggler_version": __version__,
        "seed": 0,
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        "tick_s": interval_s,
        "interval_s": interval_s,
        "socket_dir": str(target.directory),
        "qmp_sockets": {vm.name: str(vm.qmp_path) for vm in target.vms},
    }
    if target.description is not None:
        meta.update(target.description.meta)
    return meta


def manage(
    target: Target,
    out: str | Path,
    *,
    policy: str | None = None,
    interval_s: float | None = None,
    duration_s: float | None = None,
    host_memory_bytes: int | None = None,
    recorder: Recorder | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Manage ``target``'s VMs for ``duration_s`` (None: until SIGINT or SIGTERM),
    write the run file, return the summary. The description's policy and interval
    are the defaults, else ``juggler`` and 5 s.

    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param stop: ends the run between samples when set (``juggler top``'s quit); SIGINT
        and SIGTERM do the same when called in the main thread.

    :raise PolicyError: When the policy is unknown, or needs the simulator's truth.
    :raise StoreError: When the run file cannot be created.
    """
    described = target.description
    chosen = get_policy(policy or (described.policy if described else None) or "juggler")
    check_backend(chosen, has_truth=False, backend="qemu")
    interval = interval_s or (described.interval_s if described else None) or 5.0
    limits = Limits()
    if (
        described is not None
        and described.max_step_bytes is not None
        and described.dead_band_bytes is not None
    ):
        limits = Limits(
            max_step_bytes=described.max_step_bytes, dead_band_bytes=described.dead_band_bytes
        )
    cgroup = described.cgroup if described is not None else None
    stopping = Stop(stop)
    with (
        stopping.on_signals(),
        QemuBackend(
            list(target.vms),
            host_memory_bytes=host_memory_bytes,
            cgroup_path=None if cgroup is None else Path(cgroup),
        ) as backend,
    ):
        return run(
            backend,
            chosen,
            chosen.make_params({}),
            Schedule(
                interval_s=interval,
                duration_s=math.inf if duration_s is None else duration_s,
                limits=limits,
            ),
            out,
            run_meta(target, chosen.name, interval),
            recorder=recorder,
            stop=stopping,
            wall_clock=True,
        )

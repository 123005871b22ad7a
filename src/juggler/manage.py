"""Manage VMs that are already running: ``juggler run --backend qemu --socket-dir DIR``.

The third world of the design (after the simulator and ``lab run``): juggler
does not own the VMs, it only observes and balloons them, with the same
:class:`~juggler.manager.Manager`, policies, run file and summary as every
other run. Stopping it (Ctrl-C, SIGTERM, the end of ``--duration``) leaves the
VMs running as they are.

Which VMs: when ``DIR/lab.json`` exists (a lab left up by ``juggler lab up``),
its VMs with their reservations, limits, shares, consoles and pids, the lab's
memory cgroup as the host and its manager settings (step, dead band, interval,
policy) as defaults. Otherwise every QMP socket under ``DIR`` (any depth): a
``qmp.sock`` is named after its directory, any other ``NAME.sock`` is ``NAME``,
so a QEMU started by hand with ``-qmp unix:DIR/web.sock,server=on,wait=off``
is VM ``web``; the host is then the machine (``/proc/meminfo``), or
``--host-memory`` when the VMs may use only part of it. The sockets are read
once, at the start: a VM that does not answer is logged and retried every
interval (the backend's doing), but a socket created later is not picked up.

Why signals only set a flag: SIGINT and SIGTERM ask the loop to stop at its
next pause between samples (:class:`_Interruptible`), so a stop never lands
half-way through writing a sample, and the run file and summary are whole.
A second signal interrupts at once.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from juggler import __version__
from juggler.backend import Backend
from juggler.backends.qemu import QemuBackend, QemuVm
from juggler.errors import ConnectError
from juggler.lab.state import STATE_FILE, LabState, read_state
from juggler.manager import Limits, Manager, Recorder
from juggler.metrics.store import RunStore
from juggler.metrics.tee import tee
from juggler.observation import Decision, Observation
from juggler.policy import get_policy
from juggler.summary import RunSummary, summarize

log = logging.getLogger(__name__)

SOCKET_SUFFIX = ".sock"


@dataclass(frozen=True)
class Target:
    """The VMs to manage, and what plays the host."""

    directory: Path
    vms: tuple[QemuVm, ...]
    #: the lab left up whose ``lab.json`` listed the VMs (None: sockets found)
    lab: LabState | None = None


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
    """The VMs to manage in ``directory``: its ``lab.json``'s, or its sockets'.

    :raise ConnectError: When the directory does not exist or holds no QMP socket.
    :raise LabError: When its ``lab.json`` cannot be read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConnectError(f"--socket-dir {directory}: no such directory")
    if (directory / STATE_FILE).is_file():
        lab = read_state(directory / STATE_FILE)
        return Target(directory, tuple(lab.qemu_vms()), lab)
    sockets = find_sockets(directory)
    if not sockets:
        raise ConnectError(
            f"no QMP socket (*{SOCKET_SUFFIX}) under {directory}: start QEMU with "
            f"-qmp unix:{directory}/NAME{SOCKET_SUFFIX},server=on,wait=off, or `juggler lab up`"
        )
    return Target(directory, tuple(QemuVm(name, path) for name, path in sockets.items()))


def run_meta(target: Target, policy: str, interval_s: float) -> dict[str, Any]:
    """The run file's meta: ``lab run``'s keys, the lab's facts when there is a lab."""
    meta: dict[str, Any] = {
        "scenario": target.lab.scenario if target.lab else target.directory.name,
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
    lab = target.lab
    if lab is not None:
        meta.update(
            {
                "lab_name": lab.name,
                "lab_scale": lab.scale,
                "lab_accel": lab.accel,
                "lab_cgroup": lab.cgroup,
                "lab_cgroup_version": lab.cgroup_version,
                "lab_cgroup_limit_bytes": lab.cgroup_limit_bytes,
                "lab_host_bytes": lab.host_bytes,
                "lab_host_swap_bytes": lab.host_swap_bytes,
                "lab_host_swap_file": lab.host_swap_file,
                "lab_overhead_bytes": {vm.name: vm.overhead_bytes for vm in lab.vms},
                "lab_phases": {vm.name: vm.phases for vm in lab.vms},
                "lab_qemu_pids": {vm.name: vm.pid for vm in lab.vms},
                "lab_qmp_sockets": {vm.name: vm.qmp_socket for vm in lab.vms},
                "lab_consoles": {vm.name: vm.console for vm in lab.vms},
            }
        )
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
    write the run file, return the summary. A lab's policy and interval are the
    defaults, else ``juggler`` and 5 s.

    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param stop: ends the run between samples when set (``juggler top``'s quit); SIGINT
        and SIGTERM do the same when called in the main thread.

    :raise PolicyError: When the policy is unknown.
    :raise StoreError: When the run file cannot be created.
    """
    lab = target.lab
    chosen = get_policy(policy or (lab.policy if lab else "juggler"))
    interval = interval_s or (lab.interval_s if lab else 5.0)
    limits = Limits()
    if lab is not None and lab.max_step_bytes is not None and lab.dead_band_bytes is not None:
        limits = Limits(max_step_bytes=lab.max_step_bytes, dead_band_bytes=lab.dead_band_bytes)
    with (
        _StopOnSignals(stop) as stop,
        QemuBackend(
            list(target.vms),
            host_memory_bytes=host_memory_bytes,
            cgroup_path=Path(lab.cgroup) if lab else None,
        ) as backend,
        RunStore.create(out, run_meta(target, chosen.name, interval)) as store,
    ):
        manager = Manager(
            _Interruptible(backend, stop),
            chosen,
            chosen.make_params({}),
            tee(store, recorder),
            interval_s=interval,
            sample_s=interval,
            limits=limits,
        )
        started = time.monotonic()
        ended = "duration"
        try:
            manager.run(math.inf if duration_s is None else duration_s)
        except _Stopped:
            ended = "signal"
        store.set_meta({"wall_seconds": round(time.monotonic() - started, 3), "ended": ended})
    with RunStore.open(out) as store:
        return summarize(store)


class _Stopped(Exception):
    """The loop was asked to stop (SIGINT or SIGTERM)."""


class _StopOnSignals:
    """While entered, SIGINT and SIGTERM set :attr:`event`; a second one raises
    KeyboardInterrupt. Outside the main thread signals cannot be caught: nothing is set."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        log.warning(
            "stopping after this sample (%s); the VMs keep running", signal.Signals(signum).name
        )
        self.event.set()

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Interruptible:
    """A backend whose pauses end, with :class:`_Stopped`, when ``stop`` is set."""

    def __init__(self, backend: Backend, stop: threading.Event) -> None:
        self.backend = backend
        self.stop = stop

    def observe(self) -> Observation:
        if self.stop.is_set():
            raise _Stopped
        return self.backend.observe()

    def apply(self, decision: Decision) -> None:
        self.backend.apply(decision)

    def advance(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise _Stopped

    def close(self) -> None:
        self.backend.close()

"""A lab left running: ``juggler lab up`` and ``juggler lab down``.

``lab up`` boots a scenario's VMs exactly as ``lab run`` does
(:func:`~juggler.lab.run.plan`, :func:`~juggler.lab.run.boot_lab`), then pops
every teardown step instead of running it and exits, leaving the QEMU
processes (in their own sessions, so the shell's Ctrl-C or hang-up does not
reach them), the memory cgroup and the host swap file in place. What is needed
to remove them is written to ``lab.json`` (:mod:`juggler.lab.state`), what is
needed to manage them to ``host.json`` (:mod:`juggler.hosts.description`);
``juggler run --socket-dir DIR`` manages them, ``lab down`` removes them.

Where things are, for a lab named N (the scenario's name by default):

- ``/run/juggler/lab-N/`` (or ``--dir``; then ``/run/juggler/lab-N`` is a symlink
  to it): ``lab.json``, ``host.json`` and one directory per VM with its QMP socket
  (``qmp.sock``), serial console and QEMU log;
- ``<tmp>/juggler-up-N/``: the guests' disks and the host swap file (``/run`` is
  usually a tmpfs, where a swap file cannot live and a guest's swap disk would
  be host memory);
- the cgroup ``juggler-up-N`` (not ``juggler-lab-<pid>``: ``lab run`` removes
  those once process ``<pid>`` is gone, and ``lab up``'s process is gone at once).

A lab is alive while one of its QEMU processes runs (or its ``lab up`` is still
booting it). One whose QEMUs are all gone — killed, crashed, the machine's
OOM killer — is stale: the next ``lab up`` or ``lab down`` removes it, with
the leftovers of killed ``lab run`` processes. A lock file serialises the
check-and-claim of a name, so two ``lab up`` of one name cannot both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from juggler.errors import LabError
from juggler.hosts.description import HOST_FILE
from juggler.lab import hostswap
from juggler.lab.cgroup import PREFIX, detect_parent, remove_stale
from juggler.lab.image import GuestImage, build_image
from juggler.lab.run import (
    boot_lab,
    lab_limits,
    plan,
    remove_stale_cgroups,
    remove_stale_run_dirs,
)
from juggler.lab.state import STATE_FILE, LabState, VmState, read_state
from juggler.runner import Stop
from juggler.scenario import Scenario

log = logging.getLogger(__name__)

#: where labs left up are registered: ``<root>/lab-<name>``
ROOT = Path("/run/juggler")
#: an ``up`` lab's cgroup and data directory are ``juggler-up-<name>``
UP_PREFIX = "up-"
#: how long a QEMU may take to exit on SIGTERM before it is killed
STOP_TIMEOUT_S = 10.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """:raise LabError: When ``name`` cannot name a lab (it becomes a cgroup and paths)."""
    if not _NAME.fullmatch(name):
        raise LabError(
            f"lab name {name!r} must be letters, digits, '_', '.' or '-' (64 at most), "
            "starting with a letter or digit"
        )
    return name


def entry_path(name: str, root: Path = ROOT) -> Path:
    """The lab's registry entry: its directory, or a symlink to the ``--dir`` it was given."""
    return root / f"lab-{name}"


def data_path(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{PREFIX}{UP_PREFIX}{name}"


def _process_alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def qemu_alive(vm: VmState) -> bool:
    """Whether the VM's QEMU still runs: process ``pid`` is alive and its command line
    names the VM's socket (so a reused pid is not taken for it)."""
    if not _process_alive(vm.pid):
        return False
    try:
        cmdline = Path(f"/proc/{vm.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return vm.qmp_socket.encode() in cmdline


def lab_alive(state: LabState) -> bool:
    """Whether a lab is in use: one of its QEMUs runs, or its ``lab up`` is booting it."""
    if state.status == "booting" and _process_alive(state.owner_pid):
        return True
    return any(qemu_alive(vm) for vm in state.vms)


def _read(entry: Path) -> LabState | None:
    """The state of the lab registered at ``entry``, None when there is none to read."""
    try:
        return read_state(entry / STATE_FILE)
    except LabError as err:
        if entry.exists() and (entry / STATE_FILE).exists():
            log.warning("%s", err)
        return None


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the registry's lock (a ``lab up`` claiming a name, a ``lab down``)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = (root / ".lock").open("a")
    except OSError as err:
        raise LabError(f"cannot use {root} for the lab's state: {err} (root needed)") from err
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _names(root: Path) -> set[str]:
    """Every lab name something is left for: registry entries, data directories, cgroups."""
    names = {p.name.removeprefix("lab-") for p in root.glob("lab-*")}
    names |= {
        p.name.removeprefix(f"{PREFIX}{UP_PREFIX}")
        for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}{UP_PREFIX}*")
    }
    with contextlib.suppress(LabError):
        names |= {
            p.name.removeprefix(f"{PREFIX}{UP_PREFIX}")
            for p in detect_parent().glob(f"{PREFIX}{UP_PREFIX}*")
            if p.is_dir()
        }
    return {name for name in names if _NAME.fullmatch(name)}


def _stop(vm: VmState) -> bool:
    """Stop one QEMU (SIGTERM, then SIGKILL); whether there was one to stop."""
    if not qemu_alive(vm):
        return False
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(vm.pid, sig)
        deadline = time.monotonic() + wait_s
        while _process_alive(vm.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _process_alive(vm.pid):
            return True
    raise LabError(f"{vm.name}: QEMU {vm.pid} did not die on SIGKILL")


def teardown(name: str, root: Path = ROOT) -> list[str]:
    """Remove everything of lab ``name``, alive or not: its QEMUs, cgroup, swap file,
    directories and registry entry.

    :return: what was removed, one line each.
    :raise LabError: When the swap file cannot be turned off (it is then kept, and
        nothing under it is deleted) or the cgroup cannot be removed.
    """
    entry = entry_path(name, root)
    state = _read(entry)
    data = data_path(name)
    cgroup: Path | None = None
    swap = data / hostswap.FILE_NAME
    # the directory the registry points to, not what lab.json says: never remove more
    directory = entry.resolve() if entry.is_symlink() else entry
    removed: list[str] = []
    if state is not None:
        stopped = [vm.name for vm in state.vms if _stop(vm)]
        if stopped:
            removed.append(f"stopped QEMU of {', '.join(stopped)}")
        if Path(state.data_dir).name == data.name:  # the same lab's, under another TMPDIR
            data = Path(state.data_dir)
            swap = data / hostswap.FILE_NAME
        cgroup = Path(state.cgroup)
    if cgroup is None or not cgroup.name.startswith(f"{PREFIX}{UP_PREFIX}"):
        with contextlib.suppress(LabError):
            cgroup = detect_parent() / f"{PREFIX}{UP_PREFIX}{name}"
    if cgroup is not None and cgroup.is_dir():  # kills whatever is left inside
        remove_stale(parent=cgroup.parent, prefix=cgroup.name, keep=lambda p: p != cgroup)
        removed.append(f"cgroup {cgroup}")
    if swap in hostswap.active_swaps():
        hostswap.SwapFile(swap, hostswap.MIN_SWAP_BYTES).disable()
        if swap in hostswap.active_swaps():
            raise LabError(f"cannot turn off the host swap file {swap}; run `swapoff {swap}`")
        removed.append(f"host swap file {swap}")
    for path in (data, directory):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"directory {path}")
    if entry.is_symlink():
        entry.unlink()
    elif entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    return removed


def remove_stale_labs(root: Path = ROOT) -> list[str]:
    """Remove every lab left up whose QEMUs are all gone, and what killed ``lab run``
    processes left (their cgroups, directories, swap files).

    :return: the names of the ``up`` labs removed.
    """
    remove_stale_cgroups()
    remove_stale_run_dirs()
    stale = []
    for name in sorted(_names(root)):
        state = _read(entry_path(name, root))
        if state is not None and lab_alive(state):
            continue
        for line in teardown(name, root):
            log.warning("lab %s was gone: removed %s", name, line)
        stale.append(name)
    return stale


def live_labs(root: Path = ROOT) -> dict[str, LabState]:
    """The labs left up that are alive, by name."""
    labs = {}
    for name in sorted(_names(root)):
        state = _read(entry_path(name, root))
        if state is not None and lab_alive(state):
            labs[name] = state
    return labs


def lab_up(
    scenario: Scenario,
    *,
    name: str | None = None,
    directory: Path | None = None,
    scale: float = 0.25,
    accel: str = "auto",
    free_page_reporting: bool = False,
    host_swap: bool | None = None,
    image: GuestImage | None = None,
    root: Path = ROOT,
    say: Callable[[str], None] = log.info,
) -> LabState:
    """Boot ``scenario``'s VMs as ``lab run`` would and leave them running.

    :raise LabError: When a lab of that name is up (naming ``lab down``), the
        directory is in use, or the boot fails (then nothing is left behind).
    """
    name = check_name(name or scenario.name)
    entry = entry_path(name, root)
    directory = Path(directory).absolute() if directory is not None else entry
    lab = plan(scenario, scale, free_page_reporting, host_swap)
    limits = lab_limits(scenario, scale)
    image = image or build_image()
    data = data_path(name)
    # no run here: SIGTERM interrupts like Ctrl-C, so the ExitStack tears down a failed boot
    with Stop().on_signals([signal.SIGTERM]), contextlib.ExitStack() as stack:
        with _locked(root):
            remove_stale_labs(root)
            if entry.exists() or entry.is_symlink():
                raise LabError(
                    f"lab {name} is already up ({entry}); take it down first with "
                    f"`juggler lab down {name}`, or give another --name"
                )
            if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
                raise LabError(f"--dir {directory} is in use: give a new or empty directory")
            directory.mkdir(parents=True, exist_ok=True)
            stack.callback(shutil.rmtree, directory, ignore_errors=True)
            if directory != entry:
                entry.symlink_to(directory)
                stack.callback(entry.unlink, missing_ok=True)
            cgroup_name = f"{UP_PREFIX}{name}"
            LabState(
                name,
                "booting",
                os.getpid(),
                str(directory),
                str(data),
                str(detect_parent() / f"{PREFIX}{cgroup_name}"),
                scenario=scenario.name,
            ).write(directory / STATE_FILE)
        booted = boot_lab(
            stack, lab, image, directory, cgroup_name, accel=accel, say=say, disk_dir=data
        )
        vms = tuple(
            VmState(
                vm.name,
                str(lab_vm.qmp_path),
                str(lab_vm.serial_path),
                str(lab_vm.workdir / "qemu.log"),
                lab_vm.pid or 0,
                lab_vm.spec.memory_bytes,
                vm.reservation_bytes,
                vm.limit_bytes,
                vm.shares,
                lab_vm.spec.phases,
                booted.overheads.get(vm.name, 0),
            )
            for vm, lab_vm in zip(lab.vms, booted.vms, strict=True)
        )
        state = LabState(
            name,
            "up",
            os.getpid(),
            str(directory),
            str(data),
            str(booted.cgroup.path),
            booted.cgroup.version,
            booted.limit_bytes,
            lab.host_bytes,
            None if booted.swap is None else str(booted.swap.path),
            lab.host_swap_bytes,
            scenario.name,
            scale,
            booted.vms[0].accel if booted.vms else None,
            scenario.manager.policy,
            scenario.manager.interval,
            limits.max_step_bytes,
            limits.dead_band_bytes,
            datetime.now(UTC).isoformat(timespec="seconds"),
            vms,
        )
        state.write(directory / STATE_FILE)
        state.host_description().write(directory / HOST_FILE)
        stack.pop_all()  # leave it all running
    return state


def lab_down(
    name: str | None = None,
    directory: Path | None = None,
    every: bool = False,
    root: Path = ROOT,
) -> dict[str, list[str]]:
    """Take labs down: ``name``'s, the one in ``directory``, every one, or (none of
    those given) the only one up. Stale labs are removed on the way.

    :return: what was removed, by lab name (empty: nothing was up).
    :raise LabError: When several labs are up and none was named, or one is still booting.
    """
    with _locked(root):
        for stale in remove_stale_labs(root):
            log.warning("removed lab %s, whose VMs were all gone", stale)
        live = live_labs(root)
        if directory is not None:
            state = _read(Path(directory))
            names = [state.name] if state is not None and state.name in live else []
        elif name is not None:
            names = [check_name(name)] if name in live else []
        elif every or len(live) <= 1:
            names = list(live)
        else:
            raise LabError(
                f"labs {', '.join(live)} are up: name one (`juggler lab down NAME`) or use --all"
            )
        booting = [n for n in names if live[n].status == "booting"]
        if booting:
            raise LabError(
                f"lab {booting[0]} is still booting (process {live[booting[0]].owner_pid}); "
                "wait for its `lab up` to finish, or stop that process"
            )
        return {n: teardown(n, root) for n in names}

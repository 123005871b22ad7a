"""``lab.json``: what a lab left up (``juggler lab up``) is made of.

Why a file: the process that booted the lab has exited, so whoever manages the
VMs later (``juggler run``) or tears them down (``juggler lab down``) learns
from this file where everything is — each VM's QMP socket, console log, QEMU
pid and policy settings, the memory cgroup that plays the host, the host swap
file — rather than guessing from names. It is written twice: once as
``status = "booting"`` with the booting process's pid before anything is
created (so a crash mid-boot leaves a record naming what to clean), then as
``status = "up"`` with everything filled in. See docs/lab.md for the fields.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from juggler.backends.qemu import QemuVm
from juggler.errors import LabError

STATE_FILE = "lab.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class VmState:
    """One VM of a lab left up."""

    name: str
    qmp_socket: str
    console: str
    qemu_log: str
    pid: int
    memory_bytes: int
    reservation_bytes: int
    limit_bytes: int | None
    shares: int
    #: the workload's phases (``guest/workload.c`` format)
    phases: str = ""
    #: QEMU's own resident memory outside guest RAM, measured after boot
    overhead_bytes: int = 0

    def qemu_vm(self) -> QemuVm:
        return QemuVm(
            self.name,
            Path(self.qmp_socket),
            pid=self.pid,
            reservation_bytes=self.reservation_bytes,
            limit_bytes=self.limit_bytes,
            shares=self.shares,
            console_path=Path(self.console),
        )


@dataclass(frozen=True)
class LabState:
    """The contents of ``lab.json``."""

    name: str
    #: ``booting`` while ``owner_pid`` boots it, then ``up``
    status: str
    #: the ``lab up`` process that wrote the file
    owner_pid: int
    #: where ``lab.json``, the sockets and the logs are
    dir: str
    #: where the guests' disks and the host swap file are (a real file system)
    data_dir: str
    cgroup: str
    cgroup_version: int | None = None
    #: the cgroup's limit: the scaled host plus the QEMU overhead measured at boot
    cgroup_limit_bytes: int | None = None
    #: the scenario's host memory × scale: what the guests share
    host_bytes: int = 0
    host_swap_file: str | None = None
    host_swap_bytes: int = 0
    scenario: str = ""
    scale: float = 1.0
    accel: str | None = None
    #: the scenario's manager settings, scaled: ``juggler run``'s defaults
    policy: str = "juggler"
    interval_s: float = 5.0
    max_step_bytes: int | None = None
    dead_band_bytes: int | None = None
    created: str = ""
    vms: tuple[VmState, ...] = field(default_factory=tuple)
    version: int = STATE_VERSION

    def qemu_vms(self) -> list[QemuVm]:
        """How the QEMU backend reaches the VMs."""
        return [vm.qemu_vm() for vm in self.vms]

    def write(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file).

        :raise LabError: When the file cannot be written.
        """
        data = asdict(self)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(data, indent=2) + "\n")
            temporary.replace(path)
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise LabError(f"cannot write the lab's state file {path}: {err}") from err


def read_state(path: Path) -> LabState:
    """The lab described by a ``lab.json``.

    :raise LabError: When it is missing, not JSON, or not a lab state file.
    """
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        vms = tuple(VmState(**vm) for vm in data.pop("vms", ()))
        known = {f.name for f in fields(LabState)}
        return LabState(**{k: v for k, v in data.items() if k in known}, vms=vms)
    except FileNotFoundError:
        raise LabError(f"{path}: no such lab state file") from None
    except (OSError, ValueError, TypeError) as err:
        raise LabError(f"{path}: not a juggler lab state file ({err})") from err

"""``lab.json``: what a lab left up (``juggler lab up``) is made of.

Why a file: the process that booted the lab has exited, so whoever tears the
VMs down later (``juggler lab down``) learns from this file where everything is
— each VM's QMP socket, console log, QEMU pid and policy settings, the memory
cgroup that plays the host, the host swap file — rather than guessing from
names. It is written twice: once as ``status = "booting"`` with the booting
process's pid before anything is created (so a crash mid-boot leaves a record
naming what to clean), then as ``status = "up"`` with everything filled in. See
docs/lab.md for the fields. What ``juggler run`` needs of a lab is written beside
it in production's own format (``host.json``, :meth:`LabState.host_description`),
so production code never reads this file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from juggler.errors import LabError
from juggler.hosts.description import DescribedVm, HostDescription

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

    def host_description(self) -> HostDescription:
        """What ``juggler run`` needs of this lab (``host.json``): the VMs with their
        bounds, the cgroup as the host, the manager settings as defaults, and the
        lab's facts for the run file's meta."""
        return HostDescription(
            name=self.scenario,
            vms=tuple(
                DescribedVm(
                    vm.name,
                    vm.qmp_socket,
                    reservation_bytes=vm.reservation_bytes,
                    limit_bytes=vm.limit_bytes,
                    shares=vm.shares,
                    pid=vm.pid,
                    console=vm.console,
                )
                for vm in self.vms
            ),
            cgroup=self.cgroup,
            policy=self.policy,
            interval_s=self.interval_s,
            max_step_bytes=self.max_step_bytes,
            dead_band_bytes=self.dead_band_bytes,
            meta={
                "lab_name": self.name,
                "lab_scale": self.scale,
                "lab_accel": self.accel,
                "lab_cgroup": self.cgroup,
                "lab_cgroup_version": self.cgroup_version,
                "lab_cgroup_limit_bytes": self.cgroup_limit_bytes,
                "lab_host_bytes": self.host_bytes,
                "lab_host_swap_bytes": self.host_swap_bytes,
                "lab_host_swap_file": self.host_swap_file,
                "lab_overhead_bytes": {vm.name: vm.overhead_bytes for vm in self.vms},
                "lab_phases": {vm.name: vm.phases for vm in self.vms},
                "lab_qemu_pids": {vm.name: vm.pid for vm in self.vms},
                "lab_qmp_sockets": {vm.name: vm.qmp_socket for vm in self.vms},
                "lab_consoles": {vm.name: vm.console for vm in self.vms},
            },
        )

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

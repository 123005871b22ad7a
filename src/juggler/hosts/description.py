"""``host.json``: the VMs ``juggler run`` manages and what plays their host.

Why a file, and why owned here: whoever started the VMs (the lab's ``lab up``, a
provisioning script) knows each VM's QMP socket, reservation, limit and shares,
the memory cgroup that confines them, and the manager settings that suit them;
``juggler run`` learns all that from this one plain JSON format rather than from
the starter's own state. The format belongs to production code, so the lab
writes it and ``juggler run`` never imports the lab.

The file, at the top of ``--socket-dir``::

    {"version": 1, "name": "seed",
     "vms": [{"name": "web", "qmp_socket": "/run/vms/web/qmp.sock",
              "pid": 4242, "console": "…/serial.log", "reservation_bytes": 67108864,
              "limit_bytes": null, "shares": 1000}],
     "cgroup": "/sys/fs/cgroup/vms",
     "policy": "juggler", "interval_s": 5.0,
     "max_step_bytes": 67108864, "dead_band_bytes": 1048576,
     "meta": {"lab_scale": 0.25}}

``cgroup`` null means the host is the machine; ``policy``, ``interval_s``,
``max_step_bytes`` and ``dead_band_bytes`` are defaults (null: juggler's own);
``meta`` is copied into the run file's meta as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from juggler.backends.qemu import QemuVm
from juggler.errors import HostError

HOST_FILE = "host.json"
HOST_FILE_VERSION = 1

_Described = TypeVar("_Described", "DescribedVm", "HostDescription")


@dataclass(frozen=True)
class DescribedVm:
    """One VM as ``juggler run`` reaches and bounds it."""

    name: str
    qmp_socket: str
    reservation_bytes: int = 0
    limit_bytes: int | None = None
    shares: int = 1000
    #: the QEMU process (None: learnt from the socket's peer)
    pid: int | None = None
    #: the serial console log where a workload reports (None: no such reports)
    console: str | None = None

    def qemu_vm(self) -> QemuVm:
        """How the QEMU backend reaches this VM."""
        return QemuVm(
            self.name,
            Path(self.qmp_socket),
            pid=self.pid,
            reservation_bytes=self.reservation_bytes,
            limit_bytes=self.limit_bytes,
            shares=self.shares,
            console_path=None if self.console is None else Path(self.console),
        )


@dataclass(frozen=True)
class HostDescription:
    """The contents of ``host.json`` (see the module's docstring)."""

    #: what the run is called (its meta's ``scenario``)
    name: str
    vms: tuple[DescribedVm, ...] = ()
    #: the memory cgroup whose limit the VMs share (None: the machine is the host)
    cgroup: str | None = None
    policy: str | None = None
    interval_s: float | None = None
    max_step_bytes: int | None = None
    dead_band_bytes: int | None = None
    #: facts for the run file's meta, as they are
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = HOST_FILE_VERSION

    def qemu_vms(self) -> list[QemuVm]:
        """How the QEMU backend reaches the VMs."""
        return [vm.qemu_vm() for vm in self.vms]

    def write(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file).

        :raise HostError: When the file cannot be written.
        """
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
            temporary.replace(path)
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise HostError(f"cannot write the host description {path}: {err}") from err


def read_description(path: Path) -> HostDescription:
    """The host described by a ``host.json``; keys it does not know are ignored.

    :raise HostError: When it is missing, not JSON, of another version, or a field
        is missing or of the wrong kind (naming it).
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HostError(f"{path}: no such host description") from None
    except (OSError, ValueError) as err:
        raise HostError(f"{path}: not a juggler host description ({err})") from err
    if not isinstance(data, dict):
        raise HostError(f"{path}: not a juggler host description (not a JSON object)")
    version = data.get("version", HOST_FILE_VERSION)
    if version != HOST_FILE_VERSION:
        raise HostError(f"{path}: version(={version!r}) must be {HOST_FILE_VERSION}")
    raw_vms = data.get("vms", [])
    if not isinstance(raw_vms, list):
        raise HostError(f"{path}: vms must be a list")
    vms = tuple(
        _build(DescribedVm, vm, f"{path}: vms[{index}]") for index, vm in enumerate(raw_vms)
    )
    if not isinstance(data.get("meta", {}), dict):
        raise HostError(f"{path}: meta must be an object")
    return _build(HostDescription, {**data, "vms": vms}, str(path))


def _build(kind: type[_Described], data: Any, where: str) -> _Described:
    """``kind(**data)`` keeping the keys ``kind`` knows, naming a missing field."""
    if not isinstance(data, dict):
        raise HostError(f"{where}: must be an object")
    known = {f.name for f in fields(kind)}
    try:
        return kind(**{k: v for k, v in data.items() if k in known})
    except TypeError as err:
        raise HostError(f"{where}: {err}") from err

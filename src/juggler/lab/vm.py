"""Boot and stop one lab VM: a QEMU process running the guest image.

Each VM gets a working directory holding its QMP socket (``qmp.sock``), its
serial console log (``serial.log``, where the workload reports each second),
QEMU's own output (``qemu.log``) and sparse raw disks: a swap disk when it has
guest swap, a data disk when its workload reads files (into the guest's page
cache). The guest tells them apart by their serial numbers. The VM has a
virtio balloon, no network and no display.

Why the accelerator probe: ``/dev/kvm`` can exist while a KVM guest hangs at
boot (a VM without nested virtualisation), so KVM is trusted only once a guest
booted with it reaches ``JUGGLER ready`` within a time-out; otherwise the lab
falls back to TCG with a warning. The outcome is remembered for the process,
so only the first VM pays for the probe. ``JUGGLER_LAB_ACCEL=tcg|kvm`` skips it.

A :class:`LabVm` never outlives a failure: a boot that fails or times out
kills QEMU and removes what it created before raising.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from juggler.backends.console import WorkloadReport, parse_reports
from juggler.errors import BootError, LabError, MissingToolError
from juggler.lab.image import GuestImage
from juggler.units import MIB

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
READY_MARKER = "JUGGLER ready"
#: how long a KVM boot may take before KVM is declared unusable (TCG boots in ~5 s)
KVM_PROBE_TIMEOUT_S = 20.0
#: how long a boot may take under TCG (slow on a busy 2-core machine)
TCG_BOOT_TIMEOUT_S = 90.0

_accelerator: str | None = None


@dataclass(frozen=True)
class VmSpec:
    """What a lab VM is: its size and what its workload does."""

    name: str
    memory_bytes: int
    #: the workload's phases, ``DUR:SIZE_MIB:PATTERN:RATE,...`` (see ``guest/workload.c``)
    phases: str = "0:32:uniform:20000"
    seed: int = 1
    #: size of the guest's swap disk (0: no swap)
    swap_bytes: int = 0
    #: size of the data disk the workload reads into the guest's page cache (0: none)
    data_bytes: int = 0
    vcpus: int = 1
    #: the guest reports freed pages and QEMU discards them (virtio-balloon
    #: free-page-reporting): resident memory then follows what the guest uses
    free_page_reporting: bool = False
    #: a second serial port the host writes commands to (``n``, ``c``, ``m``: see
    #: ``guest/workload.c``), for workloads whose phases wait for the host (``h:...``)
    command_port: bool = False


class LabVm:
    """One QEMU guest of the lab; a context manager that always cleans up.

    :param spec: the VM's size and workload.
    :param image: the guest kernel and initramfs.
    :param workdir: where its socket and logs go (default: a new temporary directory,
        removed by :meth:`stop`).
    :param accel: ``kvm``, ``tcg``, or ``auto`` (probe KVM once, fall back to TCG).
    :param on_spawn: called with QEMU's pid right after it is started, before the
        guest boots (the lab run puts it into its memory cgroup there).
    :param disk_dir: where its disks go (default: ``workdir``). A lab left up keeps its
        sockets and logs under ``/run``, often a tmpfs, where a guest's swap disk would
        be host memory; its disks go to a directory on a real file system instead.
    """

    def __init__(
        self,
        spec: VmSpec,
        image: GuestImage,
        workdir: Path | None = None,
        accel: str = "auto",
        on_spawn: Callable[[int], None] | None = None,
        disk_dir: Path | None = None,
    ) -> None:
        if spec.memory_bytes < 64 * MIB:
            raise LabError(f"{spec.name}: memory_bytes(={spec.memory_bytes}) must be >= 64 MiB")
        if accel not in ("auto", "kvm", "tcg"):
            raise LabError(f'accel(={accel!r}) must be "auto", "kvm" or "tcg"')
        self.spec = spec
        self.image = image
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"juggler-{spec.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.disk_dir = disk_dir or self.workdir
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        self._accel_wanted = accel
        self._on_spawn = on_spawn
        self._process: subprocess.Popen[bytes] | None = None
        self._commands: socket.socket | None = None
        #: the accelerator the VM runs under, once started
        self.accel: str | None = None
        #: seconds from QEMU's start to the guest's ``JUGGLER ready``
        self.boot_seconds: float | None = None

    @property
    def qmp_path(self) -> Path:
        return self.workdir / "qmp.sock"

    @property
    def serial_path(self) -> Path:
        return self.workdir / "serial.log"

    @property
    def command_path(self) -> Path:
        return self.workdir / "cmd.sock"

    def send(self, commands: bytes) -> None:
        """Write command bytes to the guest's command port (``VmSpec.command_port``).

        :raise LabError: When the VM has no command port or QEMU does not take them.
        """
        if not self.spec.command_port:
            raise LabError(f"{self.spec.name}: the VM has no command port (VmSpec.command_port)")
        try:
            if self._commands is None:
                self._commands = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._commands.connect(str(self.command_path))
            self._commands.sendall(commands)
        except OSError as err:
            self._close_commands()
            raise LabError(f"{self.spec.name}: cannot write to the command port: {err}") from err

    def _close_commands(self) -> None:
        if self._commands is not None:
            self._commands.close()
            self._commands = None

    @property
    def pid(self) -> int | None:
        """The QEMU process id, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def exit_status(self) -> int | None:
        """QEMU's exit status once it has exited on its own or been killed (negative:
        the signal, as :mod:`subprocess` gives it); None while it runs or before it
        started."""
        return self._process.poll() if self._process else None

    def start(self) -> LabVm:
        """Boot the VM and wait until its guest reports ready.

        :raise MissingToolError: When QEMU is not installed.
        :raise BootError: When QEMU exits or the guest is not ready in time; QEMU
            is killed and the working directory removed first.
        """
        if shutil.which(QEMU) is None:
            raise MissingToolError(QEMU, "qemu-system-x86", "to run lab VMs")
        try:
            self._boot(self._choose_accel())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL) and remove a working directory we created."""
        self._kill()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LabVm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serial_text(self) -> str:
        """Everything the guest printed on its serial console so far."""
        try:
            return self.serial_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def reports(self) -> list[WorkloadReport]:
        """The workload's per-second reports so far."""
        return parse_reports(self.serial_text())

    def _choose_accel(self) -> str:
        global _accelerator
        if self._accel_wanted != "auto":
            return self._accel_wanted
        forced = os.environ.get("JUGGLER_LAB_ACCEL")
        if forced in ("kvm", "tcg"):
            return forced
        if _accelerator is not None:
            return _accelerator
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            _accelerator = "tcg"
            return _accelerator
        try:
            self._boot("kvm", timeout_s=KVM_PROBE_TIMEOUT_S)
        except BootError as err:
            self._kill()
            log.warning(
                "KVM is present but a guest did not boot with it (%s); using TCG "
                "(emulation, slower). Set JUGGLER_LAB_ACCEL=tcg to skip this probe.",
                str(err).splitlines()[0],
            )
            _accelerator = "tcg"
            return _accelerator
        _accelerator = "kvm"
        return "kvm"  # already booted by the probe

    def _boot(self, accel: str, timeout_s: float | None = None) -> None:
        if self._process is not None:
            return  # the KVM probe already booted it
        for stale in (self.qmp_path, self.serial_path, self.command_path):
            stale.unlink(missing_ok=True)
        command = self._command(accel)
        log.debug("%s: %s", self.spec.name, " ".join(command))
        started = time.monotonic()
        with (self.workdir / "qemu.log").open("wb") as qemu_log:
            try:
                # its own session: a Ctrl-C or hang-up meant for the juggler command
                # that started it never reaches a VM that `lab up` leaves running
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=qemu_log,
                    stderr=qemu_log,
                    start_new_session=True,
                )
            except OSError as err:
                raise BootError(f"cannot start {QEMU}: {err}", self.spec.name) from err
        self.accel = accel
        if self._on_spawn is not None:
            self._on_spawn(self._process.pid)
        limit = timeout_s or (TCG_BOOT_TIMEOUT_S if accel == "tcg" else KVM_PROBE_TIMEOUT_S)
        while READY_MARKER not in self.serial_text():
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise BootError(f"QEMU exited with status {code} during boot", *self._tail())
            if time.monotonic() - started > limit:
                raise BootError(
                    f"the guest did not report ready within {limit:g} s under {accel}",
                    *self._tail(),
                )
            time.sleep(0.1)
        self.boot_seconds = time.monotonic() - started
        log.info("%s booted under %s in %.1f s", self.spec.name, accel, self.boot_seconds)

    def _command(self, accel: str) -> list[str]:
        spec = self.spec
        append = (
            # no_timer_check: an emulated CPU on a busy host can miss the IO-APIC timer
            # check's deadline and panic ("IO-APIC + timer doesn't work!")
            f"console=ttyS0 quiet panic=-1 no_timer_check juggler.phases={spec.phases} "
            f"juggler.seed={spec.seed}"
            f" juggler.data={spec.data_bytes // MIB}"
        )
        command = [
            QEMU,
            "-name",
            # debug-threads: the vCPU threads are named (CPU 0/TCG), so a host-side
            # reader can tell the guest's own CPU time from QEMU's other threads
            f"{spec.name},debug-threads=on",
            "-nodefaults",
            "-no-user-config",
            "-no-reboot",
            "-machine",
            "q35",
            "-accel",
            accel,
            "-cpu",
            "host" if accel == "kvm" else "max",
            "-smp",
            str(spec.vcpus),
            "-m",
            f"{spec.memory_bytes // MIB}M",
            "-kernel",
            str(self.image.kernel),
            "-initrd",
            str(self.image.initrd),
            "-append",
            append,
            "-display",
            "none",
            "-nic",
            "none",
            "-serial",
            f"file:{self.serial_path}",
            "-device",
            "virtio-balloon-pci,id=balloon0"
            + (",free-page-reporting=on" if spec.free_page_reporting else ""),
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
        ]
        if spec.command_port:
            command += [
                "-chardev",
                f"socket,id=cmd,path={self.command_path},server=on,wait=off",
                "-device",
                "isa-serial,chardev=cmd,index=1",
            ]
        cache = "none" if _supports_direct_io(self.disk_dir) else "writeback"
        for disk_id, size in (("swap", spec.swap_bytes), ("data", spec.data_bytes)):
            if not size:
                continue
            disk = self.disk_dir / f"{disk_id}.raw"
            if disk_id == "data":
                write_data_disk(disk, size)
            else:
                with disk.open("wb") as handle:
                    handle.truncate(size)  # sparse: the guest writes its swap itself
            command += [
                "-drive",
                f"file={disk},format=raw,if=none,id={disk_id}0,cache={cache}",
                "-device",
                f"virtio-blk-pci,drive={disk_id}0,serial=juggler-{disk_id}",
            ]
        return command

    def _kill(self) -> None:
        self._close_commands()
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.qmp_path.unlink(missing_ok=True)
        self.command_path.unlink(missing_ok=True)

    def _tail(self, lines: int = 15) -> tuple[str, str]:
        qemu_log = self.workdir / "qemu.log"
        qemu_text = qemu_log.read_text(errors="replace") if qemu_log.exists() else ""
        text = "\n".join(
            [f"  qemu: {line}" for line in qemu_text.splitlines()[-lines:]]
            + [f"  serial: {line}" for line in self.serial_text().splitlines()[-lines:]]
        )
        return self.spec.name, text


def write_data_disk(path: Path, size: int) -> None:
    """A data disk whose every 4 KiB page holds its own number, so no page is zero.

    Why not a sparse file: the guest's page cache of it would be zero-filled pages,
    and a Linux host swaps a zero-filled page without I/O and without counting it
    in ``pswpout`` (``swpout_zero`` in /proc/vmstat, kernels since 6.12 that this
    lab's host runs): page cache cost the lab's host nothing to swap and its swap
    counts missed it, where a real guest's cache holds data (measured: the lab's
    cache-heavy scenario swapped 291 MiB where its guests had given up 330 MiB more
    than that, docs/fidelity.md).
    """
    page = 4096
    pages_per_chunk = 256
    chunk = np.zeros((pages_per_chunk, page // 8), dtype=np.uint64)
    with path.open("wb") as handle:
        written = 0
        first = 0
        while written < size:
            chunk[:, 0] = np.arange(first, first + pages_per_chunk, dtype=np.uint64) + 1
            data = chunk.tobytes()[: size - written]
            handle.write(data)
            written += len(data)
            first += pages_per_chunk


def _supports_direct_io(directory: Path) -> bool:
    """Whether files in ``directory`` can be opened with O_DIRECT (tmpfs cannot).

    With O_DIRECT the guest's swap disk bypasses the host's page cache, so guest
    swapping costs real I/O instead of hiding in host memory.
    """
    probe = directory / ".direct-probe"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | getattr(os, "O_DIRECT", 0), 0o600)
    except OSError:
        return False
    else:
        os.close(fd)
        return True
    finally:
        probe.unlink(missing_ok=True)

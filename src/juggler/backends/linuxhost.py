"""The hypervisor host as Linux shows it: ``/proc/meminfo``, ``/proc/vmstat``, PSI.

Why its own module: the QEMU backend and the libvirt backend see the host the
same way, and tests must be able to feed canned files. Everything is read
under ``proc_root`` (``/proc`` by default, a fixture directory in tests).
Values are converted to bytes at once (``/proc`` speaks kB and pages), and a
file the kernel does not provide (PSI needs ``CONFIG_PSI``) gives ``None``,
never a made-up number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from juggler.errors import BackendError
from juggler.observation import HostSample
from juggler.psi import read_avg10

KIB = 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def read_kb_fields(path: Path) -> dict[str, int]:
    """A ``Key:  123 kB`` file (meminfo, /proc/<pid>/status) as bytes by key.

    Lines whose value is not a number (``Name: qemu``) are skipped.

    :raise OSError: When the file cannot be read.
    """
    fields: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = KIB if len(parts) > 1 and parts[1] == "kB" else 1
            fields[key.strip()] = int(parts[0]) * scale
    return fields


def process_memory(proc_root: Path, pid: int) -> tuple[int | None, int | None]:
    """A process's resident and swapped-out memory in bytes (``VmRSS``, ``VmSwap``).

    :raise BackendError: When the process does not exist or cannot be read.
    """
    try:
        fields = read_kb_fields(proc_root / str(pid) / "status")
    except OSError as err:
        raise BackendError(f"cannot read memory of process {pid}: {err.strerror or err}") from err
    return fields.get("VmRSS"), fields.get("VmSwap")


def guest_ram_memory(proc_root: Path, pid: int, guest_bytes: int) -> tuple[int, int, int] | None:
    """How much of a QEMU process's guest RAM is resident and swapped out, and how
    much the process has resident besides it (its own overhead), in bytes.

    Why not ``VmRSS``: a QEMU process holds far more than its guest's memory (code,
    device models, under TCG a translation cache of ~100 MiB), and a policy that
    took that for guest memory would balloon guests for QEMU's own use. The guest
    RAM is the anonymous mapping exactly ``guest_bytes`` long (one block below
    2 GiB on q35, as QEMU allocates it), read from ``/proc/<pid>/smaps``.

    :return: ``(resident, swapped, other_resident)``, or None when the map cannot be
        read (another user's QEMU) or no mapping has the guest's size (hugepages,
        file-backed or split RAM): callers fall back to the whole process.
    """
    try:
        text = (proc_root / str(pid) / "smaps").read_text()
    except OSError:
        return None
    total = resident = swapped = 0
    found = False
    in_guest = False
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "Size":
            in_guest = int(rest.split()[0]) * KIB == guest_bytes
            found = found or in_guest
        elif key == "Rss":
            rss = int(rest.split()[0]) * KIB
            total += rss
            if in_guest:
                resident += rss
        elif key == "Swap" and in_guest:
            swapped += int(rest.split()[0]) * KIB
    if not found:
        return None
    return resident, swapped, total - resident


def process_major_faults(proc_root: Path, pid: int) -> int | None:
    """A process's cumulative major page faults (``/proc/<pid>/stat``, field 12), or
    None when unreadable.

    Why: a QEMU process's guest RAM is anonymous memory, so every page the host
    swapped out and the guest touches again is a major fault of QEMU. The kernel
    keeps no per-process swap-in count, but this is one, give or take the few
    faults on QEMU's own files.
    """
    try:
        text = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[9])  # field 12 overall: majflt
    except (IndexError, ValueError):
        return None


@dataclass
class Counters:
    """Cumulative counters read at each sample, turned into per-second changes.

    Why one class: the host's swap counters, a VM's disk counters and its swapped
    memory all become rates the same way, and every reading after a restart or
    a gap must be paired with the one before it and nothing else.
    """

    at: float | None = None
    values: dict[str, int | None] = field(default_factory=dict)

    def changes(
        self, values: dict[str, int | None], now_s: float
    ) -> dict[str, float | None] | None:
        """Each counter's change per second since the previous reading (None where
        either reading is unknown); None for the first reading.

        :param now_s: a monotonic clock reading, in seconds.
        """
        at, previous = self.at, self.values
        self.at, self.values = now_s, values
        if at is None or now_s <= at:
            return None
        return {
            key: None
            if value is None or previous.get(key) is None
            else (value - previous[key]) / (now_s - at)  # type: ignore[operator]
            for key, value in values.items()
        }


class HostReader:
    """Samples host memory; keeps the previous swap counters to turn them into rates.

    :param proc_root: where ``/proc`` is.
    """

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self.proc_root = Path(proc_root)
        self._swap = Counters()

    def sample(self, now_s: float) -> HostSample:
        """The host now; swap rates are over the time since the previous sample.

        :param now_s: a monotonic clock reading, in seconds.
        :raise BackendError: When ``meminfo`` cannot be read (nothing can be observed).
        """
        try:
            meminfo = read_kb_fields(self.proc_root / "meminfo")
        except OSError as err:
            raise BackendError(f"cannot read host memory: {err}") from err
        total = meminfo.get("MemTotal", 0)
        available = meminfo.get("MemAvailable", meminfo.get("MemFree", 0))
        free_cached = None
        if "MemFree" in meminfo:
            free_cached = meminfo["MemFree"] + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
        swap_used = None
        if "SwapTotal" in meminfo and "SwapFree" in meminfo:
            swap_used = meminfo["SwapTotal"] - meminfo["SwapFree"]
        swap_in, swap_out = self._swap_rates(now_s)
        some, full = read_avg10(self.proc_root / "pressure" / "memory")
        return HostSample(
            host_memory_bytes=total,
            host_available_bytes=max(0, available),
            host_swap_used_bytes=swap_used,
            host_swap_in_bytes_per_s=swap_in,
            host_swap_out_bytes_per_s=swap_out,
            host_psi_some_avg10=some,
            host_psi_full_avg10=full,
            host_free_cached_bytes=free_cached,
        )

    def _swap_rates(self, now_s: float) -> tuple[float | None, float | None]:
        try:
            text = (self.proc_root / "vmstat").read_text()
        except OSError:
            return None, None
        counters = dict(line.split(None, 1) for line in text.splitlines() if " " in line)
        try:
            pswpin, pswpout = int(counters["pswpin"]), int(counters["pswpout"])
        except (KeyError, ValueError):
            return None, None
        change = self._swap.changes({"in": pswpin, "out": pswpout}, now_s)
        if change is None:
            return None, None
        return (
            max(0.0, change["in"] or 0.0) * PAGE_BYTES,
            max(0.0, change["out"] or 0.0) * PAGE_BYTES,
        )

"""Reading a memory cgroup that plays the host: its usage, limit, swap and pressure.

Why here and not with the lab: a production host may confine its VMs to a
memory cgroup too, and the QEMU backend then reads the host from it. Creating,
filling and removing cgroups is the lab's business (its ``cgroup`` module);
reading one is not, so the backend never imports the lab. Reading takes only a
directory, so tests pass canned files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from juggler.errors import HostError
from juggler.psi import read_avg10

#: v1 reports "no limit" as a huge page-aligned number
_V1_UNLIMITED = 2**62


@dataclass(frozen=True)
class CgroupMemory:
    """What a memory cgroup reports, in bytes (None: the kernel does not say)."""

    usage_bytes: int
    limit_bytes: int | None
    swap_bytes: int | None
    #: cumulative pages swapped in and out by the cgroup (v1 ``memory.stat`` has none)
    swap_in_pages: int | None = None
    swap_out_pages: int | None = None
    #: ``memory.pressure`` some avg10 (v2 only)
    psi_some_avg10: float | None = None
    psi_full_avg10: float | None = None
    #: page cache charged to the cgroup (v2 ``file``, v1 ``cache`` in ``memory.stat``):
    #: counted in the usage, yet what MOM counts as free
    file_bytes: int | None = None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    return int(text)


def _read_stat(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    stat: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            stat[key] = int(value)
    return stat


def cgroup_version(path: Path) -> int:
    """1 or 2, from the files a cgroup directory holds."""
    return 2 if (path / "memory.current").exists() else 1


def read_memory(path: Path) -> CgroupMemory:
    """A memory cgroup's usage, limit and swap, from its directory.

    :raise HostError: When the directory holds no memory usage file.
    """
    if cgroup_version(path) == 2:
        usage = _read_int(path / "memory.current")
        if usage is None:
            raise HostError(f"cannot read {path / 'memory.current'}")
        stat = _read_stat(path / "memory.stat")
        some, full = read_avg10(path / "memory.pressure")
        return CgroupMemory(
            usage_bytes=usage,
            limit_bytes=_read_int(path / "memory.max"),
            swap_bytes=_read_int(path / "memory.swap.current"),
            swap_in_pages=stat.get("pswpin"),
            swap_out_pages=stat.get("pswpout"),
            psi_some_avg10=some,
            psi_full_avg10=full,
            file_bytes=stat.get("file"),
        )
    usage = _read_int(path / "memory.usage_in_bytes")
    if usage is None:
        raise HostError(f"cannot read {path / 'memory.usage_in_bytes'}")
    limit = _read_int(path / "memory.limit_in_bytes")
    memsw = _read_int(path / "memory.memsw.usage_in_bytes")
    stat = _read_stat(path / "memory.stat")
    swap = memsw - usage if memsw is not None else stat.get("swap")
    return CgroupMemory(
        usage_bytes=usage,
        limit_bytes=None if limit is None or limit >= _V1_UNLIMITED else limit,
        swap_bytes=None if swap is None else max(0, swap),
        file_bytes=stat.get("cache"),
    )

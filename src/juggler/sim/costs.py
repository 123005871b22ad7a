"""The cost model: what each kind of memory access costs a vCPU.

Every vCPU has one second of time per second of simulated time. A resident
access costs the CPU time of the work it belongs to; a page the guest must read
from its own swap disk costs that disk's latency; a page the hypervisor must
read back from its swap costs the host swap device's latency. The figures are
per 4 KiB page, random access, with the fault handling around it, in the
range of published measurements for each class of device; they are model
parameters, stated here once, not measurements of this machine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceProfile:
    """Latency of one page read and one page write on a swap or disk device."""

    name: str
    read_s: float
    write_s: float


DEVICES: dict[str, DeviceProfile] = {
    "nvme": DeviceProfile("nvme", read_s=100e-6, write_s=40e-6),
    "ssd": DeviceProfile("ssd", read_s=250e-6, write_s=100e-6),
    "hdd": DeviceProfile("hdd", read_s=6e-3, write_s=3e-3),
}

#: first touch of a never-used page: a guest minor fault plus the host's fault and zero-fill
ZERO_FILL_S = 2e-6


def device(name: str) -> DeviceProfile:
    """The profile called ``name`` (nvme, ssd, hdd)."""
    return DEVICES[name]

"""Fixtures for tests that boot real QEMU guests.

Lab tests are marked ``lab`` and skip, with the reason, only when
``qemu-system-x86_64`` is absent (``scripts/setup-lab.sh`` installs it). Every
VM a test boots is stopped by a finalizer, which also checks that no QEMU
process, socket or working directory is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from lab_helpers import alive

from juggler.lab.image import GuestImage, build_image
from juggler.lab.vm import LabVm, VmSpec


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: boots real QEMU guests (slow; needs qemu-system-x86_64)"
    )


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The guest image, built once (cached across runs under ~/.cache/juggler/lab)."""
    return build_image()


@pytest.fixture
def boot_vm(guest_image: GuestImage) -> Iterator[Callable[[VmSpec], LabVm]]:
    """Boot lab VMs; every one is stopped and checked gone after the test."""
    started: list[LabVm] = []

    def boot(spec: VmSpec) -> LabVm:
        vm = LabVm(spec, guest_image)
        started.append(vm)
        return vm.start()

    yield boot
    pids = [vm.pid for vm in started if vm.pid is not None]
    for vm in started:
        vm.stop()
    for vm in started:
        assert not vm.workdir.exists(), f"{vm.workdir} left behind"
    for pid in pids:
        assert not alive(pid), f"QEMU process {pid} left running"

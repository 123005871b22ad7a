"""Booting one lab VM: ready marker, workload reports, swap, failures, cleanup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lab_helpers import lab, wait_for

from juggler.errors import BootError, LabError
from juggler.lab.image import GuestImage
from juggler.lab.vm import LabVm, VmSpec
from juggler.units import MIB


@lab
def test_vm_boots_and_its_workload_reports_each_second(
    boot_vm: Callable[[VmSpec], LabVm],
) -> None:
    vm = boot_vm(VmSpec("solo", 256 * MIB, phases="0:32:uniform:20000", swap_bytes=64 * MIB))
    assert vm.accel in ("kvm", "tcg")
    assert vm.boot_seconds is not None and vm.boot_seconds < 90
    assert vm.qmp_path.is_socket()
    text = vm.serial_text()
    assert "JUGGLER ready kernel=" in text
    assert "JUGGLER swap on /dev/vda" in text
    reports = wait_for(lambda: vm.reports()[1:], 30, "two workload reports")
    assert reports[-1].working_set_bytes == 32 * MIB
    assert reports[-1].accesses > 0
    assert 0 < reports[-1].p50_us <= reports[-1].p99_us <= reports[-1].max_us


@lab
def test_failed_boot_raises_and_leaves_nothing(tmp_path: Path, guest_image: GuestImage) -> None:
    bogus = tmp_path / "vmlinuz"
    bogus.write_bytes(b"this is not a kernel")
    image = GuestImage(bogus, guest_image.initrd, "bogus", "none", {})
    vm = LabVm(VmSpec("broken", 128 * MIB), image, accel="tcg")
    with pytest.raises(BootError, match=r"^broken: QEMU exited with status 1 during boot"):
        vm.start()
    assert vm.pid is None
    assert not vm.workdir.exists()


def test_too_small_vm_is_refused(guest_image_stub: GuestImage) -> None:
    with pytest.raises(LabError, match=r"tiny: memory_bytes\(=1048576\) must be >= 64 MiB"):
        LabVm(VmSpec("tiny", MIB), guest_image_stub)


def test_unknown_accelerator_is_refused(guest_image_stub: GuestImage) -> None:
    with pytest.raises(LabError, match=r'accel\(=\'hvf\'\) must be "auto", "kvm" or "tcg"'):
        LabVm(VmSpec("x", 128 * MIB), guest_image_stub, accel="hvf")


@pytest.fixture
def guest_image_stub(tmp_path: Path) -> GuestImage:
    return GuestImage(tmp_path / "k", tmp_path / "i", "stub", "none", {})

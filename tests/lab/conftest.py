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


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After every lab test: no cgroup, run directory, swap file or QEMU process of
    this test session is left (``lab run`` names them after its pid)."""
    yield
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from juggler.lab.cgroup import PREFIX, detect_parent
    from juggler.lab.hostswap import active_swaps
    from juggler.lab.run import RUN_PREFIX

    mine = f"{PREFIX}{RUN_PREFIX}{os.getpid()}"
    leftovers = [str(s) for s in active_swaps() if mine in str(s)]
    run_dir = Path(tempfile.gettempdir()) / mine
    if run_dir.exists():
        leftovers.append(str(run_dir))
    try:
        cgroup = detect_parent() / mine
    except Exception:  # no cgroup support here: nothing can be left there
        cgroup = None
    if cgroup is not None and cgroup.exists():
        leftovers.append(str(cgroup))
    qemus = subprocess.run(["pgrep", "-f", f"/{mine}/"], capture_output=True, text=True)
    leftovers += [f"QEMU {pid}" for pid in qemus.stdout.split()]
    assert not leftovers, f"left behind by the lab tests: {leftovers}"

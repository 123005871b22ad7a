"""Real ballooning through QemuBackend: two TCG guests, B is inflated then deflated.

What this pins: ``apply`` moves a real virtio balloon, the guest sees its memory
shrink (balloon statistics), the host gets the memory back (QEMU's resident
set drops), and deflating gives the guest its memory again; and a QEMU that
dies shows up in ``Observation.missing`` instead of an exception.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from lab_helpers import alive, lab, wait_for

from juggler.backends import QemuBackend, QemuVm
from juggler.errors import BackendError
from juggler.lab.vm import LabVm, VmSpec
from juggler.observation import Decision, Observation, VmSample, VmTarget
from juggler.units import MIB

VM_BYTES = 320 * MIB
INFLATE_BYTES = 160 * MIB


@pytest.fixture
def backend_for() -> Iterator[Callable[[list[LabVm]], QemuBackend]]:
    backends: list[QemuBackend] = []

    def make(vms: list[LabVm]) -> QemuBackend:
        backend = QemuBackend([QemuVm(vm.spec.name, vm.qmp_path) for vm in vms], timeout_s=5.0)
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        backend.close()


def fresh_sample(backend: QemuBackend, name: str, after_wall_s: float) -> VmSample | None:
    """B's sample once the guest has reported statistics gathered after ``after_wall_s``."""
    vm = backend.observe().vm(name)
    if vm.guest_stats_age_s is None or time.time() - vm.guest_stats_age_s <= after_wall_s:
        return None
    return vm


@lab
def test_inflating_b_shrinks_its_guest_and_its_host_memory_then_deflating_restores_it(
    boot_vm: Callable[[VmSpec], LabVm],
    backend_for: Callable[[list[LabVm]], QemuBackend],
) -> None:
    a = boot_vm(VmSpec("A", VM_BYTES, phases="0:48:uniform:20000"))
    # B touches 160 MiB, then keeps 16 MiB: the rest is free in the guest but resident on the host
    b = boot_vm(VmSpec("B", VM_BYTES, phases="5:160:scan:400000,0:16:uniform:5000"))
    backend = backend_for([a, b])
    wait_for(lambda: any(r.phase == 1 for r in b.reports()), 60, "B to finish touching 160 MiB")
    touched_at = time.time()
    before = wait_for(lambda: fresh_sample(backend, "B", touched_at), 20, "B's guest stats")
    assert before.configured_bytes == VM_BYTES
    assert before.balloon_actual_bytes == 0
    assert before.guest_total_bytes is not None and before.resident_bytes is not None
    assert before.resident_bytes > 150 * MIB

    started = time.monotonic()
    backend.apply(Decision({"B": VmTarget(INFLATE_BYTES, "test: inflate B")}))
    wait_for(
        lambda: backend.observe().vm("B").balloon_actual_bytes >= INFLATE_BYTES - MIB,
        30,
        "B's balloon to reach 160 MiB",
    )
    inflate_s = time.monotonic() - started
    inflated_at = time.time()
    inflated = wait_for(lambda: fresh_sample(backend, "B", inflated_at), 20, "B's guest stats")
    print(
        f"inflated 160 MiB in {inflate_s:.1f} s; resident {before.resident_bytes // MIB} -> "
        f"{inflated.resident_bytes // MIB} MiB"
    )
    assert inflated.balloon_target_bytes == INFLATE_BYTES
    assert inflated.guest_total_bytes <= before.guest_total_bytes - INFLATE_BYTES + 8 * MIB
    assert inflated.resident_bytes <= before.resident_bytes - 48 * MIB
    assert backend.observe().vm("A").balloon_actual_bytes == 0  # A untouched

    backend.apply(Decision({"B": VmTarget(0, "test: deflate B")}))
    wait_for(
        lambda: backend.observe().vm("B").balloon_actual_bytes == 0, 30, "B's balloon to deflate"
    )
    deflated_at = time.time()
    deflated = wait_for(lambda: fresh_sample(backend, "B", deflated_at), 20, "B's guest stats")
    assert deflated.guest_total_bytes >= before.guest_total_bytes - 4 * MIB
    reports = b.reports()
    assert reports[-1].accesses > 0  # B's workload kept running throughout


@lab
def test_a_killed_qemu_is_reported_missing_not_raised(
    boot_vm: Callable[[VmSpec], LabVm],
    backend_for: Callable[[list[LabVm]], QemuBackend],
) -> None:
    a = boot_vm(VmSpec("A", 192 * MIB))
    b = boot_vm(VmSpec("B", 192 * MIB))
    backend = backend_for([a, b])
    first = backend.observe()
    assert first.missing == {} and [vm.name for vm in first.vms] == ["A", "B"]
    pid = a.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 10, "QEMU A to die")

    def a_missing() -> Observation | None:
        obs = backend.observe()
        return obs if "A" in obs.missing else None

    obs = wait_for(a_missing, 10, "A to be missing")
    assert [vm.name for vm in obs.vms] == ["B"]
    assert "QEMU closed the connection" in obs.missing["A"], obs.missing
    again = backend.observe()  # reconnecting to a dead socket is reported too
    assert "cannot connect to QMP socket" in again.missing["A"]
    with pytest.raises(BackendError, match=r"^A: cannot connect to QMP socket") as raised:
        backend.apply(Decision({"A": VmTarget(32 * MIB, "test")}))
    assert raised.value.vm == "A"
    backend.apply(Decision({"B": VmTarget(32 * MIB, "test")}))  # B still works

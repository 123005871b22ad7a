"""The QEMU backend against a fake QMP server and canned /proc files."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qmp_fake import MIB, FakeQemu

from juggler.backend import Backend
from juggler.backends import QemuBackend, QemuVm
from juggler.backends.qmp import QmpChannel, Runstate
from juggler.errors import BackendError, ConnectError, StateError
from juggler.observation import Decision, VmTarget

PROC = Path(__file__).parent / "data" / "proc"
NOT_REPORTED = 2**64 - 1


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Callable[[str], FakeQemu]]:
    started: list[FakeQemu] = []

    def make(name: str) -> FakeQemu:
        server = FakeQemu(tmp_path / f"{name}.sock").start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def backends() -> Iterator[Callable[..., QemuBackend]]:
    made: list[QemuBackend] = []

    def make(*vms: QemuVm, **options: object) -> QemuBackend:
        options.setdefault("proc_root", PROC)
        backend = QemuBackend(list(vms), **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def guest_stats(last_update: int, swap_in: int = 0, faults: int = 0) -> dict[str, object]:
    return {
        "last-update": last_update,
        "stats": {
            "stat-total-memory": 480 * MIB,
            "stat-free-memory": 300 * MIB,
            "stat-available-memory": 320 * MIB,
            "stat-disk-caches": NOT_REPORTED,
            "stat-swap-in": swap_in,
            "stat-swap-out": 0,
            "stat-major-faults": faults,
            "stat-minor-faults": -1,
        },
    }


def test_the_backend_satisfies_the_protocol(backends: Callable[..., QemuBackend]) -> None:
    assert isinstance(backends(), Backend)


def test_observe_reads_qmp_guest_stats_and_proc(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    vm.actual_bytes = 384 * MIB
    vm.stats = guest_stats(int(time.time()))
    backend = backends(QemuVm("web", vm.path, pid=4242, reservation_bytes=64 * MIB, shares=2000))
    obs = backend.observe()
    assert obs.missing == {}
    sample = obs.vm("web")
    assert sample.configured_bytes == 512 * MIB
    assert sample.balloon_actual_bytes == 128 * MIB  # configured - actual
    assert sample.balloon_target_bytes is None  # juggler has not set one
    assert sample.balloon_present
    assert (sample.reservation_bytes, sample.shares) == (64 * MIB, 2000)
    assert sample.resident_bytes == 256 * MIB  # VmRSS
    assert sample.host_swapped_bytes == 16 * MIB  # VmSwap
    assert sample.guest_total_bytes == 480 * MIB
    assert sample.guest_free_bytes == 300 * MIB
    assert sample.guest_available_bytes == 320 * MIB
    assert sample.guest_cache_bytes is None  # 2^64-1: not reported
    assert sample.guest_stats_age_s is not None and sample.guest_stats_age_s < 5
    assert obs.host.host_memory_bytes == 8048576 * 1024
    assert (
        "qom-set",
        {
            "path": "/machine/peripheral/balloon0",
            "property": "guest-stats-polling-interval",
            "value": 1,
        },
    ) in vm.received


def test_a_host_memory_limit_is_shared_by_the_vms(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242), host_memory_bytes=1024 * MIB)
    host = backend.observe().host
    assert host.host_memory_bytes == 1024 * MIB
    assert host.host_available_bytes == 1024 * MIB - 256 * MIB  # minus web's VmRSS
    # the machine's MemFree + Buffers + Cached (1865 MiB), held to the same room
    assert host.host_free_cached_bytes == 1024 * MIB - 256 * MIB


CGROUP = Path(__file__).parent / "data" / "cgroup"


def test_the_lab_cgroup_v1_is_the_host(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242), cgroup_path=CGROUP / "v1")
    host = backend.observe().host
    assert host.host_memory_bytes == 768 * MIB  # memory.limit_in_bytes
    assert host.host_available_bytes == (768 - 576) * MIB  # limit - usage
    assert host.host_free_cached_bytes == (768 - 576 + 100) * MIB  # plus memory.stat cache
    assert host.host_swap_used_bytes == 32 * MIB  # memsw - usage
    assert host.host_psi_some_avg10 is not None  # v1 has no PSI: the machine's


def test_the_lab_cgroup_v2_is_the_host(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242), cgroup_path=CGROUP / "v2")
    obs = backend.observe()
    assert obs.host.host_memory_bytes == 768 * MIB  # memory.max
    assert obs.host.host_available_bytes == (768 - 512) * MIB  # minus memory.current
    assert obs.host.host_free_cached_bytes == (768 - 512 + 100) * MIB  # plus memory.stat file
    assert obs.host.host_swap_used_bytes == 64 * MIB  # memory.swap.current
    assert (obs.host.host_psi_some_avg10, obs.host.host_psi_full_avg10) == (12.5, 4.25)
    assert obs.vm("web").host_swapped_bytes == 16 * MIB  # per VM: still VmSwap


def test_an_unreadable_cgroup_is_a_backend_error(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend], tmp_path: Path
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242), cgroup_path=tmp_path / "gone")
    with pytest.raises(BackendError, match="memory cgroup"):
        backend.observe()


def test_guest_rates_come_from_two_guest_updates(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("db")
    now = int(time.time())
    vm.stats = guest_stats(now - 2, swap_in=4096, faults=10)
    backend = backends(QemuVm("db", vm.path, pid=4242))
    first = backend.observe().vm("db")
    assert first.guest_swap_in_bytes_per_s is None and first.guest_major_faults_per_s is None
    vm.stats = guest_stats(now, swap_in=4096 + 8 * 4096, faults=30)
    second = backend.observe().vm("db")
    assert second.guest_swap_in_bytes_per_s == 4 * 4096
    assert second.guest_major_faults_per_s == 10
    assert second.guest_swap_out_bytes_per_s == 0
    third = backend.observe().vm("db")  # no new guest update: the last rates stand
    assert third.guest_swap_in_bytes_per_s == 4 * 4096


def test_a_guest_that_never_reported_has_no_guest_fields(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("new")
    sample = backends(QemuVm("new", vm.path, pid=4242)).observe().vm("new")
    assert sample.guest_total_bytes is None and sample.guest_stats_age_s is None


def test_apply_sends_configured_minus_balloon(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242))
    backend.apply(Decision({"web": VmTarget(100 * MIB, "test")}))
    assert vm.received[-1] == ("balloon", {"value": 412 * MIB})
    sample = backend.observe().vm("web")
    assert sample.balloon_target_bytes == 100 * MIB
    assert sample.balloon_actual_bytes == 100 * MIB


def test_apply_ignores_targets_that_leave_a_vm_alone(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backends(QemuVm("web", vm.path, pid=4242)).apply(Decision({"web": VmTarget(None, "keep")}))
    assert "balloon" not in vm.commands()


def test_apply_refuses_a_balloon_as_large_as_the_vm(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242))
    with pytest.raises(
        BackendError, match=r"^web: balloon_bytes\(=536870912\) must be >= 0 and < configured"
    ):
        backend.apply(Decision({"web": VmTarget(512 * MIB, "too much")}))


def test_apply_tries_every_vm_and_names_the_one_that_failed(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend], tmp_path: Path
) -> None:
    good = fake("good")
    backend = backends(QemuVm("ghost", tmp_path / "none.sock"), QemuVm("good", good.path))
    decision = Decision({"ghost": VmTarget(MIB, "x"), "good": VmTarget(8 * MIB, "y")})
    with pytest.raises(ConnectError, match=r"^ghost: cannot connect to QMP socket") as raised:
        backend.apply(decision)
    assert raised.value.vm == "ghost"
    assert good.received[-1] == ("balloon", {"value": 504 * MIB})


def test_apply_to_an_unknown_vm_names_it(backends: Callable[..., QemuBackend]) -> None:
    with pytest.raises(BackendError, match=r"^nobody: no such VM") as raised:
        backends().apply(Decision({"nobody": VmTarget(MIB, "x")}))
    assert raised.value.vm == "nobody"


def test_unreachable_failing_and_hung_vms_are_missing_with_reasons(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend], tmp_path: Path
) -> None:
    ok, failing, hung = fake("ok"), fake("failing"), fake("hung")
    failing.errors["query-balloon"] = "GenericError"
    hung.hang.add("query-balloon")
    backend = backends(
        QemuVm("ok", ok.path, pid=4242),
        QemuVm("failing", failing.path, pid=4242),
        QemuVm("hung", hung.path, pid=4242),
        QemuVm("ghost", tmp_path / "ghost.sock"),
        timeout_s=0.5,
    )
    obs = backend.observe()
    assert [vm.name for vm in obs.vms] == ["ok"]
    assert obs.missing["failing"] == (
        "query-balloon: GenericError: query-balloon failed on purpose"
    )
    assert obs.missing["hung"].startswith("query-balloon: QMP connection lost: no answer within")
    assert obs.missing["ghost"].startswith(f"cannot connect to QMP socket {tmp_path}/ghost.sock")
    hung.hang.clear()
    assert "hung" not in backend.observe().missing  # reconnected


def test_a_vm_without_balloon_is_observed_without_one(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("plain")
    vm.balloon = False
    sample = backends(QemuVm("plain", vm.path, pid=4242)).observe().vm("plain")
    assert not sample.balloon_present
    assert sample.balloon_actual_bytes is None
    assert "qom-get" not in vm.commands()


def test_the_qemu_pid_comes_from_the_socket(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend], tmp_path: Path
) -> None:
    proc = Path(shutil.copytree(PROC, tmp_path / "proc"))
    (proc / str(os.getpid())).mkdir()
    (proc / str(os.getpid()) / "status").write_text("VmRSS:\t  1024 kB\nVmSwap:\t 0 kB\n")
    vm = fake("self")  # the fake server runs in this process
    sample = backends(QemuVm("self", vm.path), proc_root=proc).observe().vm("self")
    assert sample.resident_bytes == 1024 * 1024


def test_a_closed_backend_refuses_calls(backends: Callable[..., QemuBackend]) -> None:
    backend = backends()
    backend.close()
    backend.close()  # twice is fine
    with pytest.raises(BackendError, match=r"^the QEMU backend is closed$"):
        backend.observe()


def test_duplicate_vm_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"VM names must be unique"):
        QemuBackend([QemuVm("a", tmp_path / "1"), QemuVm("a", tmp_path / "2")])


async def _execute_while_idle() -> None:
    await QmpChannel("vm1", Path("/nonexistent")).execute("query-balloon")


def test_channel_refuses_commands_until_connected() -> None:
    import asyncio

    with pytest.raises(
        StateError,
        match=r"^vm1: execute\(\) needs the QMP channel running, but it is idle$",
    ):
        asyncio.run(_execute_while_idle())


def test_channel_returns_to_idle_after_a_failed_connect(tmp_path: Path) -> None:
    import asyncio

    channel = QmpChannel("vm1", tmp_path / "absent.sock", timeout_s=0.5)
    with pytest.raises(ConnectError, match=r"^vm1: cannot connect to QMP socket"):
        asyncio.run(channel.connect())
    assert channel.runstate is Runstate.IDLE


def test_disk_rates_come_from_blockstats_between_observations(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("db")
    backend = backends(QemuVm("db", vm.path, pid=4242))
    first = backend.observe().vm("db")
    assert first.vm_disk_read_bytes_per_s is None  # one reading is not a rate
    vm.disk_bytes = [8 * MIB, MIB]
    time.sleep(0.05)
    second = backend.observe().vm("db")
    assert second.vm_disk_read_bytes_per_s is not None and second.vm_disk_read_bytes_per_s > 0
    assert second.vm_disk_write_bytes_per_s is not None
    assert second.vm_disk_read_bytes_per_s > second.vm_disk_write_bytes_per_s > 0


def test_a_qemu_without_blockstats_has_unknown_disk_rates(
    fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("db")
    vm.errors["query-blockstats"] = "CommandNotFound"
    backend = backends(QemuVm("db", vm.path, pid=4242))
    backend.observe()
    obs = backend.observe()
    assert obs.missing == {}
    assert obs.vm("db").vm_disk_read_bytes_per_s is None


def test_workload_reports_come_from_the_console_log(
    tmp_path: Path, fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    vm = fake("db")
    log = tmp_path / "serial.log"
    log.write_text(
        "boot noise\n"
        "JUGGLER t=1 phase=0 ws_mib=64 accesses=1000 p50_us=0.50 p99_us=4.00 max_us=9.00\n"
        "JUGGLER t=2 phase=0 ws_mib=64 accesses=3000 p50_us=0.30 p99_us=8.00 max_us=9.00\n"
        "JUGGLER t=3 phase=0 ws_mib=64 acc"  # still being written
    )
    backend = backends(QemuVm("db", vm.path, pid=4242, console_path=log))
    first = backend.observe().vm("db")
    assert first.workload_accesses_per_s == 2000
    assert first.workload_latency_p99_seconds == pytest.approx(8e-6)
    assert first.workload_latency_p50_seconds == pytest.approx(0.4e-6)
    with log.open("a") as handle:
        handle.write("esses=500 p50_us=1.00 p99_us=2.00 max_us=3.00\n")
    second = backend.observe().vm("db")
    assert second.workload_accesses_per_s == 500  # the line finished since, read whole
    third = backend.observe().vm("db")
    assert third.workload_accesses_per_s is None  # nothing new: unknown, not zero


def test_resident_and_swapped_are_the_guest_ram_mapping_not_qemus_own_memory(
    tmp_path: Path, fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROC, proc)
    (proc / "4242" / "smaps").write_text(
        # QEMU's binary, then the guest's 512 MiB RAM, then a TCG translation buffer
        "55d0-55e0 r-xp 00000000 08:01 1 /usr/bin/qemu-system-x86_64\n"
        "Size:              20000 kB\nRss:               15000 kB\nSwap:                  0 kB\n"
        "7f00-7f20 rw-p 00000000 00:00 0\n"
        "Size:             524288 kB\nRss:              200000 kB\nSwap:              30000 kB\n"
        "7e00-7e10 rw-p 00000000 00:00 0\n"
        "Size:            1048576 kB\nRss:               90000 kB\nSwap:               1000 kB\n"
    )
    vm = fake("web")
    sample = backends(QemuVm("web", vm.path, pid=4242), proc_root=proc).observe().vm("web")
    assert sample.resident_bytes == 200000 * 1024
    assert sample.host_swapped_bytes == 30000 * 1024


def _stat(major_faults: int) -> str:
    # pid (comm with a space) state ppid ... field 12 is majflt
    return f"4242 (qemu-system x86) S 1 1 1 0 -1 4194560 500 0 {major_faults} 0 " + "0 " * 40


def test_host_swap_in_is_qemus_major_faults_and_swap_out_what_else_left(
    tmp_path: Path, fake: Callable[[str], FakeQemu], backends: Callable[..., QemuBackend]
) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROC, proc)
    status = proc / "4242" / "status"
    text = status.read_text()
    (proc / "4242" / "stat").write_text(_stat(1000))
    vm = fake("web")
    backend = backends(QemuVm("web", vm.path, pid=4242), proc_root=proc)
    first = backend.observe().vm("web")
    assert first.vm_host_swap_in_bytes_per_s is None  # one reading is not a rate
    # 4 MiB (1024 pages) came back from host swap, and swapped memory grew by 4 MiB
    (proc / "4242" / "stat").write_text(_stat(2024))
    status.write_text(text.replace("VmSwap:\t   16384 kB", "VmSwap:\t   20480 kB"))
    time.sleep(0.05)
    second = backend.observe().vm("web")
    assert second.vm_host_swap_in_bytes_per_s is not None
    assert second.vm_host_swap_out_bytes_per_s is not None
    # so 8 MiB went out in the same period: 2 x what came in
    ratio = second.vm_host_swap_out_bytes_per_s / second.vm_host_swap_in_bytes_per_s
    assert ratio == pytest.approx(2.0)


def test_an_idle_second_has_no_latency() -> None:
    from juggler.backends.console import parse_reports, summarize_reports

    idle = parse_reports(
        "JUGGLER t=1 phase=0 ws_mib=0 accesses=0 p50_us=0.00 p99_us=0.00 max_us=0.00\n"
    )
    assert summarize_reports(idle) == {"workload_accesses_per_s": 0.0}

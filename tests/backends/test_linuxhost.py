"""The host /proc reader, on canned files (tests/backends/data/proc)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from juggler.backends.linuxhost import PAGE_BYTES, HostReader, process_memory
from juggler.errors import BackendError

KIB = 1024
PROC = Path(__file__).parent / "data" / "proc"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A writable copy of the canned /proc."""
    return Path(shutil.copytree(PROC, tmp_path / "proc"))


def test_host_sample_is_in_bytes() -> None:
    host = HostReader(PROC).sample(now_s=10.0)
    assert host.host_memory_bytes == 8048576 * KIB
    assert host.host_available_bytes == 2097152 * KIB
    assert host.host_swap_used_bytes == (4194304 - 3145728) * KIB
    assert host.host_psi_some_avg10 == 1.5
    assert host.host_psi_full_avg10 == 0.25
    assert host.host_swap_in_bytes_per_s is None  # no previous sample yet
    # MOM's mem_free: MemFree + Buffers + Cached
    assert host.host_free_cached_bytes == (1000000 + 10000 + 900000) * KIB


def test_without_memfree_moms_free_memory_is_unknown(proc: Path) -> None:
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 500 kB\n")
    host = HostReader(proc).sample(now_s=0.0)
    assert host.host_available_bytes == 500 * KIB and host.host_free_cached_bytes is None


def test_swap_rates_are_deltas_over_time(proc: Path) -> None:
    reader = HostReader(proc)
    reader.sample(now_s=10.0)
    (proc / "vmstat").write_text("pswpin 1100\npswpout 2400\n")
    host = reader.sample(now_s=12.0)
    assert host.host_swap_in_bytes_per_s == 100 * PAGE_BYTES / 2
    assert host.host_swap_out_bytes_per_s == 400 * PAGE_BYTES / 2


def test_without_psi_the_pressure_is_unknown(proc: Path) -> None:
    shutil.rmtree(proc / "pressure")
    host = HostReader(proc).sample(now_s=0.0)
    assert host.host_psi_some_avg10 is None and host.host_psi_full_avg10 is None


def test_unreadable_meminfo_is_a_backend_error(proc: Path) -> None:
    (proc / "meminfo").unlink()
    with pytest.raises(BackendError, match=r"^cannot read host memory: "):
        HostReader(proc).sample(now_s=0.0)


def test_process_memory_reads_rss_and_swap() -> None:
    assert process_memory(PROC, 4242) == (262144 * KIB, 16384 * KIB)


def test_a_vanished_process_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match=r"^cannot read memory of process 999999: "):
        process_memory(PROC, 999999)


def test_counters_turn_readings_into_changes_per_second() -> None:
    from juggler.backends.linuxhost import Counters

    counters = Counters()
    assert counters.changes({"a": 100, "b": None}, 10.0) is None  # one reading: no rate
    assert counters.changes({"a": 160, "b": 5}, 12.0) == {"a": 30.0, "b": None}
    assert counters.changes({"a": 150, "b": 9}, 14.0) == {"a": -5.0, "b": 2.0}
    assert counters.changes({"a": 150, "b": 9}, 14.0) is None  # no time passed

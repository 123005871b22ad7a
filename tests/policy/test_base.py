"""The helpers every policy shares."""

from __future__ import annotations

from juggler.observation import VmSample
from juggler.policy.base import guest_used_bytes
from juggler.units import MIB


def test_used_memory_counts_what_a_real_guest_reserved_outside_memtotal() -> None:
    # a 256 MiB Linux guest with a 56 MiB balloon reports MemTotal 161 MiB: 39 MiB
    # went to the kernel at boot, and the balloon cannot take it either
    vm = VmSample(
        "web",
        configured_bytes=256 * MIB,
        balloon_actual_bytes=56 * MIB,
        guest_total_bytes=161 * MIB,
        guest_available_bytes=70 * MIB,
    )
    assert guest_used_bytes(vm) == (161 - 70 + 39) * MIB


def test_in_the_simulator_total_is_the_whole_guest_and_nothing_is_added() -> None:
    vm = VmSample(
        "web",
        configured_bytes=256 * MIB,
        balloon_actual_bytes=56 * MIB,
        guest_total_bytes=200 * MIB,
        guest_available_bytes=70 * MIB,
    )
    assert guest_used_bytes(vm) == 130 * MIB


def test_unknown_statistics_give_unknown_use() -> None:
    assert guest_used_bytes(VmSample("web", configured_bytes=256 * MIB)) is None

"""Finding suffering windows in hand-made run files."""

from __future__ import annotations

from juggler.diagnose.data import load_run
from juggler.diagnose.windows import find_windows
from juggler.metrics.store import RunStore
from juggler.units import MIB
from tests.diagnose.runs import vm_quiet, write_run


def _windows(path, name="v", **kw):
    with RunStore.open(path) as store:
        run = load_run(store)
    return find_windows(run.vms[name], run.page_size, **kw)


def test_two_bursts_of_guest_swap_in_are_two_windows_and_a_blip_is_none(tmp_path):
    def v(t):
        rate = 5 * MIB if 10 <= t < 20 or 45 <= t < 55 else 0.0
        if t == 32:
            rate = 2 * MIB  # one second, 2 MiB: below the noise floor
        return vm_quiet("v", guest_swap_in_bytes_per_s=rate)

    windows = _windows(write_run(tmp_path / "r.sqlite", 60, {"v": v}))
    assert [(w.start_s, w.end_s) for w in windows] == [(9.0, 19.0), (44.0, 54.0)]
    assert windows[0].guest_bytes == 50 * MIB and windows[0].host_bytes == 0
    assert windows[0].host_fraction == 0.0


def test_close_bursts_are_joined_and_host_swap_in_counts(tmp_path):
    def v(t):
        return vm_quiet(
            "v",
            vm_host_swap_in_bytes_per_s=4 * MIB
            if t in range(10, 16) or t in range(22, 28)
            else 0.0,
        )

    (window,) = _windows(write_run(tmp_path / "r.sqlite", 40, {"v": v}))
    assert (window.start_s, window.end_s) == (9.0, 27.0)
    assert window.host_fraction == 1.0 and window.host_bytes == 48 * MIB


def test_swap_out_alone_and_a_quiet_vm_are_not_suffering(tmp_path):
    def v(t):
        return vm_quiet(
            "v", guest_swap_out_bytes_per_s=20 * MIB, vm_host_swap_out_bytes_per_s=20 * MIB
        )

    assert _windows(write_run(tmp_path / "r.sqlite", 30, {"v": v})) == []


def test_major_faults_count_as_read_back(tmp_path):
    def v(t):
        return vm_quiet("v", guest_major_faults_per_s=1000.0 if 5 <= t < 15 else 0.0)

    (window,) = _windows(write_run(tmp_path / "r.sqlite", 30, {"v": v}))
    assert window.guest_bytes == 10 * 1000 * 4096


def test_windows_are_clipped_to_from_and_to(tmp_path):
    def v(t):
        return vm_quiet("v", guest_swap_in_bytes_per_s=5 * MIB if 10 <= t < 50 else 0.0)

    path = write_run(tmp_path / "r.sqlite", 60, {"v": v})
    (window,) = _windows(path, start_s=20.0, end_s=30.0)
    assert (window.start_s, window.end_s) == (20.0, 30.0)
    assert _windows(path, start_s=52.0) == []

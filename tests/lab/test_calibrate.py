"""``juggler lab calibrate --quick`` on real QEMU guests: the figures it measures are
physically sensible, the profile it writes loads, and nothing is left behind.

The bounds are what any machine must satisfy (a rate is positive, a cost is not
negative, boot-reserved memory is part of the guest), not this machine's figures:
those are in ``src/juggler/profiles/tcg.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_helpers import lab
from typer.testing import CliRunner

from juggler.cli.lab import lab_app
from juggler.lab.cgroup import PREFIX, detect_parent
from juggler.lab.hostswap import active_swaps
from juggler.lab.image import GuestImage
from juggler.profile import load_profile
from juggler.units import MIB


def test_calibrate_refuses_an_output_that_is_not_toml(tmp_path: Path) -> None:
    result = CliRunner().invoke(lab_app, ["calibrate", "-o", str(tmp_path / "p.txt")])
    assert result.exit_code == 2
    assert "must end in .toml" in result.output


@lab
def test_a_quick_calibration_measures_sensible_figures_and_writes_a_loadable_profile(
    guest_image: GuestImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("calibrate needs root (a memory cgroup and a host swap file)")
    monkeypatch.setenv("JUGGLER_LAB_ACCEL", "tcg")
    path = tmp_path / "measured.toml"
    result = CliRunner().invoke(lab_app, ["calibrate", "--quick", "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert f"profile written to {path}" in " ".join(result.output.split())
    for step in ("from free memory", "from page cache", "through guest swap", "host swapped"):
        assert step in result.output

    profile = load_profile(str(path))
    balloon, host = profile.balloon, profile.host
    # rates: positive and below what memory copies reach (100 GiB/s)
    for rate in (balloon.inflate_rate, balloon.deflate_rate, host.swap_out_rate, host.swap_in_rate):
        assert rate is not None and 0 < rate < 100 * 1024 * MIB
    # a cost measured below zero is written as 0 and its source says so. Inflating
    # from free memory and through guest swap never is (the guest's driver and its
    # reclaim do work); deflating, re-touching and inflating from page cache are
    # differences (the cache step is charged net of its free part at the free
    # figure, and costs about the same), which one repeat can put below zero: the
    # cache cost was, once in a clean-clone run (docs/lab.md, "Calibration")
    below = {k for k, v in profile.sources.items() if "below 0" in v}
    assert not below & {f"balloon.inflate_cpu_{p}" for p in ("free", "anon")}, below
    differences = {"balloon.deflate_cpu", "balloon.retouch_s", "balloon.inflate_cpu_cache"}
    assert below <= differences, below
    for name in below:
        assert getattr(balloon, name.removeprefix("balloon.")) == 0
    assert balloon.inflate_cpu_free > 0  # the guest's balloon driver runs on its vCPU
    assert balloon.inflate_cpu_anon >= balloon.inflate_cpu_free  # writing to swap costs more
    assert balloon.deflate_cpu >= 0 and balloon.retouch_s >= 0
    # boot-reserved memory is part of the guest, at both sizes the lab boots
    for size in (256 * MIB, 512 * MIB):
        assert 0 < profile.boot_reserved_bytes(size) < size / 2
    # booting touches some of each guest's RAM, never more than the guest has
    for size in (256 * MIB, 512 * MIB):
        assert 0 < profile.boot_touched_bytes(size) <= size
    assert 0 < host.qemu_overhead < 1024 * MIB
    assert host.cold_share is not None and 0 <= host.cold_share <= 1
    assert host.keeps_free is False  # the lab's host is a memory cgroup
    assert set(profile.sources) >= {"balloon.inflate_rate", "host.reclaim", "guest.boot_touched"}

    # torn down: no cgroup, swap file or directory of this process
    pid = str(os.getpid())
    left = [p for p in detect_parent().glob(f"{PREFIX}lab-cal*-{pid}")]
    left += [s for s in active_swaps() if f"{PREFIX}lab-{pid}" in str(s)]
    assert not left, left

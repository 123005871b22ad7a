"""``lab.json`` and what the lab hands ``juggler run`` (``host.json``); no VM is booted."""

from __future__ import annotations

from pathlib import Path

from juggler.backends.qemu import QemuVm
from juggler.hosts.description import HOST_FILE, read_description
from juggler.lab.state import LabState, VmState
from juggler.manage import discover, run_meta
from juggler.units import MIB


def _lab(directory: Path) -> LabState:
    vm = VmState(
        "A",
        str(directory / "A" / "qmp.sock"),
        str(directory / "A" / "serial.log"),
        str(directory / "A" / "qemu.log"),
        4242,
        256 * MIB,
        64 * MIB,
        200 * MIB,
        500,
        "0:32:uniform:100",
        100 * MIB,
    )
    return LabState(
        "seed-lab",
        "up",
        1,
        str(directory),
        "/tmp/juggler-up-seed",
        "/sys/fs/cgroup/juggler-up-seed",
        2,
        400 * MIB,
        256 * MIB,
        scenario="seed",
        scale=0.25,
        policy="static",
        interval_s=3.0,
        max_step_bytes=8 * MIB,
        dead_band_bytes=MIB,
        vms=(vm,),
    )


def test_a_lab_hands_juggler_run_its_vms_cgroup_settings_and_meta(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    lab.host_description().write(tmp_path / HOST_FILE)
    described = read_description(tmp_path / HOST_FILE)
    assert (described.name, described.cgroup, described.policy) == (
        "seed",
        lab.cgroup,
        "static",
    )
    assert (described.interval_s, described.max_step_bytes, described.dead_band_bytes) == (
        3.0,
        8 * MIB,
        MIB,
    )
    (vm,) = discover(tmp_path).vms
    state = lab.vms[0]
    assert vm == QemuVm(
        "A",
        Path(state.qmp_socket),
        pid=4242,
        reservation_bytes=state.reservation_bytes,
        limit_bytes=state.limit_bytes,
        shares=state.shares,
        console_path=tmp_path / "A" / "serial.log",
    )
    meta = run_meta(discover(tmp_path), "static", 3.0)
    assert meta["scenario"] == "seed" and meta["lab_name"] == "seed-lab"
    assert meta["lab_cgroup"] == lab.cgroup and meta["lab_cgroup_version"] == 2
    assert meta["lab_host_bytes"] == 256 * MIB and meta["lab_qemu_pids"] == {"A": 4242}
    assert meta["lab_overhead_bytes"] == {"A": 100 * MIB}
    assert meta["lab_phases"] == {"A": "0:32:uniform:100"}
    assert meta["lab_consoles"] == {"A": str(tmp_path / "A" / "serial.log")}

"""``juggler run``: finding the VMs to manage, and the command's user errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app
from juggler.errors import ConnectError, LabError
from juggler.lab.state import STATE_FILE, LabState, VmState, read_state
from juggler.manage import discover, find_sockets, run_meta
from juggler.units import MIB


def _socket(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return path


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
        "seed",
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


def test_sockets_are_named_after_their_directory_or_their_stem(tmp_path: Path) -> None:
    _socket(tmp_path / "web" / "qmp.sock")
    _socket(tmp_path / "db.sock")
    _socket(tmp_path / "deep" / "er" / "cache.sock")
    (tmp_path / "notes.sock").write_text("a file, not a socket")
    _socket(tmp_path / "monitor.socket")
    assert find_sockets(tmp_path) == {
        "db": tmp_path / "db.sock",
        "cache": tmp_path / "deep" / "er" / "cache.sock",
        "web": tmp_path / "web" / "qmp.sock",
    }


def test_two_sockets_naming_one_vm_are_refused(tmp_path: Path) -> None:
    _socket(tmp_path / "web" / "qmp.sock")
    _socket(tmp_path / "web.sock")
    with pytest.raises(ConnectError, match=r"two QMP sockets under .* name VM 'web'"):
        find_sockets(tmp_path)


def test_a_labs_state_file_gives_the_vms_the_cgroup_and_the_meta(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    lab.write(tmp_path / STATE_FILE)
    _socket(tmp_path / "stray.sock")  # ignored: lab.json says which VMs there are
    target = discover(tmp_path)
    assert target.lab == lab == read_state(tmp_path / STATE_FILE)
    (vm,) = target.vms
    assert (vm.name, vm.qmp_path, vm.pid) == ("A", tmp_path / "A" / "qmp.sock", 4242)
    assert (vm.reservation_bytes, vm.limit_bytes, vm.shares) == (64 * MIB, 200 * MIB, 500)
    assert vm.console_path == tmp_path / "A" / "serial.log"
    meta = run_meta(target, "static", 3.0)
    assert meta["backend"] == "qemu" and meta["scenario"] == "seed"
    assert meta["lab_cgroup"] == "/sys/fs/cgroup/juggler-up-seed"
    assert meta["lab_host_bytes"] == 256 * MIB and meta["lab_qemu_pids"] == {"A": 4242}


def test_a_broken_state_file_is_a_lab_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text('{"name": "x", "vms": [{"nme": 1}]}')
    with pytest.raises(LabError, match="not a juggler lab state file"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "libvirt"], "--backend libvirt is not implemented yet"),
        (["--backend", "xen"], "--backend 'xen': must be qemu"),
        ([], "--socket-dir is needed"),
        (["--socket-dir", "{tmp}/nowhere"], "no such directory"),
        (["--socket-dir", "{tmp}"], "no QMP socket (*.sock) under"),
        (["--socket-dir", "{tmp}", "--interval", "soon"], "--interval: "),
        (["--socket-dir", "{tmp}", "--interval", "0s"], "must be more than 0"),
        (["--socket-dir", "{tmp}", "--duration", "-1s"], "--duration"),
        (["--socket-dir", "{tmp}", "--host-memory", "lots"], "--host-memory: "),
    ],
)
def test_user_errors_are_one_line_and_status_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output

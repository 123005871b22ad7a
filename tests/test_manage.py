"""``juggler run``: finding the VMs to manage, and the command's user errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.backends.qemu import QemuVm
from juggler.cli import app
from juggler.errors import ConnectError, HostError, PolicyError
from juggler.hosts.description import HOST_FILE, DescribedVm, HostDescription, read_description
from juggler.manage import Target, discover, find_sockets, manage, run_meta
from juggler.units import MIB


def _socket(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return path


def _description(directory: Path) -> HostDescription:
    vm = DescribedVm(
        "A",
        str(directory / "A" / "qmp.sock"),
        reservation_bytes=64 * MIB,
        limit_bytes=200 * MIB,
        shares=500,
        pid=4242,
        console=str(directory / "A" / "serial.log"),
    )
    return HostDescription(
        "seed",
        (vm,),
        cgroup="/sys/fs/cgroup/juggler-up-seed",
        policy="static",
        interval_s=3.0,
        max_step_bytes=8 * MIB,
        dead_band_bytes=MIB,
        meta={"lab_cgroup": "/sys/fs/cgroup/juggler-up-seed", "lab_qemu_pids": {"A": 4242}},
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


def test_a_host_description_gives_the_vms_the_cgroup_and_the_meta(tmp_path: Path) -> None:
    described = _description(tmp_path)
    described.write(tmp_path / HOST_FILE)
    _socket(tmp_path / "stray.sock")  # ignored: host.json says which VMs there are
    target = discover(tmp_path)
    assert target.description == described == read_description(tmp_path / HOST_FILE)
    assert target.source == HOST_FILE
    (vm,) = target.vms
    assert (vm.name, vm.qmp_path, vm.pid) == ("A", tmp_path / "A" / "qmp.sock", 4242)
    assert (vm.reservation_bytes, vm.limit_bytes, vm.shares) == (64 * MIB, 200 * MIB, 500)
    assert vm.console_path == tmp_path / "A" / "serial.log"
    meta = run_meta(target, "static", 3.0)
    assert meta["backend"] == "qemu" and meta["scenario"] == "seed"
    assert meta["lab_cgroup"] == "/sys/fs/cgroup/juggler-up-seed"
    assert meta["lab_qemu_pids"] == {"A": 4242}


def test_sockets_alone_name_the_run_after_the_directory(tmp_path: Path) -> None:
    _socket(tmp_path / "web.sock")
    target = discover(tmp_path)
    assert target.description is None and target.source == "sockets"
    meta = run_meta(target, "juggler", 5.0)
    assert meta["scenario"] == tmp_path.name
    assert not [key for key in meta if key.startswith("lab_")]


def test_a_broken_host_description_is_a_host_error(tmp_path: Path) -> None:
    (tmp_path / HOST_FILE).write_text('{"name": "x", "vms": [{"nme": 1}]}')
    with pytest.raises(HostError, match=r"vms\[0\]"):
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
        (
            ["--socket-dir", "{tmp}/nowhere", "--policy", "oracle"],
            "policy 'oracle' decides on the simulator's truth, which the qemu backend",
        ),
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


def test_manage_refuses_a_policy_that_needs_the_truth_before_connecting(tmp_path: Path) -> None:
    # the socket does not exist: connecting would fail with a ConnectError instead
    target = Target(tmp_path, (QemuVm("x", tmp_path / "x.sock"),))
    with pytest.raises(PolicyError, match=r"policy 'oracle' .* qemu backend does not have"):
        manage(target, tmp_path / "run.sqlite", policy="oracle", duration_s=1.0)
    assert not (tmp_path / "run.sqlite").exists()

"""``host.json``: what ``juggler run`` reads about the VMs and their host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from juggler.errors import HostError
from juggler.hosts.description import HOST_FILE, DescribedVm, HostDescription, read_description
from juggler.units import MIB


def test_a_description_reads_back_as_written(tmp_path: Path) -> None:
    described = HostDescription(
        "seed",
        (DescribedVm("web", "/run/vms/web.sock", reservation_bytes=64 * MIB, pid=7),),
        cgroup="/sys/fs/cgroup/vms",
        interval_s=2.0,
        meta={"lab_scale": 0.25},
    )
    described.write(tmp_path / HOST_FILE)
    assert read_description(tmp_path / HOST_FILE) == described
    assert not list(tmp_path.glob(".*")), "the temporary file is left behind"


def test_a_hand_written_description_needs_only_names_and_sockets(tmp_path: Path) -> None:
    path = tmp_path / HOST_FILE
    path.write_text(
        json.dumps({"name": "rack1", "vms": [{"name": "db", "qmp_socket": "/x.sock"}], "new": 1})
    )
    described = read_description(path)
    (vm,) = described.qemu_vms()
    assert (vm.name, vm.qmp_path, vm.pid, vm.console_path) == ("db", Path("/x.sock"), None, None)
    assert (vm.reservation_bytes, vm.limit_bytes, vm.shares) == (0, None, 1000)
    assert described.cgroup is None and described.policy is None and described.meta == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a juggler host description"),
        ("[]", "not a JSON object"),
        ('{"name": "x", "version": 2}', r"version\(=2\) must be 1"),
        ('{"name": "x", "vms": {}}', "vms must be a list"),
        ('{"name": "x", "vms": [{"name": "a"}]}', r"vms\[0\].*qmp_socket"),
        ('{"name": "x", "vms": [3]}', r"vms\[0\]: must be an object"),
        ('{"vms": []}', "name"),
        ('{"name": "x", "meta": []}', "meta must be an object"),
    ],
)
def test_a_bad_description_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / HOST_FILE
    path.write_text(text)
    with pytest.raises(HostError, match=message):
        read_description(path)


def test_a_missing_description_is_a_host_error(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="no such host description"):
        read_description(tmp_path / HOST_FILE)

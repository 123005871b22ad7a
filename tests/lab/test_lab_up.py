"""``juggler lab up`` / ``juggler run`` / ``juggler lab down`` with real guests.

``lab up`` runs as a separate process in the end-to-end test, so the VMs
surviving the command's exit is really tested; the other tests call it in
process (their QEMUs are then this process's children, which ``alive`` does not
count once they are zombies). Each test uses a lab name of its own and takes
down only that lab, never ``--all``: a lab someone else left up stays up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import alive, lab
from tests.runfile import run_sql
from typer.testing import CliRunner

import juggler
from juggler.cli import app
from juggler.lab import vm as lab_vm
from juggler.lab.cgroup import PREFIX
from juggler.lab.hostswap import active_swaps
from juggler.lab.state import STATE_FILE, read_state
from juggler.lab.up import UP_PREFIX, data_path, entry_path, teardown
from juggler.metrics.store import RunStore

TINY = Path(__file__).parent / "data" / "tiny.toml"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, /run, swap)")


def _juggler(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the juggler command as its own process, with this checkout's source."""
    env = dict(os.environ, PYTHONPATH=str(Path(juggler.__file__).parents[1]))
    accel = os.environ.get("JUGGLER_LAB_ACCEL") or lab_vm._accelerator
    if accel:  # what this process already found out: the child need not probe KVM again
        env["JUGGLER_LAB_ACCEL"] = accel
    return subprocess.run(
        [sys.executable, "-m", "juggler.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def lab_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A lab name for this test only; whatever the test left of it is removed."""
    name = f"t{os.getpid()}-{request.node.name[5:20].replace('_', '-')}"
    yield name
    teardown(name)


def _assert_gone(state_pids: list[int], cgroup: Path, swap: Path | None, *dirs: Path) -> None:
    for pid in state_pids:
        assert not alive(pid), f"QEMU {pid} left running"
    assert not cgroup.exists(), f"cgroup {cgroup} left behind"
    if swap is not None:
        assert swap not in active_swaps(), f"swap file {swap} still on"
        assert not swap.exists()
    for path in dirs:
        assert not path.exists() and not path.is_symlink(), f"{path} left behind"


@lab
@needs_root
def test_lab_up_leaves_vms_running_juggler_run_manages_them_and_lab_down_removes_all(
    tmp_path: Path, lab_name: str
) -> None:
    up = _juggler("lab", "up", str(TINY), "--name", lab_name, "--host-swap")
    assert up.returncode == 0, up.stdout + up.stderr
    directory = entry_path(lab_name)
    state = read_state(directory / STATE_FILE)
    assert f"--socket-dir {directory}" in up.stdout and f"lab down {lab_name}" in up.stdout
    assert state.status == "up" and [vm.name for vm in state.vms] == ["A", "B"]
    cgroup = Path(state.cgroup)
    assert cgroup.name == f"{PREFIX}{UP_PREFIX}{lab_name}"
    swap = Path(state.host_swap_file or "")
    assert swap in active_swaps() and swap.parent == data_path(lab_name)
    pids = [vm.pid for vm in state.vms]
    for vm in state.vms:  # outlived the command that booted them
        assert alive(vm.pid), f"{vm.name}: QEMU {vm.pid} died with `lab up`"
        assert Path(vm.qmp_socket) == directory / vm.name / "qmp.sock"
        assert Path(vm.qmp_socket).is_socket() and Path(vm.console).exists()
    in_cgroup = (cgroup / "cgroup.procs").read_text().split()
    assert sorted(map(str, pids)) == sorted(in_cgroup)

    out = tmp_path / "managed.sqlite"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--backend",
            "qemu",
            "--socket-dir",
            str(directory),
            "--duration",
            "20s",
            "--interval",
            "2s",
            "--out",
            str(out),
            "--json",
            "--metrics-addr",
            "off",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["backend"] == "qemu" and summary["scenario"] == "tiny"
    assert [vm["name"] for vm in summary["vms"]] == ["A", "B"]
    with RunStore.open(out) as store:
        meta = store.meta()
        per_vm = dict(run_sql(store, "SELECT vm, COUNT(*) FROM vm_samples GROUP BY vm"))
        limits = run_sql(store, "SELECT DISTINCT host_memory_bytes FROM host_samples")
        reservations = dict(run_sql(store, "SELECT name, reservation_bytes FROM vms"))
    assert per_vm["A"] >= 5 and per_vm["B"] >= 5  # every 2 s for 20 s
    assert limits == [(state.cgroup_limit_bytes,)]  # the cgroup is the host
    assert meta["lab_cgroup"] == state.cgroup and meta["ended"] == "duration"
    assert reservations == {vm.name: vm.reservation_bytes for vm in state.vms}
    assert all(alive(pid) for pid in pids), "`juggler run` must leave the VMs running"

    again = CliRunner().invoke(app, ["lab", "up", str(TINY), "--name", lab_name])
    assert again.exit_code == 2
    assert f"juggler lab down {lab_name}" in again.output
    assert all(alive(pid) for pid in pids)

    down = _juggler("lab", "down", lab_name)
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"lab {lab_name} is down" in down.stdout
    _assert_gone(pids, cgroup, swap, directory, data_path(lab_name))
    nothing = CliRunner().invoke(app, ["lab", "down", lab_name])
    assert nothing.exit_code == 0 and f"no lab {lab_name} is up" in nothing.output


@lab
@needs_root
def test_a_stale_up_lab_is_replaced_by_the_next_up_and_removed_by_the_next_down(
    lab_name: str,
) -> None:
    runner = CliRunner()
    pids: list[int] = []
    for _ in range(2):  # the second `up` finds the first one's QEMUs killed: stale, replaced
        up = runner.invoke(app, ["lab", "up", str(TINY), "--name", lab_name, "--host-swap"])
        assert up.exit_code == 0, up.output
        state = read_state(entry_path(lab_name) / STATE_FILE)
        assert not set(pids) & {vm.pid for vm in state.vms}
        pids = [vm.pid for vm in state.vms]
        assert all(alive(pid) for pid in pids)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)  # our children here; `lab up`'s process would be gone
    swap = Path(state.host_swap_file or "")
    assert Path(state.cgroup).exists() and swap in active_swaps()
    # a `down` naming another lab still removes this stale one
    other = runner.invoke(app, ["lab", "down", f"{lab_name}-other"])
    assert other.exit_code == 0, other.output
    assert f"no lab {lab_name}-other is up" in other.output
    _assert_gone(pids, Path(state.cgroup), swap, entry_path(lab_name), data_path(lab_name))


@lab
@needs_root
def test_lab_down_of_nothing_says_so() -> None:
    result = CliRunner().invoke(app, ["lab", "down", "no-such-lab"])
    assert result.exit_code == 0, result.output
    assert "no lab no-such-lab is up" in result.output
    both = CliRunner().invoke(app, ["lab", "down", "x", "--all"])
    assert both.exit_code == 2 and "one of NAME, --dir and --all" in both.output

"""``juggler lab run`` end to end: two real guests in a memory cgroup, managed by a policy."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from lab_helpers import alive, lab, wait_for
from tests.runfile import run_sql
from typer.testing import CliRunner

from juggler.cli.lab import lab_app
from juggler.errors import StoreError
from juggler.lab.cgroup import PREFIX, MemoryCgroup, detect_parent
from juggler.lab.run import (
    RUN_PREFIX,
    _fresh_run_dir,
    plan,
    qemu_overhead_bytes,
    remove_stale_cgroups,
    run_lab,
    workload_phases,
)
from juggler.metrics.store import RunStore
from juggler.scenario import load_scenario
from juggler.summary import summarize
from juggler.units import MIB

TINY = Path(__file__).parent / "data" / "tiny.toml"


def test_a_scenario_is_scaled_for_the_lab() -> None:
    scenario = load_scenario(TINY)
    lab_plan = plan(scenario, 0.25)
    assert lab_plan.host_bytes == 256 * MIB
    a, b = lab_plan.specs
    assert (a.memory_bytes, a.swap_bytes) == (256 * MIB, 128 * MIB)
    assert a.phases == "0:0:idle:200000"
    assert (
        b.phases
        == workload_phases(scenario, scenario.vm[1], 0.25)
        == ("20:32:uniform:20000,0:96:uniform:5000")
    )


def test_overhead_is_what_is_resident_outside_guest_ram(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "smaps").write_text(
        "7f00-7f10 rw-p 00000000 00:00 0\nSize:             262144 kB\nRss:  120000 kB\n"
        "5500-5510 r-xp 00000000 08:01 1 /usr/bin/qemu\nSize:  20000 kB\nRss:  15000 kB\n"
        "7e00-7e10 rw-p 00000000 00:00 0\nSize:  1048576 kB\nRss:  90000 kB\n"
    )
    assert qemu_overhead_bytes(7, 256 * MIB, proc_root=tmp_path) == (15000 + 90000) * 1024


@lab
def test_lab_run_manages_two_vms_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    result = CliRunner().invoke(
        lab_app,
        ["run", str(TINY), "--scale", "0.25", "--duration", "40s", "--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["backend"] == "qemu"
    assert [vm["name"] for vm in summary["vms"]] == ["A", "B"]
    assert summary["vms"][0]["slowdown"] is None  # a real run cannot measure it
    with RunStore.open(out) as store:
        meta = store.meta()
        per_vm = dict(run_sql(store, "SELECT vm, COUNT(*) FROM vm_samples GROUP BY vm"))
        decisions = run_sql(store, "SELECT vm, balloon_target_bytes, reason FROM decisions")
        limits = run_sql(store, "SELECT DISTINCT host_memory_bytes FROM host_samples")
    assert per_vm["A"] >= 15 and per_vm["B"] >= 15  # every 2 s for 40 s
    assert limits == [(int(meta["lab_cgroup_limit_bytes"]),)]
    assert decisions, "the policy never ballooned"
    assert all(reason for _, _, reason in decisions)
    # nothing left behind
    for pid in json.loads(meta["lab_qemu_pids"]).values():
        assert not alive(pid), f"QEMU {pid} left running"
    for socket in json.loads(meta["lab_qmp_sockets"]).values():
        assert not Path(socket).exists() and not Path(socket).parent.parent.exists()
    assert not Path(meta["lab_cgroup"]).exists(), "cgroup left behind"
    assert os.environ.get("JUGGLER_LAB_ACCEL") != "tcg" or meta["lab_accel"] == "tcg"


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")
def test_a_killed_runs_cgroup_processes_and_directory_are_removed() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = detect_parent() / f"{PREFIX}{RUN_PREFIX}{dead.pid}"
    stale.mkdir()
    orphan = subprocess.Popen(["sleep", "60"])  # plays a QEMU the killed run left
    (stale / "cgroup.procs").write_text(str(orphan.pid))
    stale_dir = Path(tempfile.gettempdir()) / stale.name
    (stale_dir / "A").mkdir(parents=True)
    with MemoryCgroup(f"{RUN_PREFIX}{os.getpid()}", 64 * MIB) as group:
        remove_stale_cgroups()
        assert not stale.exists()
        assert group.path.exists()  # this run's own cgroup: its process lives
        run_dir = _fresh_run_dir()
        assert not stale_dir.exists()
        run_dir.rmdir()
    orphan.wait(timeout=5)
    assert not group.path.exists()


@lab
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")
def test_killing_one_qemu_mid_run_leaves_the_others_managed_and_the_run_file_whole(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run.sqlite"
    scenario = load_scenario(TINY).with_overrides(duration_s=45.0)
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["summary"] = run_lab(scenario, out, scale=0.25)
        except BaseException as error:  # reported by the assertion below
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()

    def a_pid() -> int | None:
        if not out.exists():
            return None
        try:
            with RunStore.open(out) as store:
                pids = store.meta().get("lab_qemu_pids")
                samples = run_sql(store, "SELECT COUNT(*) FROM vm_samples WHERE vm = 'A'")[0][0]
        except (StoreError, sqlite3.Error):
            return None
        return json.loads(pids)["A"] if pids and samples >= 3 else None

    pid = wait_for(a_pid, 180, "the run to sample A three times")
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not end"
    assert "error" not in result, result.get("error")
    with RunStore.open(out) as store:
        killed_at = run_sql(
            store, "SELECT MIN(time_s) FROM events WHERE vm = 'A' AND kind = 'vm_missing'"
        )[0][0]
        after = run_sql(
            store,
            "SELECT COUNT(*) FROM vm_samples WHERE vm = 'B' AND time_s > ?",
            (killed_at or 1e9,),
        )[0][0]
        last_a = run_sql(store, "SELECT MAX(time_s) FROM vm_samples WHERE vm = 'A'")[0][0]
        end = run_sql(store, "SELECT MAX(time_s) FROM host_samples")[0][0]
        summary = summarize(store)
        lost = json.loads(store.meta()["lab_guests_lost"])
    assert killed_at is not None, "A's death was not recorded"
    assert list(lost) == ["A"] and "killed by signal 9" in lost["A"], lost
    assert last_a < killed_at
    assert after >= 5, "B was not observed after A died"
    assert end >= 40  # the run went on to its end
    assert [vm.name for vm in summary.vms] == ["A", "B"]
    assert not alive(pid)

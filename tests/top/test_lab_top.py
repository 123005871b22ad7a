"""``juggler top`` on a real lab run: two QEMU guests, followed from before the file exists."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from juggler.metrics.names import HOST_STATES
from juggler.metrics.store import RunStore
from juggler.top.data import RunReader
from juggler.units import MIB
from tests.runfile import run_sql

from . import tmux as screens
from .tmux import Tmux, juggler_command, needs_tmux, rows

TINY = Path(__file__).parents[1] / "lab" / "data" / "tiny.toml"

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="qemu-system-x86_64 is not installed (run scripts/setup-lab.sh)",
)


def lab_in_tmux(test: Callable[..., None]) -> Callable[..., None]:
    """A test that boots real QEMU guests and reads top's screen in tmux."""
    return pytest.mark.lab(needs_tmux(needs_qemu(test)))


@lab_in_tmux
def test_top_follows_a_lab_run_from_before_its_file_exists(tmp_path: Path) -> None:
    out = tmp_path / "lab.sqlite"
    tmux = Tmux(juggler_command("top", str(out)), cwd=tmp_path)
    lab_output = (tmp_path / "lab.out").open("w")
    lab = None
    try:
        tmux.wait_for(
            lambda s: f"waiting for {out} to appear" in " ".join(s.split()),
            60,
            "top to wait for the run file",
        )
        lab = subprocess.Popen(
            juggler_command(
                "lab", "run", str(TINY), "--duration", "30s", "--json", "--out", str(out)
            ),
            cwd=tmp_path,
            stdout=lab_output,
            stderr=subprocess.STDOUT,
        )
        screen = tmux.wait_for(
            lambda s: "backend qemu" in s and "running" in s and rows(s, "AB") and s,
            600,
            "the lab's VMs A and B on top's screen while the lab runs",
        )
        assert "juggler top tiny · policy juggler · backend qemu" in screen
        # the Manager classifies the lab's available memory too; the workload's own columns
        assert re.search(r"state (high|soft|hard|low)", screen), screen
        assert "P99" in screen and "ACC/s" in screen and "SLOW" not in screen, screen
        assert lab.wait(timeout=600) == 0, (tmp_path / "lab.out").read_text()
        tmux.wait_for(lambda s: "finished" in s, 60, "top to see the run finish")
        tmux.keys("q")
        assert tmux.wait_exit(60) == 0
    finally:
        tmux.kill()
        if lab is not None and lab.poll() is None:
            lab.send_signal(signal.SIGINT)  # the lab tears its VMs down on Ctrl-C
            lab.wait(timeout=120)
        lab_output.close()

    with RunReader(out) as reader:
        snapshot = reader.poll()
    assert snapshot is not None
    with RunStore.open(out) as store:
        meta = store.meta()
        decided = dict(
            run_sql(
                store,
                "SELECT vm, reason FROM decisions WHERE rowid IN "
                "(SELECT MAX(rowid) FROM decisions GROUP BY vm)",
            )
        )
    header = snapshot.header
    assert (header.backend, header.finished) == ("qemu", True)
    assert header.host_state in HOST_STATES
    limit = int(meta["lab_cgroup_limit_bytes"])
    assert header.host_memory_bytes == limit
    # over the host the scenario means (as the summary counts it), not the cgroup's limit,
    # which adds QEMU's own overhead
    assert header.overcommit_ratio == pytest.approx(2 * 256 * MIB / int(meta["lab_host_bytes"]))
    assert [row.name for row in snapshot.rows] == ["A", "B"]
    for row in snapshot.rows:
        assert row.configured_bytes == 256 * MIB
        assert row.resident_bytes is not None and row.resident_bytes > 0
        assert row.slowdown is None  # a real run cannot measure it: unknown, not 0
        assert row.workload_accesses_per_s is not None
        assert row.reason == decided.get(row.name)
    # B works (tiny.toml), so its workload times accesses; A idles and times none
    assert snapshot.rows[1].workload_latency_p99_seconds is not None
    assert snapshot.rows[0].workload_latency_p99_seconds is None
    assert json.loads(meta["lab_qemu_pids"]).keys() == {"A", "B"}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@lab_in_tmux
def test_lab_run_top_shows_the_vms_and_q_stops_the_run_and_tears_the_lab_down(
    tmp_path: Path,
) -> None:
    out = tmp_path / "lab.sqlite"
    tmux = Tmux(
        juggler_command("lab", "run", str(TINY), "--duration", "40s", "--top", "--out", str(out)),
        cwd=tmp_path,
    )
    try:
        screen = tmux.wait_for(
            lambda s: "backend qemu" in s and "running" in s and rows(s, "AB") and s,
            600,
            "the lab's VMs A and B on the screen of `lab run --top`",
        )
        assert "P99" in screen and "ACC/s" in screen, screen
        with RunStore.open(out) as store:  # the run is going: what it must tear down
            meta = store.meta()
        tmux.keys("q")
        assert tmux.wait_exit(300) == 0, tmux.screen()
        screen = tmux.screen()
    finally:
        tmux.kill()
    # the summary is printed after the screen closes, with the lab's lines held till then
    assert "tiny · policy juggler" in screen and "access p99" in screen, screen
    assert "A: 256 MiB booted under" in screen, screen
    pids = json.loads(meta["lab_qemu_pids"])
    assert pids.keys() == {"A", "B"}
    assert not [pid for pid in pids.values() if _alive(pid)], "QEMU left running"
    assert not Path(meta["lab_cgroup"]).exists(), "cgroup left behind"
    run_dir = Path(json.loads(meta["lab_qmp_sockets"])["A"]).parents[1]
    assert run_dir.name.startswith("juggler-lab-") and not run_dir.exists(), run_dir
    with RunStore.open(out) as store:
        duration = float(run_sql(store, "SELECT MAX(time_s) FROM host_samples")[0][0])
        finished = store.meta()
    assert "wall_seconds" in finished  # closed like a complete run
    assert duration < 40  # stopped before the scenario's end (run time, not wall clock)


@lab_in_tmux
def test_juggler_run_top_watches_running_vms_and_q_stops_managing_them(tmp_path: Path) -> None:
    from juggler.lab.image import build_image
    from juggler.lab.vm import LabVm, VmSpec

    sockets = tmp_path / "vms"
    web = LabVm(
        VmSpec("web", 128 * MIB, phases="0:16:uniform:20000"),
        build_image(),
        workdir=sockets / "web",
    )
    out = tmp_path / "managed.sqlite"
    tmux = None
    try:
        web.start()
        tmux = Tmux(
            juggler_command(
                "run",
                "--backend",
                "qemu",
                "--socket-dir",
                str(sockets),
                "--interval",
                "1s",
                "--host-memory",
                "1GiB",
                "--metrics-addr",
                "off",
                "--top",
                "--out",
                str(out),
            ),
            cwd=tmp_path,
        )
        screen = tmux.wait_for(
            lambda s: "backend qemu" in s and screens.row(s, "web") and s,
            300,
            "the VM web on top's screen while juggler run manages it",
        )
        assert "P99" in screen, screen
        tmux.keys("q")
        assert tmux.wait_exit(120) == 0
        with RunStore.open(out) as store:
            assert store.meta()["ended"] == "stop"  # top's quit (a signal says "signal")
            assert run_sql(store, "SELECT COUNT(*) FROM vm_samples WHERE vm = 'web'")[0][0] >= 1
        assert web.pid is not None and _alive(web.pid), "juggler run must leave its VMs running"
    finally:
        if tmux is not None:
            tmux.kill()
        web.stop()

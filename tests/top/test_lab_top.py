"""``juggler top`` on a real lab run: two QEMU guests, followed from before the file exists."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from juggler.metrics.store import RunStore
from juggler.top.data import RunReader
from juggler.units import MIB

from .tmux import Tmux, juggler_command, needs_tmux, rows

TINY = Path(__file__).parents[1] / "lab" / "data" / "tiny.toml"


@pytest.mark.lab
@needs_tmux
@pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="qemu-system-x86_64 is not installed (run scripts/setup-lab.sh)",
)
def test_top_follows_a_lab_run_from_before_its_file_exists(tmp_path: Path) -> None:
    out = tmp_path / "lab.sqlite"
    tmux = Tmux(juggler_command("top", str(out)), cwd=tmp_path)
    lab_output = (tmp_path / "lab.out").open("w")
    lab = None
    try:
        tmux.wait_for(lambda s: f"waiting for {out} to appear" in " ".join(s.split()), 60,
                      "top to wait for the run file")  # fmt: skip
        lab = subprocess.Popen(
            juggler_command("lab", "run", str(TINY), "--duration", "30s", "--json",
                            "--out", str(out)),
            cwd=tmp_path, stdout=lab_output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        screen = tmux.wait_for(
            lambda s: "backend qemu" in s and "running" in s and rows(s, "AB") and s,
            600, "the lab's VMs A and B on top's screen while the lab runs",
        )  # fmt: skip
        assert "juggler top tiny · policy juggler · backend qemu" in screen
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
        decided = dict(store.query(
            "SELECT vm, reason FROM decisions WHERE rowid IN "
            "(SELECT MAX(rowid) FROM decisions GROUP BY vm)"
        ))  # fmt: skip
    header = snapshot.header
    assert (header.backend, header.finished) == ("qemu", True)
    limit = int(meta["lab_cgroup_limit_bytes"])
    assert header.host_memory_bytes == limit
    assert header.overcommit_ratio == pytest.approx(2 * 256 * MIB / limit)
    assert [row.name for row in snapshot.rows] == ["A", "B"]
    for row in snapshot.rows:
        assert row.configured_bytes == 256 * MIB
        assert row.resident_bytes is not None and row.resident_bytes > 0
        assert row.slowdown is None  # a real run cannot measure it: unknown, not 0
        assert row.reason == decided.get(row.name)
    assert json.loads(meta["lab_qemu_pids"]).keys() == {"A", "B"}

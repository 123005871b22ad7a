"""``juggler run`` on QEMUs nobody registered: sockets found in a directory, no lab.json."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

from lab_helpers import alive, lab, wait_for
from tests.runfile import run_sql
from tests.scrape import LiveCommand, scrape

from juggler.errors import StoreError
from juggler.lab.image import GuestImage
from juggler.lab.vm import QEMU, LabVm, VmSpec
from juggler.metrics.store import RunStore
from juggler.units import GIB, MIB


def _samples(out: Path) -> dict[str, int]:
    if not out.exists():
        return {}
    try:
        with RunStore.open(out) as store:
            return dict(run_sql(store, "SELECT vm, COUNT(*) FROM vm_samples GROUP BY vm"))
    except (StoreError, sqlite3.Error):
        return {}


@lab
def test_run_manages_qemus_started_by_hand_until_sigterm_and_leaves_them_running(
    tmp_path: Path, guest_image: GuestImage
) -> None:
    vms = tmp_path / "vms"
    # web: a lab guest whose socket is vms/web/qmp.sock (named after its directory)
    web = LabVm(VmSpec("web", 128 * MIB), guest_image, workdir=vms / "web", accel="tcg")
    # db: a bare QEMU, paused (-S), with a balloon and the socket vms/db.sock
    db = subprocess.Popen(
        [
            QEMU,
            "-S",
            "-nodefaults",
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-m",
            "128M",
            "-display",
            "none",
            "-device",
            "virtio-balloon-pci",
            "-qmp",
            f"unix:{vms / 'db.sock'},server=on,wait=off",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # ghost: a socket nobody listens on (its QEMU is gone)
    with socket.socket(socket.AF_UNIX) as ghost:
        ghost.bind(str(vms / "ghost.sock"))
    runner: LiveCommand | None = None
    try:
        web.start()
        wait_for(lambda: (vms / "db.sock").is_socket(), 30, "db's QMP socket")
        out = tmp_path / "by-hand.sqlite"
        runner = LiveCommand(
            "run",
            "--backend",
            "qemu",
            "--socket-dir",
            str(vms),
            "--interval",
            "1s",
            "--host-memory",
            "1GiB",
            "--out",
            str(out),
            "--metrics-addr",
            "127.0.0.1:0",
        )
        url = runner.url(timeout_s=60)
        wait_for(
            lambda: min(_samples(out).get("web", 0), _samples(out).get("db", 0)) >= 3,
            120,
            "three samples of web and db",
        )
        # the same run, live over HTTP for Prometheus
        resident = scrape(url).by_vm("juggler_resident_bytes")
        assert set(resident) == {"web", "db"} and resident["web"] > 0  # db is paused (-S)
        runner.process.send_signal(signal.SIGTERM)
        code, stdout, stderr = runner.finish(timeout_s=60)
        assert code == 0, stdout + stderr
        assert "metrics written to" in stdout and "web" in stdout and "db" in stdout
        with RunStore.open(out) as store:
            meta = store.meta()
            hosts = run_sql(store, "SELECT DISTINCT host_memory_bytes FROM host_samples")
            missing = run_sql(store, "SELECT DISTINCT vm FROM events WHERE kind = 'vm_missing'")
            configured = dict(run_sql(store, "SELECT name, configured_bytes FROM vms"))
        assert meta["backend"] == "qemu" and meta["ended"] == "signal"
        assert "lab_cgroup" not in meta
        assert hosts == [(GIB,)]  # --host-memory caps the machine's memory
        assert missing == [("ghost",)]  # logged and skipped, the others managed
        assert configured == {"web": 128 * MIB, "db": 128 * MIB}
        assert web.pid is not None and alive(web.pid) and db.poll() is None
    finally:
        if runner is not None:
            runner.stop()
        web.stop()
        db.terminate()
        db.wait(timeout=30)
    assert not alive(db.pid)

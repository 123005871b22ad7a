"""``juggler lab run --metrics-addr``: two real guests, scraped over HTTP while they run."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lab_helpers import alive, lab
from tests.scrape import LiveCommand, Scrape, wait_for_scrape
from typer.testing import CliRunner

from juggler.cli.lab import lab_app
from juggler.metrics.store import RunStore

TINY = Path(__file__).parent / "data" / "tiny.toml"
VMS = {"A", "B"}


@lab
def test_a_lab_run_is_scraped_over_http_while_it_runs(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    run = LiveCommand(
        "lab",
        "run",
        str(TINY),
        "--scale",
        "0.25",
        "--duration",
        "24s",
        "--json",
        "--out",
        str(out),
        "--metrics-addr",
        "127.0.0.1:0",
    )
    try:
        url = run.url(timeout_s=120)  # said before any VM boots

        def both_vms(scrape: Scrape) -> bool:
            return all(
                set(scrape.by_vm(f"juggler_{metric}")) == VMS
                for metric in ("balloon_actual_bytes", "resident_bytes")
            )

        first = wait_for_scrape(url, both_vms, 180, "both guests' balloon and resident gauges")
        second = wait_for_scrape(
            url,
            lambda s: (
                (s.value("juggler_backend_time_seconds") or 0)
                >= (first.value("juggler_backend_time_seconds") or 0) + 4
            ),
            120,
            "two more manager intervals",
        )
        code, stdout, stderr = run.finish(timeout_s=180)
    finally:
        run.stop()
    assert code == 0, stderr
    for scrape in (first, second):
        assert (
            scrape.value("juggler_run_info", scenario="tiny", policy="juggler", backend="qemu") == 1
        )
        assert (scrape.value("juggler_host_memory_bytes") or 0) > 0
        for metric in (
            "balloon_actual_bytes",
            "resident_bytes",
            "configured_bytes",
            "last_observe_timestamp_seconds",
        ):
            assert set(scrape.by_vm(f"juggler_{metric}")) == VMS, metric
        assert all(value > 0 for value in scrape.by_vm("juggler_resident_bytes").values())
        assert "juggler_slowdown" not in scrape.names()  # simulator only
    assert second.value("juggler_manager_observe_seconds_count") > first.value(
        "juggler_manager_observe_seconds_count"
    )
    assert all(
        second.by_vm("juggler_last_observe_timestamp_seconds")[vm]
        > first.by_vm("juggler_last_observe_timestamp_seconds")[vm]
        for vm in VMS
    )
    summary = json.loads(stdout[stdout.index("{") :])
    assert [vm["name"] for vm in summary["vms"]] == ["A", "B"]
    # the endpoint, the VMs, their sockets and the cgroup are gone with the run
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
    with RunStore.open(out) as store:
        meta = store.meta()
    for pid in json.loads(meta["lab_qemu_pids"]).values():
        assert not alive(pid), f"QEMU {pid} left running"
    for qmp in json.loads(meta["lab_qmp_sockets"]).values():
        assert not Path(qmp).exists() and not Path(qmp).parent.parent.exists()
    assert not Path(meta["lab_cgroup"]).exists(), "cgroup left behind"


def test_a_busy_metrics_port_fails_before_any_vm_boots(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            lab_app,
            [
                "run",
                str(TINY),
                "--duration",
                "10s",
                "--out",
                str(tmp_path / "r.sqlite"),
                "--metrics-addr",
                f"127.0.0.1:{port}",
            ],
        )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"--metrics-addr '127.0.0.1:{port}': port {port} is already in use" in result.output
    assert not (tmp_path / "r.sqlite").exists()

"""``juggler simulate --serve``: a paced simulation scraped over HTTP while it runs,
and the options' errors."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app
from juggler.metrics.exporter import MetricsExporter
from juggler.metrics.names import HOST_METRICS, HOST_STATES
from juggler.metrics.store import RunStore
from juggler.scenario import builtin_scenario_text, parse_scenario
from juggler.simulate import run_simulation
from tests.scrape import LiveCommand, Scrape, wait_for_scrape

SEED_VMS = {"A", "B", "C", "D"}
#: the per-VM series a simulated run always has (the estimate needs a few samples first)
PER_VM = (
    "resident_bytes",
    "balloon_actual_bytes",
    "configured_bytes",
    "guest_free_bytes",
    "slowdown",
    "true_working_set_bytes",
)


@pytest.mark.slow
def test_a_paced_simulation_is_scraped_over_http_while_it_runs(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    run = LiveCommand(
        "simulate",
        "--serve",
        "--metrics-addr",
        "127.0.0.1:0",
        "--speed",
        "20",
        "--duration",
        "4m",
        "--quiet",
        "--out",
        str(out),
    )
    try:
        url = run.url(timeout_s=120)

        def has_every_vm(scrape: Scrape) -> bool:
            return set(scrape.by_vm("juggler_resident_bytes")) == SEED_VMS

        first = wait_for_scrape(url, has_every_vm, 120, "the seed scenario's VMs")
        second = wait_for_scrape(
            url,
            lambda s: (
                (s.value("juggler_backend_time_seconds") or 0)
                > (first.value("juggler_backend_time_seconds") or 0) + 5
            ),
            120,
            "simulated time to move on",
        )
        code, stdout, stderr = run.finish(timeout_s=300)
    finally:
        run.stop()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    for scrape in (first, second):
        names = scrape.names()
        assert {f"juggler_{m}" for m in HOST_METRICS if "psi" not in m} <= names
        for metric in PER_VM:
            assert set(scrape.by_vm(f"juggler_{metric}")) == SEED_VMS, metric
        assert set(scrape.by_vm("juggler_last_observe_timestamp_seconds")) == SEED_VMS
        states = {s: scrape.value("juggler_host_state", state=s) for s in HOST_STATES}
        assert sorted(states.values()) == [0, 0, 0, 1]
        assert (
            scrape.value("juggler_run_info", scenario="seed", policy="juggler", backend="sim") == 1
        )
        assert (scrape.value("juggler_manager_loop_seconds_count") or 0) > 0
    # the values move between the scrapes
    assert second.value("juggler_manager_observe_seconds_count") > first.value(
        "juggler_manager_observe_seconds_count"
    )
    moved = [
        (metric, vm)
        for metric in ("resident_bytes", "guest_free_bytes", "true_working_set_bytes")
        for vm in SEED_VMS
        if first.by_vm(f"juggler_{metric}")[vm] != second.by_vm(f"juggler_{metric}")[vm]
    ]
    assert moved, "no per-VM value moved between the scrapes"
    assert all(
        second.by_vm("juggler_last_observe_timestamp_seconds")[vm]
        > first.by_vm("juggler_last_observe_timestamp_seconds")[vm]
        for vm in SEED_VMS
    )
    # the run file was written as usual, and the endpoint is gone with the run
    with RunStore.open(out) as store:
        assert store.vm_names() == ["A", "B", "C", "D"]
    assert "seed" in stdout
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_run_simulation_records_to_the_run_file_and_an_extra_recorder(tmp_path: Path) -> None:
    scenario = parse_scenario(builtin_scenario_text("seed"), "<seed>").with_overrides(
        duration_s=30.0
    )
    exporter = MetricsExporter()
    summary = run_simulation(scenario, tmp_path / "run.sqlite", recorder=exporter)
    scrape = Scrape(exporter.text())
    assert set(scrape.by_vm("juggler_resident_bytes")) == SEED_VMS
    assert scrape.value("juggler_backend_time_seconds") == summary.duration_s == 30
    assert scrape.value("juggler_manager_loop_seconds_count") == 31  # 0 s, 1 s ... 30 s
    with RunStore.open(tmp_path / "run.sqlite") as store:
        assert store.count("host_samples") == 31


# ------------------------------------------------------------------ bad options

runner = CliRunner()


def _assert_user_error(result, *patterns: str) -> None:
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == 2, output
    assert output.lstrip().startswith("error: "), output
    for pattern in patterns:
        assert re.search(pattern, output), f"{pattern!r} not in:\n{output}"


def test_a_busy_metrics_port_exits_2_naming_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app,
            [
                "simulate",
                "--metrics-addr",
                f"127.0.0.1:{port}",
                "--duration",
                "10s",
                "--out",
                str(tmp_path / "r.sqlite"),
            ],
        )
    _assert_user_error(
        result, rf"--metrics-addr '127\.0\.0\.1:{port}'", f"port {port} is already in use"
    )
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "patterns"),
    [
        (
            ["--serve", "--metrics-addr", "localhost"],
            [r"--metrics-addr 'localhost'", "expected HOST:PORT"],
        ),
        (["--metrics-addr", "127.0.0.1:99999"], [r"--metrics-addr", "from 0 to 65535"]),
        (["--serve", "--speed", "0"], [r"--speed: 0 must be more than 0"]),
    ],
)
def test_bad_serve_options_exit_2(args: list[str], patterns: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", *args, "--out", str(tmp_path / "r.sqlite")])
    _assert_user_error(result, *patterns)

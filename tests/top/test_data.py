"""The data side of top: what it reads from real run files, finished and growing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from juggler.errors import StoreError
from juggler.metrics.store import RunStore
from juggler.scenario import builtin_scenario_text, load_scenario, parse_scenario
from juggler.simulate import run_simulation
from juggler.top.columns import (
    COLUMNS,
    cells,
    column,
    format_value,
    sort_rows,
    visible_columns,
)
from juggler.top.data import RunReader, VmRow, build_snapshot, check_run_path
from juggler.units import MIB
from tests.runfile import run_sql

from .runs import SQUEEZE


def _last(store: RunStore, sql: str, vm: str) -> tuple:
    rows = run_sql(store, sql, (vm,))
    assert rows, f"no rows for {vm}"
    return rows[0]


def test_a_finished_run_shows_each_vms_newest_sample(squeeze_run: Path) -> None:
    with RunReader(squeeze_run) as reader:
        snapshot = reader.poll()
    assert snapshot is not None
    rows = {row.name: row for row in snapshot.rows}
    assert list(rows) == ["A", "B"]
    with RunStore.open(squeeze_run) as store:
        for name, row in rows.items():
            (
                time_s,
                conf,
                target,
                balloon,
                resident,
                swapped,
                swap_in,
                swap_out,
                g_in,
                g_out,
                avail,
                wse,
            ) = _last(
                store,
                (
                    "SELECT time_s, configured_bytes, balloon_target_bytes, balloon_actual_bytes, "
                    "resident_bytes, host_swapped_bytes, vm_host_swap_in_bytes_per_s, "
                    "vm_host_swap_out_bytes_per_s, guest_swap_in_bytes_per_s, "
                    "guest_swap_out_bytes_per_s, guest_available_bytes, working_set_estimate_bytes "
                    "FROM vm_samples WHERE vm = ? ORDER BY time_s DESC LIMIT 1"
                ),
                name,
            )
            assert time_s == 40.0
            assert row.configured_bytes == conf == 768 * MIB
            assert row.target_bytes == (None if target is None else conf - target)
            assert row.resident_bytes == int(resident)
            assert row.balloon_bytes == (None if balloon is None else int(balloon))
            assert row.host_swapped_bytes == int(swapped) > 0
            # rates: the newest sample's, each from its own column
            assert row.host_swap_in_bytes_per_s == swap_in > 0
            assert row.host_swap_out_bytes_per_s == swap_out > 0
            assert row.guest_swap_in_bytes_per_s == g_in
            assert row.guest_swap_out_bytes_per_s == g_out
            assert row.guest_available_bytes == int(avail)
            assert row.working_set_estimate_bytes == int(wse)
            (slowdown,) = _last(
                store,
                ("SELECT slowdown FROM truth WHERE vm = ? ORDER BY time_s DESC LIMIT 1"),
                name,
            )
            assert row.slowdown == slowdown > 1
            assert row.age_s == 0


def test_the_header_has_the_host_and_the_run(squeeze_run: Path) -> None:
    with RunReader(squeeze_run) as reader:
        snapshot = reader.poll()
    assert snapshot is not None
    header = snapshot.header
    with RunStore.open(squeeze_run) as store:
        state, memory, available, psi_some, psi_full = run_sql(
            store,
            "SELECT host_state, host_memory_bytes, host_available_bytes, host_psi_some_avg10, "
            "host_psi_full_avg10 FROM host_samples ORDER BY time_s DESC LIMIT 1",
        )[0]
    assert (header.scenario, header.policy, header.backend) == ("squeeze", "juggler", "sim")
    assert (header.time_s, header.duration_s, header.finished) == (40.0, 40.0, True)
    assert header.host_state == state
    assert header.host_memory_bytes == memory == 1024 * MIB
    assert header.host_available_bytes == int(available)
    assert (header.psi_some, header.psi_full) == (psi_some, psi_full)
    assert header.overcommit_ratio == pytest.approx(1.5)  # 2 × 768 MiB on 1 GiB


def test_the_last_reason_is_the_newest_decision_and_unknowns_stay_unknown(
    squeeze_run: Path,
) -> None:
    with RunReader(squeeze_run) as reader:
        snapshot = reader.poll()
    assert snapshot is not None
    a, b = snapshot.rows
    with RunStore.open(squeeze_run) as store:
        decided = run_sql(
            store, "SELECT time_s, reason FROM decisions WHERE vm = 'A' ORDER BY rowid DESC LIMIT 1"
        )[0]
    assert (a.reason_time_s, a.reason) == decided
    assert a.reason
    # B has no balloon driver: its balloon and target are unknown, never 0; no decision either
    assert (b.balloon_bytes, b.target_bytes, b.reason) == (None, None, None)
    text = dict(zip([c.field for c in COLUMNS], cells(b), strict=True))
    assert text["balloon_bytes"] == text["target_bytes"] == text["reason"] == "-"
    assert text["resident_bytes"].endswith("MiB")


def test_a_growing_run_is_followed_until_it_finishes(tmp_path: Path) -> None:
    out = tmp_path / "live.sqlite"
    reader = RunReader(out)
    assert reader.poll() is None
    assert reader.waiting == f"waiting for {out} to appear"
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (run_simulation(load_scenario(SQUEEZE), out, speed=10), done.set())
    )
    thread.start()
    seen: list[tuple[float, bool]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            snapshot = reader.poll()
            if snapshot is not None and snapshot.header.time_s is not None:
                seen.append((snapshot.header.time_s, snapshot.header.finished))
                assert [row.name for row in snapshot.rows] == ["A", "B"]
                if snapshot.header.finished:
                    break
            time.sleep(0.2)
    finally:
        thread.join()
        reader.close()
    assert done.is_set()
    assert seen[-1] == (40.0, True)
    running = [t for t, finished in seen if not finished]
    assert running and min(running) < 40, f"never saw the run in progress: {seen}"
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)


def test_a_run_file_replaced_by_a_new_run_is_reopened(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    run_simulation(load_scenario(SQUEEZE), out)
    with RunReader(out) as reader:
        first = reader.poll()
        assert first is not None and first.header.scenario == "squeeze"
        seed = parse_scenario(builtin_scenario_text("seed"), "<seed>").with_overrides(
            duration_s=3.0
        )
        run_simulation(seed, out)  # replaces the file, as a re-run with the same --out does
        second = reader.poll()
    assert second is not None
    assert second.header.scenario == "seed"
    assert [row.name for row in second.rows] == ["A", "B", "C", "D"]
    assert all(row.reason is None for row in second.rows)  # none carried over from squeeze


def test_stopping_a_paced_simulation_ends_it_early_with_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "stopped.sqlite"
    stop = threading.Event()
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(
            summary=run_simulation(load_scenario(SQUEEZE), out, speed=2, stop=stop)
        )
    )
    thread.start()
    with RunReader(out) as reader:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            snapshot = reader.poll()
            if snapshot is not None and (snapshot.header.time_s or 0) >= 3:
                break
            time.sleep(0.1)
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the simulation did not stop"
    assert 3 <= result["summary"].duration_s < 40
    with RunStore.open(out) as store:
        assert "wall_seconds" in store.meta()


def test_a_path_that_is_not_a_run_file_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(StoreError, match=r"notes.txt: not a juggler run file"):
        check_run_path(text)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(StoreError, match=r"other.sqlite: not a juggler run file"):
        check_run_path(other)
    with pytest.raises(StoreError, match=r"is a directory, not a run file"):
        check_run_path(tmp_path)
    # not there yet, or just created empty: a run about to start, so wait for it
    check_run_path(tmp_path / "later.sqlite")
    (tmp_path / "empty.sqlite").touch()
    check_run_path(tmp_path / "empty.sqlite")
    with RunReader(tmp_path / "empty.sqlite") as reader:
        assert reader.poll() is None
        assert "laid out" in (reader.waiting or "")


def _row(name: str, **values: object) -> VmRow:
    fields = dict.fromkeys(VmRow.__dataclass_fields__)
    fields.update(name=name, **values)
    return VmRow(**fields)  # type: ignore[arg-type]


def test_sorting_puts_unknown_last_both_ways_and_breaks_ties_by_name() -> None:
    rows = [
        _row("D", balloon_bytes=None),
        _row("C", balloon_bytes=5),
        _row("B", balloon_bytes=9),
        _row("A", balloon_bytes=5),
    ]
    assert [r.name for r in sort_rows(rows, "balloon_bytes")] == ["A", "C", "B", "D"]
    assert [r.name for r in sort_rows(rows, "balloon_bytes", reverse=True)] == ["B", "A", "C", "D"]
    assert [r.name for r in sort_rows(rows, "name", reverse=True)] == ["D", "C", "B", "A"]


def test_build_snapshot_keeps_unknown_unknown() -> None:
    snapshot = build_snapshot(
        meta={"scenario": "x", "backend": "qemu"},
        configured={"A": 1024 * MIB, "B": None},
        host={"time_s": 10.0, "host_memory_bytes": None, "host_state": "soft"},
        samples={
            "A": {"time_s": 6.0, "configured_bytes": 1024 * MIB, "balloon_target_bytes": 256 * MIB}
        },
        slowdowns={},
        reasons={},
    )
    header = snapshot.header
    assert header.overcommit_ratio is None  # host memory unknown
    assert (header.duration_s, header.finished, header.psi_some) == (None, False, None)
    a, b = snapshot.rows
    assert a.target_bytes == 768 * MIB
    assert a.age_s == 4.0  # A missed the newest sample
    assert (a.slowdown, a.resident_bytes) == (None, None)
    assert (b.configured_bytes, b.target_bytes, b.age_s) == (None, None, None)
    assert format_value(None, column("slowdown").kind) == "-"
    assert format_value(1.234, "slowdown") == "1.23x"
    assert format_value(0, "size") == "0 B"


def test_every_run_file_of_a_compare_is_shown_with_its_policy(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from juggler.cli import app

    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(SQUEEZE),
            "--policies",
            "static,juggler",
            "--jobs",
            "1",
            "--duration",
            "10s",
            "--json",
            "--out-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout[result.stdout.index("{") :])["results"]
    assert sorted(row["policy"] for row in runs) == ["juggler", "static"]
    for run in runs:
        with RunReader(run["run"]) as reader:
            snapshot = reader.poll()
        assert snapshot is not None
        assert (snapshot.header.policy, snapshot.header.time_s) == (run["policy"], 10.0)
        assert [row.name for row in snapshot.rows] == ["A", "B"]
        if run["policy"] == "static":  # never balloons: no reason to show
            assert all(row.reason is None for row in snapshot.rows)


def test_a_simulation_stopped_before_it_began_still_closes_with_a_summary(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()  # the user quit top while the engine was still compiling
    summary = run_simulation(load_scenario(SQUEEZE), tmp_path / "r.sqlite", speed=1, stop=stop)
    assert (summary.duration_s, summary.decisions) == (0.0, 0)
    with RunReader(tmp_path / "r.sqlite") as reader:
        snapshot = reader.poll()
    assert snapshot is not None and snapshot.header.finished
    assert snapshot.header.time_s == 0.0


def test_a_lab_run_shows_the_workloads_latency_and_accesses_instead_of_slowdown() -> None:
    snapshot = build_snapshot(
        meta={"scenario": "x", "backend": "qemu", "lab_host_bytes": str(256 * MIB)},
        configured={"A": 256 * MIB, "B": 256 * MIB},
        host={"time_s": 4.0, "host_state": "high", "host_memory_bytes": 475 * MIB},
        samples={
            "A": {
                "time_s": 4.0,
                "workload_accesses_per_s": 0.0,
                "workload_latency_p99_seconds": 0.0,
            },  # idle: timed no access
            "B": {
                "time_s": 4.0,
                "workload_accesses_per_s": 19900.0,
                "workload_latency_p99_seconds": 1.8e-4,
            },
        },
        slowdowns={},
        reasons={},
    )
    # over-committed against the host the scenario means, not the cgroup's limit (that
    # adds QEMU's overhead), as the summary counts it
    assert snapshot.header.overcommit_ratio == 2.0
    a, b = snapshot.rows
    assert (a.workload_accesses_per_s, a.workload_latency_p99_seconds) == (0.0, None)
    fields = [c.field for c in visible_columns("qemu", snapshot.rows)]
    assert "slowdown" not in fields
    assert fields.index("workload_accesses_per_s") > fields.index("working_set_estimate_bytes")
    text = dict(zip(fields, cells(b, visible_columns("qemu", snapshot.rows)), strict=True))
    assert (text["workload_latency_p99_seconds"], text["workload_accesses_per_s"]) == (
        "180us",
        "19.9k",
    )
    assert cells(a, [column("workload_latency_p99_seconds")]) == ["-"]
    # a simulated run: slowdown, no workload columns; a file that does not say: neither,
    # unless a row has a value
    sim = [c.field for c in visible_columns("sim", [])]
    assert "slowdown" in sim and "workload_latency_p99_seconds" not in sim
    assert [c.field for c in visible_columns(None, [])] == [
        c.field
        for c in COLUMNS
        if c.field not in ("slowdown", "workload_latency_p99_seconds", "workload_accesses_per_s")
    ]
    assert "workload_accesses_per_s" in [c.field for c in visible_columns("real", [b])]
    assert [format_value(s, "latency") for s in (8.5e-7, 1e-6, 1.8e-4, 0.012, 1.2)] == [
        "850ns",
        "1us",
        "180us",
        "12ms",
        "1.2s",
    ]

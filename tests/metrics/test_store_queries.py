"""The run file's typed queries: what every reader asks instead of writing SQL.

Each answer is checked against numbers written by hand, so a query that reads the
wrong column, the wrong VM or the wrong order fails here.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from juggler.errors import StoreError
from juggler.metrics.store import (
    RUN_TABLES,
    SCHEMA_VERSION,
    DecisionRow,
    EventRow,
    ResidentFloor,
    RunStore,
    VmConfig,
)
from juggler.observation import HostSample, Observation, VmSample, VmTruth
from juggler.units import MIB


def _vm(name: str, t: float, **fields: object) -> VmSample:
    base: dict[str, object] = dict(
        configured_bytes=1024 * MIB,
        reservation_bytes=200 * MIB if name == "a" else 0,
        balloon_actual_bytes=int(t) * 10 * MIB,
        resident_bytes=(150 + 50 * int(t)) * MIB,
        guest_swap_in_bytes_per_s=float(MIB),
    )
    base.update(fields)
    return VmSample(name, **base)  # type: ignore[arg-type]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """Samples at 0, 1 and 3 s of VMs a and b; b has no balloon driver (NULL balloon)
    and does not report its guest swap at 1 s; truth for a only; two decisions, three
    events."""
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "hand", "policy": "static"}) as store:
        for t, state in ((0.0, "high"), (1.0, "soft"), (3.0, "hard")):
            host = HostSample(
                2048 * MIB, (900 - 100 * int(t)) * MIB, host_swap_in_bytes_per_s=t * MIB
            )
            vms = (
                _vm("a", t),
                _vm(
                    "b",
                    t,
                    balloon_actual_bytes=None,
                    balloon_present=False,
                    guest_swap_in_bytes_per_s=None if t == 1.0 else 2.0 * MIB,
                ),
            )
            truth = {"a": VmTruth(300 * MIB + int(t) * MIB, 0.5, 0.0, 0.25, 0.0, 100.0, 50.0, 1)}
            store.record_observation(Observation(t, host, vms, host_state=state, truth=truth))
        store.record_decision(1.0, "a", 64 * MIB, 0, "inflate")
        store.record_decision(3.0, "a", 32 * MIB, 64 * MIB, "deflate")
        store.record_event(1.5, "b", "guest_oom", "killed")
        store.record_event(2.0, None, "policy", "boom")
        store.record_event(2.5, "a", "guest_oom", "killed")
    return path


def test_vms_come_back_typed_in_the_order_the_run_saw_them(run: Path) -> None:
    with RunStore.open(run) as store:
        assert store.vm_names() == ["a", "b"]
        a, b = store.vms()
    assert a == VmConfig("a", 1024 * MIB, 200 * MIB, None, 1000, True)
    assert (b.reservation_bytes, b.balloon_present) == (0, False)


def test_samples_are_arrays_in_time_order_with_nan_for_not_measured(run: Path) -> None:
    with RunStore.open(run) as store:
        host = store.host_samples()
        b = store.vm_samples("b")
        truth = store.truth_samples()
    assert host.time_s.tolist() == [0.0, 1.0, 3.0]
    assert host.states == ["high", "soft", "hard"]
    assert host.columns["host_available_bytes"].tolist() == [900 * MIB, 800 * MIB, 600 * MIB]
    assert host.columns["host_available_bytes"].dtype == np.float64
    assert b.time_s.tolist() == [0.0, 1.0, 3.0]
    swap_in = b.columns["guest_swap_in_bytes_per_s"]
    assert swap_in[0] == swap_in[2] == 2.0 * MIB and math.isnan(swap_in[1])
    assert np.isnan(b.columns["balloon_actual_bytes"]).all()
    assert list(truth) == ["a"]  # b has no truth rows
    assert truth["a"].columns["true_working_set_bytes"].tolist() == [
        300 * MIB,
        301 * MIB,
        303 * MIB,
    ]


def test_decisions_and_events_are_named_rows_in_time_order(run: Path) -> None:
    with RunStore.open(run) as store:
        decisions = store.decisions()
        events = store.events()
    assert decisions == [
        DecisionRow(1.0, "a", 64 * MIB, 0, "inflate"),
        DecisionRow(3.0, "a", 32 * MIB, 64 * MIB, "deflate"),
    ]
    assert events[1] == EventRow(2.0, None, "policy", "boom")
    assert [e.kind for e in events] == ["guest_oom", "policy", "guest_oom"]


def test_counts_per_table_and_per_event_kind(run: Path) -> None:
    with RunStore.open(run) as store:
        assert store.count("host_samples") == 3
        assert store.count("vm_samples") == 6
        assert store.count("truth") == 3
        assert store.count("decisions") == 2
        assert store.count("events", kind="guest_oom") == 2
        with pytest.raises(ValueError, match="'vms' is not a table of a run file"):
            store.count("vms")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="kind='guest_oom' applies to the events table"):
            store.count("decisions", kind="guest_oom")


def test_aggregates_read_the_right_column_of_the_right_vm(run: Path) -> None:
    with RunStore.open(run) as store:
        assert store.time_span() == (0.0, 3.0)
        assert store.minimum("host_available_bytes") == 600 * MIB
        assert store.maximum("balloon_actual_bytes", "a") == 30 * MIB
        assert store.maximum("balloon_actual_bytes", "b") is None  # never measured
        assert store.last("resident_bytes", "b") == 300 * MIB
        assert store.total("guest_oom_events") == 3  # truth, over every VM
        assert store.total("stall_seconds_guest_swap", "a") == 1.5
        assert store.latest_truth("slowdown", "b") is None


def test_an_integral_weighs_each_sample_by_the_period_it_covers(run: Path) -> None:
    with RunStore.open(run) as store:
        # host: 0 at 0 s, 1 MiB/s over 1 s, 3 MiB/s over the 2 s to 3 s
        assert store.integral("host_swap_in_bytes_per_s") == 7 * MIB
        # b skipped a report at 1 s: it still counts for its period, as unknown
        assert store.integral("guest_swap_in_bytes_per_s", "b") == 2.0 * MIB * 2
        assert store.integral("guest_swap_out_bytes_per_s", "a") is None
        assert store.seconds_in_state() == {"high": 0.0, "soft": 1.0, "hard": 2.0}


def test_a_metric_is_checked_against_the_names_and_the_vm(run: Path) -> None:
    with RunStore.open(run) as store:
        with pytest.raises(ValueError, match=r"'resident' is not a metric of metrics/names\.py"):
            store.maximum("resident", "a")
        with pytest.raises(ValueError, match="host_swap_in_bytes_per_s is a host metric"):
            store.integral("host_swap_in_bytes_per_s", "a")
        with pytest.raises(ValueError, match="resident_bytes is a per-VM metric: name the vm"):
            store.minimum("resident_bytes")


def test_resident_floor_starts_once_the_reservation_was_reached(run: Path) -> None:
    with RunStore.open(run) as store:
        # a: 150, 200, 300 MiB; reservation 200 MiB first reached at 1 s
        assert store.resident_floor("a", 200 * MIB) == ResidentFloor(200 * MIB, 0)
        assert store.resident_floor("a", 250 * MIB) == ResidentFloor(300 * MIB, 0)
        # never reached: the whole run's lowest, nothing counted below
        assert store.resident_floor("a", 400 * MIB) == ResidentFloor(150 * MIB, 0)


def test_workload_truth_and_balloon_movement(run: Path) -> None:
    with RunStore.open(run) as store:
        assert store.workload_means("a") is None  # no latency reported
        totals = store.truth_totals("a")
        assert totals.peak_working_set_bytes == 303 * MIB
        assert (totals.nominal_accesses, totals.achieved_accesses) == (300.0, 150.0)
        assert store.truth_totals("b").nominal_accesses is None
        # a: 0 → 10 → 30 MiB; b: never measured
        assert store.balloon_moved_bytes() == 30 * MIB
        assert (store.balloon_moved_bytes("a"), store.balloon_moved_bytes("b")) == (30 * MIB, 0)


def test_the_newest_rows_and_the_decisions_after_one(run: Path) -> None:
    with RunStore.open(run) as store:
        host = store.latest_host_sample()
        vm = store.latest_vm_sample("a")
        last, decisions = store.decisions_after(0)
        again, none = store.decisions_after(last)
    assert host is not None and host["time_s"] == 3.0 and host["host_state"] == "hard"
    assert vm is not None and vm["resident_bytes"] == 300 * MIB
    assert [d.reason for d in decisions] == ["inflate", "deflate"]
    assert (again, none) == (last, [])


def test_meta_can_leave_out_the_scenario_text(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "x", "scenario_toml": "[run]\n"}):
        pass
    with RunStore.open(path) as store:
        assert store.meta()["scenario_toml"] == "[run]\n"
        assert "scenario_toml" not in store.meta(with_scenario_toml=False)
        assert store.meta()["schema_version"] == SCHEMA_VERSION


def test_the_run_tables_are_read_from_the_schema(run: Path) -> None:
    db = sqlite3.connect(run)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert tables == RUN_TABLES


def _set_version(path: Path, version: str | None) -> None:
    db = sqlite3.connect(path)
    if version is None:
        db.execute("DELETE FROM meta WHERE key = 'schema_version'")
    else:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.commit()
    db.close()


def test_a_run_file_of_another_schema_version_is_refused_naming_both(run: Path) -> None:
    _set_version(run, "0")
    message = (
        f"{run}: run file schema version 0, this juggler reads version {SCHEMA_VERSION} "
        r"\(re-run it"
    )
    with pytest.raises(StoreError, match=message):
        RunStore.open(run)


def test_a_version_2_file_reads_with_its_balloon_stall_unknown(run: Path) -> None:
    with RunStore.open(run) as store:
        vm = store.vm_names()[0]
        current = store.truth_totals(vm)
    db = sqlite3.connect(run)
    db.execute("ALTER TABLE truth DROP COLUMN stall_seconds_balloon")
    db.commit()
    db.close()
    _set_version(run, "2")
    with RunStore.open(run) as store:
        old = store.truth_totals(vm)
        samples = store.truth_samples()[vm]
    assert old._replace(stall_seconds_balloon=current.stall_seconds_balloon) == current
    assert old.stall_seconds_balloon is None
    assert np.isnan(samples.columns["stall_seconds_balloon"]).all()
    # reading did not change the file
    db = sqlite3.connect(run)
    columns = [row[1] for row in db.execute("PRAGMA table_info(truth)")]
    db.close()
    assert "stall_seconds_balloon" not in columns


def test_a_file_with_no_schema_version_is_not_a_run_file(run: Path) -> None:
    _set_version(run, None)
    with pytest.raises(StoreError, match=r"not a juggler run file \(it records no schema version"):
        RunStore.open(run)


def test_a_read_that_fails_is_a_store_error_naming_the_file(run: Path) -> None:
    with RunStore.open(run) as store:
        db = sqlite3.connect(run)
        db.execute("DROP TABLE truth")
        db.commit()
        db.close()
        with pytest.raises(StoreError, match=rf"{run}: cannot read run file \(no such table"):
            store.count("truth")

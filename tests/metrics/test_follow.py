"""The run file's follow mode: a reader that arrives before, during and after its writer.

A real writer (:class:`RunStore`) and a real SQLite lock, never a mock: the follower
must cope with what ``juggler top`` meets on a live run.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from juggler.errors import RunFileBusyError, StoreError
from juggler.metrics.store import SCHEMA_VERSION, RunFollower, RunStore, run_file_state
from juggler.observation import HostSample, Observation, VmSample
from juggler.units import MIB


def _observe(store: RunStore, t: float) -> None:
    vm = VmSample("a", configured_bytes=512 * MIB, resident_bytes=int(100 + t) * MIB)
    store.record_observation(
        Observation(t, HostSample(1024 * MIB, 500 * MIB), (vm,), host_state="high")
    )


def _flush(store: RunStore) -> None:
    """Commit now, as the writer does every second or few hundred rows."""
    store.db.commit()


def test_a_missing_file_is_waited_for_then_followed_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunFollower(path) as follower:
        assert follower.current() is None
        assert follower.waiting == f"waiting for {path} to appear"
        with RunStore.create(path, {"scenario": "live"}) as writer:
            _observe(writer, 0.0)
            _flush(writer)
            store = follower.current()
            assert store is not None and follower.waiting is None
            host = store.latest_host_sample()
            assert host is not None and host["time_s"] == 0.0
            writer.record_decision(0.0, "a", 8 * MIB, 0, "first")
            _observe(writer, 1.0)
            _flush(writer)
            assert follower.current() is store  # the same file: the same store
            host = store.latest_host_sample()
            assert host is not None and host["time_s"] == 1.0
            last, decisions = store.decisions_after(0)
            assert [d.reason for d in decisions] == ["first"]
            writer.record_decision(1.0, "a", 16 * MIB, 8 * MIB, "second")
            _flush(writer)
            _, newer = store.decisions_after(last)
            assert [d.reason for d in newer] == ["second"]  # each decision read once


def test_an_empty_file_is_one_still_being_laid_out(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    path.touch()
    assert run_file_state(path) == "creating"
    follower = RunFollower(path)
    assert follower.current() is None
    assert follower.waiting == f"waiting for {path} to be laid out by its writer"


def test_a_file_with_only_some_of_the_tables_is_still_being_created(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()
    assert run_file_state(path) == "creating"
    assert RunFollower(path).current() is None


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (name TEXT)")
    db.commit()
    db.close()
    assert run_file_state(path) == "foreign"
    with pytest.raises(StoreError, match=f"{path}: not a juggler run file"):
        RunFollower(path).current()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert run_file_state(text) == "foreign"


def test_a_replaced_file_is_a_new_store_and_a_removed_one_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "first"}) as writer:
        _observe(writer, 0.0)
    follower = RunFollower(path)
    first = follower.current()
    assert first is not None and first.meta()["scenario"] == "first"
    with RunStore.create(path, {"scenario": "second"}) as writer:  # a new run, same name
        _observe(writer, 0.0)
    second = follower.current()
    assert second is not None and second is not first
    assert second.meta()["scenario"] == "second"
    path.unlink()
    assert follower.current() is None and follower.removed
    follower.close()


def test_a_writer_holding_its_lock_makes_a_read_busy_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "live"}) as writer:
        _observe(writer, 0.0)
    follower = RunFollower(path, lock_timeout_s=0.1)
    store = follower.current()
    assert store is not None
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(RunFileBusyError, match=f"{path}: its writer holds the lock"):
            store.latest_host_sample()
        assert time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
    assert store.latest_host_sample() is not None  # free again: reads go on
    follower.close()


def test_following_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, {"scenario": "old"}):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    message = (
        f"{path}: run file schema version 0, this juggler reads version {SCHEMA_VERSION} "
        r"\(re-run it"
    )
    with pytest.raises(StoreError, match=message):
        RunFollower(path).current()

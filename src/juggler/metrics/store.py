"""The run file: every observation, decision and event of a run, in SQLite.

One file per run, readable by ``diagnose``, ``report`` and ``top`` whatever
world it came from. Schema (columns named as in ``metrics/names.py``)::

    meta(key, value)                       scenario, policy, backend, page size, TOML text
    vms(name, configured_bytes, reservation_bytes, limit_bytes, shares, balloon_present)
    host_samples(time_s, host_state, <HOST_METRICS>)
    vm_samples(time_s, vm, <VM_METRICS>)   what a real host can observe
    truth(time_s, vm, <TRUTH_METRICS>)     simulator ground truth, kept apart
    decisions(time_s, vm, balloon_target_bytes, previous_target_bytes, reason)
    events(time_s, vm, kind, message)      errors, missing VMs, guest OOMs

A rate sampled at ``time_s`` covers the period since the previous sample.
Rows are written in batches and committed every few hundred rows or every
second, whichever comes first, so a reader (``juggler top``) can follow a run
that is still going and a killed run loses at most a batch.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from juggler.errors import StoreError
from juggler.metrics.names import HOST_METRICS, TRUTH_METRICS, VM_METRICS
from juggler.observation import Observation

SCHEMA_VERSION = "1"
_COMMIT_EVERY = 500
_COMMIT_EVERY_S = 1.0

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vms (
    name TEXT PRIMARY KEY, configured_bytes INTEGER, reservation_bytes INTEGER,
    limit_bytes INTEGER, shares INTEGER, balloon_present INTEGER);
CREATE TABLE host_samples (time_s REAL NOT NULL, host_state TEXT,
    {", ".join(f"{m} REAL" for m in HOST_METRICS)});
CREATE TABLE vm_samples (time_s REAL NOT NULL, vm TEXT NOT NULL,
    {", ".join(f"{m} REAL" for m in VM_METRICS)});
CREATE TABLE truth (time_s REAL NOT NULL, vm TEXT NOT NULL,
    {", ".join(f"{m} REAL" for m in TRUTH_METRICS)});
CREATE TABLE decisions (time_s REAL NOT NULL, vm TEXT NOT NULL,
    balloon_target_bytes INTEGER, previous_target_bytes INTEGER, reason TEXT);
CREATE TABLE events (time_s REAL NOT NULL, vm TEXT, kind TEXT NOT NULL, message TEXT);
CREATE INDEX vm_samples_vm_time ON vm_samples (vm, time_s);
CREATE INDEX truth_vm_time ON truth (vm, time_s);
"""


class RunStore:
    """A run file, open for writing (``create``) or reading (``open``)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.db = connection
        self._pending = 0
        self._committed_at = time.monotonic()
        self._known_vms: set[str] = set()

    # ------------------------------------------------------------ opening

    @classmethod
    def create(cls, path: str | Path, meta: dict[str, Any]) -> RunStore:
        """Create a new run file (replacing one of the same name).

        :raise StoreError: When the file cannot be created.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.unlink()
            db = sqlite3.connect(path)
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{path}: cannot create run file: {err}") from err
        store = cls(path, db)
        store.set_meta({"schema_version": SCHEMA_VERSION, **meta})
        return store

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        """Open an existing run file for reading.

        :raise StoreError: When it is missing or not a juggler run file.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such run file")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error as err:
            raise StoreError(f"{path}: not a juggler run file ({err})") from None
        return cls(path, db)

    # ------------------------------------------------------------ writing

    def set_meta(self, meta: dict[str, Any]) -> None:
        rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()]
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)
        self.db.commit()

    def record_observation(self, obs: Observation) -> None:
        host = obs.host
        self.db.execute(
            f"INSERT INTO host_samples VALUES (?, ?{', ?' * len(HOST_METRICS)})",
            (obs.time_s, obs.host_state, *(getattr(host, m) for m in HOST_METRICS)),
        )
        new_vms = [vm for vm in obs.vms if vm.name not in self._known_vms]
        if new_vms:
            self.db.executemany(
                "INSERT OR REPLACE INTO vms VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        vm.name,
                        vm.configured_bytes,
                        vm.reservation_bytes,
                        vm.limit_bytes,
                        vm.shares,
                        int(vm.balloon_present),
                    )
                    for vm in new_vms
                ],
            )
            self._known_vms.update(vm.name for vm in new_vms)
        self.db.executemany(
            f"INSERT INTO vm_samples VALUES (?, ?{', ?' * len(VM_METRICS)})",
            [(obs.time_s, vm.name, *(getattr(vm, m) for m in VM_METRICS)) for vm in obs.vms],
        )
        if obs.truth:
            self.db.executemany(
                f"INSERT INTO truth VALUES (?, ?{', ?' * len(TRUTH_METRICS)})",
                [
                    (obs.time_s, name, *(getattr(t, m) for m in TRUTH_METRICS))
                    for name, t in obs.truth.items()
                ],
            )
        self._tick()

    def record_decision(
        self, time_s: float, vm: str, balloon_bytes: int, previous_bytes: int, reason: str
    ) -> None:
        self.db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?)",
            (time_s, vm, balloon_bytes, previous_bytes, reason),
        )
        self._tick()

    def record_event(self, time_s: float, vm: str | None, kind: str, message: str) -> None:
        self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (time_s, vm, kind, message))
        self._tick()

    def _tick(self) -> None:
        self._pending += 1
        now = time.monotonic()
        if self._pending >= _COMMIT_EVERY or now - self._committed_at >= _COMMIT_EVERY_S:
            self.db.commit()
            self._pending = 0
            self._committed_at = now

    def close(self) -> None:
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.db.commit()
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def vm_names(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM vms ORDER BY rowid")]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (for summaries, diagnose, reports)."""
        return self.db.execute(sql, params).fetchall()

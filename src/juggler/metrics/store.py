"""The run file: every observation, decision and event of a run, in SQLite.

One file per run, readable by ``diagnose``, ``report`` and ``top`` whatever
world it came from. Schema (columns named as in ``metrics/names.py``)::

    meta(key, value)                       scenario, policy, backend, page size, TOML text
    vms(name, configured_bytes, reservation_bytes, limit_bytes, shares, balloon_present)
    host_samples(time_s, host_state, <HOST_METRICS>)
    vm_samples(time_s, vm, <VM_METRICS>)   what a real host can observe
    truth(time_s, vm, <TRUTH_METRICS>)     simulator ground truth, kept apart
    decisions(time_s, vm, balloon_target_bytes, previous_target_bytes, reason, guard)
                                           guard: what the guard changed (GuardChange
                                           values, comma-separated; '' when nothing)
    decision_notes(time_s, vm, kind, text) a policy's notes (kind 'note', vm NULL) and
                                           VMs nothing was sent to (kind 'left_alone'
                                           or 'dead_band', with the policy's reason)
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from juggler.errors import StoreError
from juggler.metrics.names import HOST_METRICS, TRUTH_METRICS, VM_METRICS
from juggler.observation import GuardChange, Observation, VmTarget

#: 2: decisions.guard and decision_notes (docs/run-file.md, "Schema versions")
SCHEMA_VERSION = "2"
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
    balloon_target_bytes INTEGER, previous_target_bytes INTEGER, reason TEXT,
    guard TEXT NOT NULL DEFAULT '');
CREATE TABLE decision_notes (time_s REAL NOT NULL, vm TEXT, kind TEXT NOT NULL,
    text TEXT NOT NULL);
CREATE TABLE events (time_s REAL NOT NULL, vm TEXT, kind TEXT NOT NULL, message TEXT);
CREATE INDEX vm_samples_vm_time ON vm_samples (vm, time_s);
CREATE INDEX truth_vm_time ON truth (vm, time_s);
"""


#: ``decision_notes.kind`` of a policy's note about the interval as a whole
NOTE_KIND = "note"


@dataclass(frozen=True)
class DecisionNote:
    """One row of ``decision_notes``: a policy's note, or a VM nothing was sent to."""

    time_s: float
    #: None for a note about the host as a whole
    vm: str | None
    #: :data:`NOTE_KIND`, or ``left_alone`` / ``dead_band`` (``GuardChange`` values)
    kind: str
    text: str


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
        self,
        time_s: float,
        vm: str,
        balloon_bytes: int,
        previous_bytes: int,
        reason: str,
        guard: tuple[str, ...] = (),
    ) -> None:
        self.db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
            (time_s, vm, balloon_bytes, previous_bytes, reason, ",".join(map(str, guard))),
        )
        self._tick()

    def record_notes(
        self, time_s: float, notes: tuple[str, ...], left_alone: Mapping[str, VmTarget]
    ) -> None:
        """Keep a policy's notes of one interval, and the VMs nothing was sent to and why.

        :param left_alone: by VM, the policy's wish with the guard's verdict last in
            ``guard`` (``LEFT_ALONE`` or ``DEAD_BAND``).
        """
        rows: list[tuple[float, str | None, str, str]] = [
            (time_s, None, NOTE_KIND, note) for note in notes
        ]
        for name, target in left_alone.items():
            kind = target.guard[-1] if target.guard else GuardChange.LEFT_ALONE
            rows.append((time_s, name, str(kind), target.reason))
        self.db.executemany("INSERT INTO decision_notes VALUES (?, ?, ?, ?)", rows)
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

    def decision_notes(self, vm: str | None = None) -> list[DecisionNote]:
        """The policy's notes and the VMs left alone, in time order.

        :param vm: only the rows about this VM and the notes about the whole host.
        """
        sql = "SELECT time_s, vm, kind, text FROM decision_notes"
        params: tuple[Any, ...] = ()
        if vm is not None:
            sql += " WHERE vm IS NULL OR vm = ?"
            params = (vm,)
        rows = self.db.execute(sql + " ORDER BY rowid", params).fetchall()
        return [DecisionNote(float(t), v, str(k), str(x)) for t, v, k, x in rows]

    def decision_guards(self) -> list[tuple[float, str, tuple[str, ...]]]:
        """What the guard changed in each decision sent: (time, VM, ``GuardChange`` values)."""
        rows = self.db.execute("SELECT time_s, vm, guard FROM decisions ORDER BY rowid")
        return [(float(t), str(v), tuple(g.split(",")) if g else ()) for t, v, g in rows]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (for summaries, diagnose, reports)."""
        return self.db.execute(sql, params).fetchall()

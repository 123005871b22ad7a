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

This module is the only code that opens a run file or knows its SQL: every
reader (``summary``, ``diagnose``, ``report``, ``top``, ``compare``) asks
:class:`RunStore`'s typed queries, and the schema version is checked once, in
:func:`_check_schema_version`. :class:`RunFollower` is the read-only follow
mode ``juggler top`` uses on a file that is still being written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt

from juggler.errors import RunFileBusyError, StoreError
from juggler.metrics.names import HOST_METRICS, TRUTH_METRICS, VM_METRICS
from juggler.observation import GuardChange, Observation, VmTarget

#: 3: truth.stall_seconds_balloon (docs/run-file.md, "Schema versions")
SCHEMA_VERSION = "3"
#: older versions this juggler still reads, and how: version 2 lacks only
#: truth.stall_seconds_balloon, which reads as unknown (NULL)
_READS_AS_CURRENT = {
    "2": ("CREATE TEMP VIEW truth AS SELECT *, NULL AS stall_seconds_balloon FROM main.truth",),
}
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

#: the tables of a run file, read from the schema itself: a SQLite file holding only
#: some of them is still being laid out by its writer, one holding others is not ours
RUN_TABLES: frozenset[str] = frozenset(re.findall(r"CREATE TABLE (\w+)", _SCHEMA))
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: a column of floats, one per row in time order; NULL (not measured) is NaN
FloatArray = npt.NDArray[np.float64]

#: what a path holds, for a reader that may arrive before the writer (``juggler top``)
FileState = Literal["absent", "creating", "ready", "foreign"]

#: a table a count can be asked of
CountedTable = Literal["host_samples", "vm_samples", "truth", "decisions", "events"]

#: which table holds a metric's column (the name lists are disjoint)
_TABLE_OF: dict[str, str] = {
    **dict.fromkeys(HOST_METRICS, "host_samples"),
    **dict.fromkeys(VM_METRICS, "vm_samples"),
    **dict.fromkeys(TRUTH_METRICS, "truth"),
}

#: the period a sample covers: since the previous sample (the host's, or the VM's own)
_DT = "time_s - LAG(time_s, 1, time_s) OVER (ORDER BY time_s)"
_VM_DT = "time_s - LAG(time_s, 1, time_s) OVER (PARTITION BY vm ORDER BY time_s)"


@dataclass(frozen=True)
class VmConfig:
    """A VM as the ``vms`` table holds it (``None``: the backend did not say)."""

    name: str
    configured_bytes: int | None
    reservation_bytes: int | None
    limit_bytes: int | None
    shares: int | None
    balloon_present: bool


@dataclass(frozen=True)
class Samples:
    """One VM's rows of a table (or the host's), in time order, one array per metric."""

    time_s: FloatArray
    #: metric name -> values; NULL (not measured) is NaN
    columns: dict[str, FloatArray]


@dataclass(frozen=True)
class HostSamples(Samples):
    """The host's rows, with the free-memory state of each (``""`` where unknown)."""

    states: list[str]


class DecisionRow(NamedTuple):
    """One balloon target the Manager sent."""

    time_s: float
    vm: str
    balloon_target_bytes: int
    previous_target_bytes: int
    reason: str
    #: what the guard changed in the policy's wish (``GuardChange`` values; empty: nothing)
    guard: tuple[str, ...] = ()

    @property
    def inflates(self) -> bool:
        """The balloon grows (memory is taken from the guest)."""
        return self.balloon_target_bytes > self.previous_target_bytes

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> DecisionRow:
        """A ``decisions`` row as SELECTed by :data:`_DECISION_COLUMNS`."""
        time_s, vm, target, previous, reason, guard = row
        return cls(time_s, vm, target, previous, reason, tuple(guard.split(",")) if guard else ())


#: what a reader of ``decisions`` selects, in :class:`DecisionRow`'s order
_DECISION_COLUMNS = "time_s, vm, balloon_target_bytes, previous_target_bytes, reason, guard"


class EventRow(NamedTuple):
    """One error, missing VM or guest OOM."""

    time_s: float
    vm: str | None
    kind: str
    message: str


class ResidentFloor(NamedTuple):
    """A VM's lowest resident memory once it first reached its reservation (over the
    whole run if it never did, or has none), and how many samples after that fell
    below the reservation."""

    lowest_bytes: float | None
    samples_below: int


class WorkloadMeans(NamedTuple):
    """What a VM's own workload reported (lab runs), over the samples that carry it."""

    accesses_per_s: float
    latency_p50_seconds: float | None
    latency_p99_seconds: float | None
    latency_p99_max_seconds: float | None


class TruthTotals(NamedTuple):
    """A VM's simulator truth over the run: the peak working set and the sums."""

    peak_working_set_bytes: float | None
    stall_seconds_guest_swap: float | None
    stall_seconds_host_swap: float | None
    stall_seconds_cache_miss: float | None
    stall_seconds_balloon: float | None
    nominal_accesses: float | None
    achieved_accesses: float | None


def _floats(values: list[Any]) -> FloatArray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _check_schema_version(path: Path, db: sqlite3.Connection) -> None:
    """Refuse a file this juggler cannot read: the one place the version is checked.

    :raise StoreError: When it has no version (not a run file) or another version.
    """
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{path}: not a juggler run file (it records no schema version)")
    if row[0] in _READS_AS_CURRENT:
        # temp objects shadow the file's own for unqualified names: the readers' queries
        # see the current layout, and the file itself is not touched
        for statement in _READS_AS_CURRENT[row[0]]:
            db.execute(statement)
        return
    if row[0] != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: run file schema version {row[0]}, this juggler reads version "
            f"{SCHEMA_VERSION} (re-run it, or read it with the juggler that wrote it)"
        )


def run_file_state(path: Path) -> FileState:
    """What ``path`` holds now: nothing yet, a run file its writer is still laying out,
    a complete run file, or something that will never be one.

    Opens the file read-only and briefly; it never waits long on the writer's lock.
    """
    try:
        with path.open("rb") as file:
            magic = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "foreign"
    if not magic:
        return "creating"
    if magic != _SQLITE_MAGIC:
        return "foreign"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables <= RUN_TABLES:
                return "foreign"
            if tables != RUN_TABLES:
                return "creating"
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return "ready" if version else "creating"
        finally:
            db.close()
    except sqlite3.OperationalError as err:
        # the writer holds the lock while it lays out the schema
        return "creating" if "locked" in str(err) else "foreign"
    except sqlite3.DatabaseError:
        return "foreign"


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
    """A run file, open for writing (``create``) or reading (``open``).

    Readers ask the typed queries below (samples as arrays, rows as named tuples,
    aggregates as numbers) and never write SQL; a file still being written is
    opened through :class:`RunFollower`. Every read error is a
    :class:`~juggler.errors.StoreError` naming the file.
    """

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

        :raise StoreError: When it is missing, not a juggler run file, or of a schema
            version this juggler does not read.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such run file")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as err:
            raise StoreError(f"{path}: not a juggler run file ({err})") from None
        try:
            _check_schema_version(path, db)
        except sqlite3.Error as err:
            db.close()
            raise StoreError(f"{path}: not a juggler run file ({err})") from None
        except StoreError:
            db.close()
            raise
        return cls(path, db)

    @classmethod
    def _open_following(cls, path: Path, lock_timeout_s: float) -> RunStore:
        """Open a complete run file that its writer may still be appending to: read-only,
        waiting at most ``lock_timeout_s`` for the writer's lock, usable from the thread
        that draws (see :class:`RunFollower`).

        :raise RunFileBusyError: When the writer held its lock all that time.
        :raise StoreError: When it is not a run file this juggler reads.
        """
        db = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=lock_timeout_s, check_same_thread=False
        )
        try:
            _check_schema_version(path, db)
        except sqlite3.Error as err:
            db.close()
            raise _read_error(path, err) from err
        except StoreError:
            db.close()
            raise
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

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every read goes through here, so SQLite's errors reach readers as ours."""
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise _read_error(self.path, err) from err

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        return self._rows(sql, params)[0]

    def meta(self, *, with_scenario_toml: bool = True) -> dict[str, str]:
        """The ``meta`` table: scenario, policy, backend, page size, how the run ended.

        :param with_scenario_toml: also the scenario's TOML text, which is only for
            people reading the file (a reader polling every second skips it).
        """
        where = "" if with_scenario_toml else " WHERE key != 'scenario_toml'"
        return {str(k): str(v) for k, v in self._rows(f"SELECT key, value FROM meta{where}")}

    def vm_names(self) -> list[str]:
        """The VMs in the order the run first saw them."""
        return [str(row[0]) for row in self._rows("SELECT name FROM vms ORDER BY rowid")]

    def vms(self) -> list[VmConfig]:
        """Each VM's configuration, in the order the run first saw them."""
        return [
            VmConfig(name, configured, reservation, limit, shares, bool(balloon))
            for name, configured, reservation, limit, shares, balloon in self._rows(
                "SELECT name, configured_bytes, reservation_bytes, limit_bytes, shares, "
                "balloon_present FROM vms ORDER BY rowid"
            )
        ]

    def decision_notes(self, vm: str | None = None) -> list[DecisionNote]:
        """The policy's notes and the VMs left alone, in time order.

        :param vm: only the rows about this VM and the notes about the whole host.
        """
        sql = "SELECT time_s, vm, kind, text FROM decision_notes"
        params: tuple[Any, ...] = ()
        if vm is not None:
            sql += " WHERE vm IS NULL OR vm = ?"
            params = (vm,)
        rows = self._rows(sql + " ORDER BY rowid", params)
        return [DecisionNote(float(t), v, str(k), str(x)) for t, v, k, x in rows]

    def count(self, table: CountedTable, *, kind: str | None = None) -> int:
        """How many rows ``table`` has (``kind``: only events of that kind).

        :raise ValueError: When ``table`` is not one of :data:`CountedTable`, or ``kind``
            is given for a table other than ``events``.
        """
        if table not in get_args(CountedTable):
            raise ValueError(f"table {table!r} is not a table of a run file")
        if kind is None:
            return int(self._one(f"SELECT COUNT(*) FROM {table}")[0])
        if table != "events":
            raise ValueError(f"kind={kind!r} applies to the events table only, not {table}")
        return int(self._one("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,))[0])

    def host_samples(self) -> HostSamples:
        """Every host sample, in time order."""
        rows = self._rows(
            f"SELECT time_s, host_state, {', '.join(HOST_METRICS)} FROM host_samples "
            "ORDER BY time_s"
        )
        return HostSamples(
            time_s=_floats([r[0] for r in rows]),
            columns={m: _floats([r[i + 2] for r in rows]) for i, m in enumerate(HOST_METRICS)},
            states=[r[1] or "" for r in rows],
        )

    def vm_samples(self, vm: str) -> Samples:
        """Every sample of ``vm``, in time order (what a real host can observe)."""
        rows = self._rows(
            f"SELECT time_s, {', '.join(VM_METRICS)} FROM vm_samples WHERE vm = ? ORDER BY time_s",
            (vm,),
        )
        return Samples(
            time_s=_floats([r[0] for r in rows]),
            columns={m: _floats([r[i + 1] for r in rows]) for i, m in enumerate(VM_METRICS)},
        )

    def truth_samples(self) -> dict[str, Samples]:
        """The simulator's ground truth per VM (by VM name), or ``{}`` for a run without it."""
        rows = self._rows(
            f"SELECT vm, time_s, {', '.join(TRUTH_METRICS)} FROM truth ORDER BY vm, time_s"
        )
        by_vm: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_vm.setdefault(row[0], []).append(row[1:])
        return {
            vm: Samples(
                time_s=_floats([r[0] for r in items]),
                columns={
                    m: _floats([r[i + 1] for r in items]) for i, m in enumerate(TRUTH_METRICS)
                },
            )
            for vm, items in by_vm.items()
        }

    def decisions(self) -> list[DecisionRow]:
        """Every balloon target sent, in time order."""
        return [
            DecisionRow.from_row(row)
            for row in self._rows(f"SELECT {_DECISION_COLUMNS} FROM decisions ORDER BY time_s")
        ]

    def events(self) -> list[EventRow]:
        """Every event (errors, missing VMs, guest OOMs), in time order."""
        return [
            EventRow(*row)
            for row in self._rows("SELECT time_s, vm, kind, message FROM events ORDER BY time_s")
        ]

    # ------------------------------------------------------------ aggregates

    def _table_of(self, metric: str, vm: str | None) -> str:
        table = _TABLE_OF.get(metric)
        if table is None:
            raise ValueError(f"{metric!r} is not a metric of metrics/names.py")
        if (vm is None) != (table == "host_samples"):
            raise ValueError(
                f"{metric} is a {'host' if table == 'host_samples' else 'per-VM'} metric: "
                f"{'give no vm' if table == 'host_samples' else 'name the vm'}"
            )
        return table

    def _aggregate(self, function: str, metric: str, vm: str | None) -> float | None:
        table = self._table_of(metric, vm)
        if vm is None:
            (value,) = self._one(f"SELECT {function}({metric}) FROM {table}")
        else:
            (value,) = self._one(f"SELECT {function}({metric}) FROM {table} WHERE vm = ?", (vm,))
        return None if value is None else float(value)

    def minimum(self, metric: str, vm: str | None = None) -> float | None:
        """The lowest value of ``metric`` (the host's, or ``vm``'s); ``None`` if never measured.

        :raise ValueError: When ``metric`` is no metric name, or ``vm`` is given for a
            host metric or missing for a per-VM one.
        """
        return self._aggregate("MIN", metric, vm)

    def maximum(self, metric: str, vm: str | None = None) -> float | None:
        """The highest value of ``metric``; as :meth:`minimum`."""
        return self._aggregate("MAX", metric, vm)

    def total(self, metric: str, vm: str | None = None) -> float | None:
        """The sum of ``metric`` over its rows (for per-period counts such as
        ``guest_oom_events``; a rate wants :meth:`integral`); ``vm`` may be left out for a
        truth metric, to sum over every VM. As :meth:`minimum` otherwise."""
        if vm is None and _TABLE_OF.get(metric) == "truth":
            (value,) = self._one(f"SELECT SUM({metric}) FROM truth")
            return None if value is None else float(value)
        return self._aggregate("SUM", metric, vm)

    def last(self, metric: str, vm: str) -> float | None:
        """``vm``'s newest value of ``metric`` (``None``: no sample, or not measured)."""
        table = self._table_of(metric, vm)
        rows = self._rows(
            f"SELECT {metric} FROM {table} WHERE vm = ? ORDER BY time_s DESC LIMIT 1", (vm,)
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def time_span(self) -> tuple[float | None, float | None]:
        """The first and last host sample's time (``None`` before the first)."""
        first, last = self._one("SELECT MIN(time_s), MAX(time_s) FROM host_samples")
        return first, last

    def integral(self, rate: str, vm: str | None = None) -> float | None:
        """A rate integrated over the run: each sample's value times the period it covers
        (since the previous sample); ``None`` when no sample measured it.

        :raise ValueError: As :meth:`minimum`.
        """
        table = self._table_of(rate, vm)
        if vm is None:
            row = self._one(
                f"SELECT SUM(v * dt), COUNT(v) FROM (SELECT {rate} AS v, {_DT} AS dt FROM {table})"
            )
        else:
            row = self._one(
                f"SELECT SUM(v * dt), COUNT(v) FROM (SELECT {rate} AS v, {_VM_DT} AS dt "
                f"FROM {table} WHERE vm = ?)",
                (vm,),
            )
        return None if not row[1] else float(row[0] or 0.0)

    def seconds_in_state(self) -> dict[str | None, float]:
        """Seconds the host spent in each free-memory state it was seen in (each sample
        counting for the period it covers); a sample without a state is under ``None``."""
        return {
            state: float(seconds or 0.0)
            for state, seconds in self._rows(
                f"SELECT host_state, SUM(dt) FROM (SELECT host_state, {_DT} AS dt "
                "FROM host_samples) GROUP BY host_state"
            )
        }

    def resident_floor(self, vm: str, reservation_bytes: int) -> ResidentFloor:
        """``vm``'s lowest resident memory once it first reached ``reservation_bytes``,
        and the samples below the reservation after that (see :class:`ResidentFloor`)."""
        (first,) = self._one(
            "SELECT MIN(time_s) FROM vm_samples WHERE vm = ? AND resident_bytes >= ?",
            (vm, reservation_bytes),
        )
        if reservation_bytes <= 0 or first is None:
            (low,) = self._one("SELECT MIN(resident_bytes) FROM vm_samples WHERE vm = ?", (vm,))
            return ResidentFloor(low, 0)
        low, below = self._one(
            "SELECT MIN(resident_bytes), SUM(resident_bytes < ?) FROM vm_samples "
            "WHERE vm = ? AND time_s >= ?",
            (reservation_bytes, vm, first),
        )
        return ResidentFloor(low, int(below or 0))

    def workload_means(self, vm: str) -> WorkloadMeans | None:
        """The mean of what ``vm``'s workload reported and its worst p99; ``None`` when
        it never reported a latency (a simulated run, or no workload program)."""
        accesses, p50, p99, worst, count = self._one(
            "SELECT AVG(workload_accesses_per_s), AVG(workload_latency_p50_seconds), "
            "AVG(workload_latency_p99_seconds), MAX(workload_latency_p99_seconds), "
            "COUNT(workload_latency_p99_seconds) FROM vm_samples WHERE vm = ?",
            (vm,),
        )
        if not count:
            return None
        return WorkloadMeans(accesses, p50, p99, worst)

    def truth_totals(self, vm: str) -> TruthTotals:
        """``vm``'s simulator truth over the run (all ``None`` without a truth table)."""
        return TruthTotals(
            *self._one(
                "SELECT MAX(true_working_set_bytes), SUM(stall_seconds_guest_swap), "
                "SUM(stall_seconds_host_swap), SUM(stall_seconds_cache_miss), "
                "SUM(stall_seconds_balloon), "
                "SUM(nominal_accesses), SUM(achieved_accesses) FROM truth WHERE vm = ?",
                (vm,),
            )
        )

    def balloon_moved_bytes(self, vm: str | None = None) -> float:
        """Sum over VMs of |Δ balloon_actual| between consecutive samples: how much
        memory the balloons moved in all (``vm``: that VM's balloon alone)."""
        where, params = ("", ()) if vm is None else (" WHERE vm = ?", (vm,))
        (moved,) = self._one(
            "SELECT SUM(ABS(d)) FROM (SELECT balloon_actual_bytes - LAG(balloon_actual_bytes) "
            f"OVER (PARTITION BY vm ORDER BY time_s) AS d FROM vm_samples{where})",
            params,
        )
        return float(moved or 0.0)

    # ------------------------------------------------------------ following

    def latest_host_sample(self) -> dict[str, Any] | None:
        """The newest host sample by column (``time_s``, ``host_state``, the host metrics),
        or ``None`` before the first."""
        columns = ("time_s", "host_state", *HOST_METRICS)
        rows = self._rows(
            f"SELECT {', '.join(columns)} FROM host_samples ORDER BY rowid DESC LIMIT 1"
        )
        return dict(zip(columns, rows[0], strict=True)) if rows else None

    def latest_vm_sample(self, vm: str) -> dict[str, Any] | None:
        """``vm``'s newest sample by column (``time_s`` and the VM metrics), or ``None``."""
        columns = ("time_s", *VM_METRICS)
        rows = self._rows(
            f"SELECT {', '.join(columns)} FROM vm_samples WHERE vm = ? "
            "ORDER BY time_s DESC LIMIT 1",
            (vm,),
        )
        return dict(zip(columns, rows[0], strict=True)) if rows else None

    def latest_truth(self, metric: str, vm: str) -> float | None:
        """``vm``'s newest value of the truth metric ``metric`` (``None`` without truth)."""
        if _TABLE_OF.get(metric) != "truth":
            raise ValueError(f"{metric!r} is not a truth metric of metrics/names.py")
        return self.last(metric, vm)

    def decisions_after(self, rowid: int) -> tuple[int, list[DecisionRow]]:
        """The decisions written after the one numbered ``rowid`` (0: from the start), in
        the order written, and the number of the last of them (``rowid`` if none), so a
        reader following a growing file reads each decision once."""
        rows = self._rows(
            f"SELECT rowid, {_DECISION_COLUMNS} FROM decisions WHERE rowid > ? ORDER BY rowid",
            (rowid,),
        )
        return (int(rows[-1][0]) if rows else rowid), [
            DecisionRow.from_row(row[1:]) for row in rows
        ]


def _read_error(path: Path, err: sqlite3.Error) -> StoreError:
    """SQLite's error as ours: the writer's lock, an unreadable file, or not a run file."""
    if isinstance(err, sqlite3.OperationalError):
        if "locked" in str(err) or "busy" in str(err):
            return RunFileBusyError(f"{path}: its writer holds the lock ({err})")
        return StoreError(f"{path}: cannot read run file ({err})")
    return StoreError(f"{path}: not a juggler run file ({err})")


class RunFollower:
    """A run file that may not exist yet, may still be written, or may be replaced by a
    new run of the same name, opened read-only (``juggler top``'s view of it).

    :param path: the run file; it need not exist yet.
    :param lock_timeout_s: how long a read may wait for the writer's lock before it
        raises :class:`~juggler.errors.RunFileBusyError` (the view must stay responsive).
    """

    def __init__(self, path: str | Path, lock_timeout_s: float = 0.25) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._store: RunStore | None = None
        self._inode: int | None = None
        #: the file was open and has since been removed
        self.removed = False

    @property
    def waiting(self) -> str | None:
        """Why there is nothing to read yet (None once the run file is open)."""
        if self._store is not None:
            return None
        if run_file_state(self.path) == "absent":
            return f"waiting for {self.path} to appear"
        return f"waiting for {self.path} to be laid out by its writer"

    def current(self) -> RunStore | None:
        """The run file, open for reading; a new :class:`RunStore` when a new run replaced
        the file (so a reader knows to start over); ``None`` while it does not exist or
        its writer is still laying it out, or since it was removed (:attr:`removed`).

        :raise RunFileBusyError: When the writer held its lock while it was opened.
        :raise StoreError: When the path is not a run file this juggler reads.
        """
        try:
            inode: int | None = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._store is not None and inode == self._inode:
            return self._store
        was_open = self._store is not None
        self.close()
        if inode is None:
            self.removed = self.removed or was_open
            return None
        self.removed = False
        state = run_file_state(self.path)
        if state == "foreign":
            raise StoreError(f"{self.path}: not a juggler run file")
        if state != "ready":
            return None
        self._store = RunStore._open_following(self.path, self.lock_timeout_s)
        self._inode = inode
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> RunFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

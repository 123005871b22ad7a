"""What ``juggler top`` shows, read from a run file as plain rows.

The view only draws; everything it draws is computed here, from the run file
alone, so the same rows can be checked in tests without a terminal. A run
file may still be growing (the writer commits at least every second), may
not exist yet (a lab run creates it once its guests have booted), or may be
replaced by a new run of the same name: :class:`RunReader` copes with all
three and never blocks the view for long on the writer's lock.

"Latest" means the VM's newest sample, which is the host's newest too unless
the VM went missing (``age_s`` then says how old its row is). Rates are those
of that sample: over the period since the VM's previous sample (one tick in
the simulator, one interval in the lab). NULL in the file (not measured)
stays ``None`` here and is drawn ``-``: unknown is never shown as 0.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from juggler.errors import StoreError

#: the tables a run file has (metrics/store.py); a SQLite file holding only
#: some of them is still being created, one holding others is not ours
_RUN_TABLES = frozenset(
    {"meta", "vms", "host_samples", "vm_samples", "truth", "decisions", "decision_notes", "events"}
)
_SQLITE_MAGIC = b"SQLite format 3\x00"

_HOST_COLUMNS = (
    "time_s",
    "host_state",
    "host_memory_bytes",
    "host_available_bytes",
    "host_swap_used_bytes",
    "host_swap_in_bytes_per_s",
    "host_swap_out_bytes_per_s",
    "host_psi_some_avg10",
    "host_psi_full_avg10",
)
_VM_COLUMNS = (
    "time_s",
    "configured_bytes",
    "balloon_target_bytes",
    "balloon_actual_bytes",
    "resident_bytes",
    "host_swapped_bytes",
    "vm_host_swap_in_bytes_per_s",
    "vm_host_swap_out_bytes_per_s",
    "guest_swap_in_bytes_per_s",
    "guest_swap_out_bytes_per_s",
    "guest_available_bytes",
    "working_set_estimate_bytes",
    "workload_accesses_per_s",
    "workload_latency_p99_seconds",
)


@dataclass(frozen=True)
class VmRow:
    """One VM as top shows it; ``None`` is unknown."""

    name: str
    #: MEMSZ: the memory the guest was configured with
    configured_bytes: int | None
    #: SZTGT: what the manager wants the VM to hold (configured − balloon target)
    target_bytes: int | None
    resident_bytes: int | None
    #: MCTLSZ: memory the balloon holds (taken from the guest)
    balloon_bytes: int | None
    #: SWCUR: guest memory the host has swapped out
    host_swapped_bytes: int | None
    host_swap_in_bytes_per_s: float | None
    host_swap_out_bytes_per_s: float | None
    guest_swap_in_bytes_per_s: float | None
    guest_swap_out_bytes_per_s: float | None
    guest_available_bytes: int | None
    working_set_estimate_bytes: int | None
    #: nominal over achieved work in the last period (simulated runs only)
    slowdown: float | None
    #: the lab workload's own view of the last period: accesses per second, and the
    #: worst second's p99 latency (None when it timed no access: idle, or not a lab run)
    workload_accesses_per_s: float | None
    workload_latency_p99_seconds: float | None
    #: the manager's last decision for this VM: its reason and when
    reason: str | None
    reason_time_s: float | None
    #: how much older this VM's row is than the host's newest sample
    age_s: float | None


@dataclass(frozen=True)
class Header:
    """The host and the run, for the lines above the table."""

    scenario: str | None
    policy: str | None
    backend: str | None
    #: run time of the newest sample (simulated seconds for the simulator)
    time_s: float | None
    #: how long the run was asked to last, when the run file says
    duration_s: float | None
    #: the writer has finished (``wall_seconds`` is recorded at the end)
    finished: bool
    host_state: str | None
    host_memory_bytes: int | None
    host_available_bytes: int | None
    host_swap_used_bytes: int | None
    host_swap_in_bytes_per_s: float | None
    host_swap_out_bytes_per_s: float | None
    psi_some: float | None
    psi_full: float | None
    #: sum of the VMs' configured memory over host memory (a lab run: over the host the
    #: scenario means, ``lab_host_bytes``, not its cgroup's limit, which adds QEMU's
    #: own overhead; as ``summarize`` counts it)
    overcommit_ratio: float | None


@dataclass(frozen=True)
class Snapshot:
    """Everything one screen shows."""

    header: Header
    rows: tuple[VmRow, ...]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _latency(value: Any) -> float | None:
    """A workload latency; an idle workload reports 0 (it timed no access), which is
    no latency at all, so unknown rather than a fast 0."""
    return None if value is None or float(value) <= 0 else float(value)


def planned_duration(meta: dict[str, str]) -> float | None:
    """The run's requested duration from its scenario, or None when the file does not say."""
    try:
        return float(json.loads(meta["scenario_json"])["run"]["duration"])
    except (KeyError, TypeError, ValueError):
        return None


def build_snapshot(
    meta: dict[str, str],
    configured: dict[str, int | None],
    host: dict[str, Any] | None,
    samples: dict[str, dict[str, Any]],
    slowdowns: dict[str, float | None],
    reasons: dict[str, tuple[float, str]],
) -> Snapshot:
    """Turn the newest rows of a run file into what top shows.

    Pure, so the arithmetic (target, over-commit, NULLs, ages) is tested without SQLite.

    :param meta: the run's ``meta`` table.
    :param configured: each VM's configured bytes from the ``vms`` table, in run order.
    :param host: the newest ``host_samples`` row by column name, or None before the first.
    :param samples: each VM's newest ``vm_samples`` row by column name.
    :param slowdowns: each VM's newest ``truth.slowdown`` (absent without a truth table).
    :param reasons: each VM's last decision as ``(time_s, reason)``.
    """
    host = host or {}
    memory = _int(host.get("host_memory_bytes"))
    total = sum(v for v in configured.values() if v is not None)
    try:
        shared = int(meta.get("lab_host_bytes") or 0) or memory
    except ValueError:
        shared = memory
    header = Header(
        scenario=meta.get("scenario"),
        policy=meta.get("policy"),
        backend=meta.get("backend"),
        time_s=_float(host.get("time_s")),
        duration_s=planned_duration(meta),
        finished="wall_seconds" in meta,
        host_state=host.get("host_state"),
        host_memory_bytes=memory,
        host_available_bytes=_int(host.get("host_available_bytes")),
        host_swap_used_bytes=_int(host.get("host_swap_used_bytes")),
        host_swap_in_bytes_per_s=_float(host.get("host_swap_in_bytes_per_s")),
        host_swap_out_bytes_per_s=_float(host.get("host_swap_out_bytes_per_s")),
        psi_some=_float(host.get("host_psi_some_avg10")),
        psi_full=_float(host.get("host_psi_full_avg10")),
        overcommit_ratio=total / shared if shared and configured else None,
    )
    rows = []
    for name, conf in configured.items():
        sample = samples.get(name, {})
        vm_conf = _int(sample.get("configured_bytes"))
        vm_conf = conf if vm_conf is None else vm_conf
        target = _int(sample.get("balloon_target_bytes"))
        time_s = _float(sample.get("time_s"))
        reason = reasons.get(name)
        rows.append(
            VmRow(
                name=name,
                configured_bytes=vm_conf,
                target_bytes=None if vm_conf is None or target is None else vm_conf - target,
                resident_bytes=_int(sample.get("resident_bytes")),
                balloon_bytes=_int(sample.get("balloon_actual_bytes")),
                host_swapped_bytes=_int(sample.get("host_swapped_bytes")),
                host_swap_in_bytes_per_s=_float(sample.get("vm_host_swap_in_bytes_per_s")),
                host_swap_out_bytes_per_s=_float(sample.get("vm_host_swap_out_bytes_per_s")),
                guest_swap_in_bytes_per_s=_float(sample.get("guest_swap_in_bytes_per_s")),
                guest_swap_out_bytes_per_s=_float(sample.get("guest_swap_out_bytes_per_s")),
                guest_available_bytes=_int(sample.get("guest_available_bytes")),
                working_set_estimate_bytes=_int(sample.get("working_set_estimate_bytes")),
                slowdown=slowdowns.get(name),
                workload_accesses_per_s=_float(sample.get("workload_accesses_per_s")),
                workload_latency_p99_seconds=_latency(sample.get("workload_latency_p99_seconds")),
                reason=reason[1] if reason else None,
                reason_time_s=reason[0] if reason else None,
                age_s=(
                    None
                    if time_s is None or header.time_s is None
                    else max(0.0, header.time_s - time_s)
                ),
            )
        )
    return Snapshot(header, tuple(rows))


def check_run_path(path: Path) -> None:
    """Refuse, before any screen is drawn, a path that can never become a run file.

    A missing or empty file is fine (the run may not have created it yet).

    :raise StoreError: When the path is a directory, not SQLite, or another program's database.
    """
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a run file")
    if _state(path) == "foreign":
        raise StoreError(f"{path}: not a juggler run file")


def _state(path: Path) -> str:
    """``absent``, ``creating`` (the writer is laying out the schema), ``ready`` or ``foreign``."""
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
            if not tables <= _RUN_TABLES:
                return "foreign"
            if tables != _RUN_TABLES:
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


class RunReader:
    """Follows one run file: each :meth:`poll` returns the newest :class:`Snapshot`.

    :param path: the run file; it need not exist yet.
    :param lock_timeout_s: how long a poll may wait for the writer's lock before
        giving up and returning the previous snapshot (the view must stay responsive).
    """

    def __init__(self, path: str | Path, lock_timeout_s: float = 0.25) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._db: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._meta: dict[str, str] = {}
        self._last_decision = 0
        self._reasons: dict[str, tuple[float, str]] = {}
        self._last: Snapshot | None = None

    @property
    def waiting(self) -> str | None:
        """Why there is nothing to show yet (None once the run file is readable)."""
        if self._db is not None:
            return None
        if _state(self.path) == "absent":
            return f"waiting for {self.path} to appear"
        return f"waiting for {self.path} to be laid out by its writer"

    def poll(self) -> Snapshot | None:
        """The newest snapshot; the previous one while the writer holds its lock; None
        while the file does not exist or is still being created.

        :raise StoreError: When the path turns out not to be a juggler run file.
        """
        try:
            if not self._connected():
                return None
            self._last = self._read()
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err):
                raise StoreError(f"{self.path}: cannot read run file ({err})") from err
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not a juggler run file ({err})") from err
        return self._last

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _connected(self) -> bool:
        """Open the file once it is a complete run file; reopen it when a new run replaced it."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._db is not None and inode == self._inode:
            return True
        self.close()
        if inode is None:
            return self._last is not None  # removed: keep showing what was there
        state = _state(self.path)
        if state == "foreign":
            raise StoreError(f"{self.path}: not a juggler run file")
        if state != "ready":
            return False
        self._db = sqlite3.connect(
            f"file:{self.path}?mode=ro",
            uri=True,
            timeout=self.lock_timeout_s,
            check_same_thread=False,
        )
        self._inode = inode
        self._meta = {}
        self._last_decision = 0
        self._reasons = {}
        self._last = None
        return True

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self._db is not None
        return self._db.execute(sql, params).fetchall()

    def _read(self) -> Snapshot:
        if self._db is None:
            assert self._last is not None
            return self._last
        if not self._meta or "wall_seconds" not in self._meta:
            # scenario_toml is only for people reading the file; skip it
            self._meta = dict(
                self._rows("SELECT key, value FROM meta WHERE key != 'scenario_toml'")
            )
        configured = {
            name: _int(conf)
            for name, conf in self._rows("SELECT name, configured_bytes FROM vms ORDER BY rowid")
        }
        newest = self._rows(
            f"SELECT {', '.join(_HOST_COLUMNS)} FROM host_samples ORDER BY rowid DESC LIMIT 1"
        )
        host = dict(zip(_HOST_COLUMNS, newest[0], strict=True)) if newest else None
        samples: dict[str, dict[str, Any]] = {}
        slowdowns: dict[str, float | None] = {}
        for name in configured:
            row = self._rows(
                f"SELECT {', '.join(_VM_COLUMNS)} FROM vm_samples WHERE vm = ? "
                "ORDER BY time_s DESC LIMIT 1",
                (name,),
            )
            if row:
                samples[name] = dict(zip(_VM_COLUMNS, row[0], strict=True))
            truth = self._rows(
                "SELECT slowdown FROM truth WHERE vm = ? ORDER BY time_s DESC LIMIT 1", (name,)
            )
            if truth:
                slowdowns[name] = _float(truth[0][0])
        for rowid, time_s, vm, reason in self._rows(
            "SELECT rowid, time_s, vm, reason FROM decisions WHERE rowid > ? ORDER BY rowid",
            (self._last_decision,),
        ):
            self._last_decision = rowid
            self._reasons[vm] = (float(time_s), reason or "")
        return build_snapshot(self._meta, configured, host, samples, slowdowns, self._reasons)

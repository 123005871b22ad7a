"""A run file loaded as arrays: what diagnose may look at (never the truth table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from juggler.metrics.names import HOST_METRICS, VM_METRICS
from juggler.metrics.store import DecisionNote, RunStore


@dataclass
class VmSeries:
    """One VM's samples over time; NULL (not measured) is NaN."""

    name: str
    configured_bytes: int
    reservation_bytes: int
    limit_bytes: int | None
    balloon_present: bool
    t: np.ndarray
    cols: dict[str, np.ndarray]

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]


@dataclass
class HostSeries:
    t: np.ndarray
    state: list[str]
    cols: dict[str, np.ndarray]

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]


@dataclass
class Run:
    meta: dict[str, str]
    host: HostSeries
    vms: dict[str, VmSeries]
    #: (time_s, vm, target, previous, reason)
    decisions: list[tuple[float, str, int, int, str]] = field(default_factory=list)
    #: (time_s, vm, kind, message)
    events: list[tuple[float, str | None, str, str]] = field(default_factory=list)
    #: the policy's notes and the VMs left alone (``RunStore.decision_notes``)
    notes: list[DecisionNote] = field(default_factory=list)
    #: what the guard changed in the decision at (time_s, vm): ``GuardChange`` values
    guards: dict[tuple[float, str], tuple[str, ...]] = field(default_factory=dict)

    @property
    def page_size(self) -> int:
        try:
            return int(self.meta.get("page_size", 4096))
        except ValueError:
            return 4096


def _array(values: list[object]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)  # type: ignore[arg-type]


def load_run(store: RunStore) -> Run:
    """Read everything diagnose needs from ``store``."""
    rows = store.query(
        f"SELECT time_s, host_state, {', '.join(HOST_METRICS)} FROM host_samples ORDER BY time_s"
    )
    host = HostSeries(
        t=_array([r[0] for r in rows]),
        state=[r[1] or "" for r in rows],
        cols={m: _array([r[i + 2] for r in rows]) for i, m in enumerate(HOST_METRICS)},
    )
    vms: dict[str, VmSeries] = {}
    for name, conf, resv, limit, balloon in store.query(
        "SELECT name, configured_bytes, reservation_bytes, limit_bytes, balloon_present "
        "FROM vms ORDER BY rowid"
    ):
        rows = store.query(
            f"SELECT time_s, {', '.join(VM_METRICS)} FROM vm_samples WHERE vm = ? ORDER BY time_s",
            (name,),
        )
        vms[name] = VmSeries(
            name=name,
            configured_bytes=int(conf or 0),
            reservation_bytes=int(resv or 0),
            limit_bytes=None if limit is None else int(limit),
            balloon_present=bool(balloon),
            t=_array([r[0] for r in rows]),
            cols={m: _array([r[i + 1] for r in rows]) for i, m in enumerate(VM_METRICS)},
        )
    decisions = [
        tuple(r)
        for r in store.query(
            "SELECT time_s, vm, balloon_target_bytes, previous_target_bytes, reason FROM decisions "
            "ORDER BY time_s"
        )
    ]
    events = [
        tuple(r)
        for r in store.query("SELECT time_s, vm, kind, message FROM events ORDER BY time_s")
    ]
    notes = store.decision_notes()
    guards = {(t, v): g for t, v, g in store.decision_guards() if g}
    return Run(store.meta(), host, vms, decisions, events, notes, guards)


def between(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """Mask of samples with ``start <= t <= end``."""
    return (t >= start) & (t <= end)


def nz(values: np.ndarray) -> np.ndarray:
    """NaN as 0 (for rates a backend did not report)."""
    return np.nan_to_num(values, nan=0.0)

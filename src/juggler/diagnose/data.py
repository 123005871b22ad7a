"""A run file loaded as arrays: what diagnose may look at (never the truth table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from juggler.metrics.store import DecisionNote, DecisionRow, EventRow, RunStore


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
    decisions: list[DecisionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    #: the policy's notes and the VMs left alone (``RunStore.decision_notes``)
    notes: list[DecisionNote] = field(default_factory=list)

    @property
    def page_size(self) -> int:
        try:
            return int(self.meta.get("page_size", 4096))
        except ValueError:
            return 4096


def load_run(store: RunStore) -> Run:
    """Read everything diagnose needs from ``store``.

    :raise StoreError: When the run file cannot be read.
    """
    samples = store.host_samples()
    host = HostSeries(t=samples.time_s, state=samples.states, cols=samples.columns)
    vms: dict[str, VmSeries] = {}
    for config in store.vms():
        vm = store.vm_samples(config.name)
        vms[config.name] = VmSeries(
            name=config.name,
            configured_bytes=int(config.configured_bytes or 0),
            reservation_bytes=int(config.reservation_bytes or 0),
            limit_bytes=config.limit_bytes,
            balloon_present=config.balloon_present,
            t=vm.time_s,
            cols=vm.columns,
        )
    notes = store.decision_notes()
    return Run(store.meta(), host, vms, store.decisions(), store.events(), notes)


def between(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """Mask of samples with ``start <= t <= end``."""
    return (t >= start) & (t <= end)


def nz(values: np.ndarray) -> np.ndarray:
    """NaN as 0 (for rates a backend did not report)."""
    zeroed: np.ndarray = np.nan_to_num(values, nan=0.0)
    return zeroed

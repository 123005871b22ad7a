"""A run file loaded for the report: what diagnose sees, plus the simulator's truth.

The observable part is :func:`juggler.diagnose.data.load_run`'s, so the report
and ``diagnose`` read the run the same way (and diagnose runs on the very
arrays drawn). The truth table is added apart, only where the run has it.

Where a VM's configured memory is, sample by sample (:func:`memory_layers`):
resident in host RAM, swapped out by the host, held by the balloon, and the
rest, which the guest never touched or released. The run file holds no amount
of guest-swapped memory, only the guest's swap rates; :func:`guest_swapped_estimate`
integrates them, and the report labels that line an estimate. Guest-swapped
pages sit on the guest's swap disk, outside its configured memory, so they are
drawn above it, not as one of its layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from juggler.diagnose import Finding, diagnose_run
from juggler.diagnose.data import Run, VmSeries, load_run
from juggler.metrics.store import RunStore
from juggler.summary import RunSummary, summarize

#: the layers of a VM's configured memory, bottom to top: (key, label). The balloon is
#: on top because it takes memory from the top: its lower edge is configured − balloon,
#: where the balloon target is drawn too (configured − target)
LAYERS: tuple[tuple[str, str], ...] = (
    ("resident", "resident in host RAM"),
    ("host_swapped", "swapped out by the host"),
    ("other", "never touched / released"),
    ("balloon", "held by the balloon"),
)


@dataclass
class Truth:
    """One VM's simulator ground truth over time (simulated runs only)."""

    t: np.ndarray
    cols: dict[str, np.ndarray]


@dataclass
class ReportData:
    """Everything one run's report draws."""

    path: Path
    run: Run
    #: VM name -> truth; empty for runs without simulator truth (lab, production)
    truth: dict[str, Truth]
    summary: RunSummary
    findings: list[Finding]
    t0: float
    t1: float

    @property
    def backend(self) -> str:
        return self.run.meta.get("backend", "")

    @property
    def has_truth(self) -> bool:
        return bool(self.truth)


def load_truth(store: RunStore) -> dict[str, Truth]:
    """The truth table per VM, or ``{}`` when the run has none."""
    return {
        vm: Truth(t=samples.time_s, cols=samples.columns)
        for vm, samples in store.truth_samples().items()
    }


def load_report_data(store: RunStore) -> ReportData:
    """Read a run, summarize it and diagnose it.

    :raise StoreError: When the file is not a juggler run file.
    """
    run = load_run(store)
    times = [run.host.t] + [vm.t for vm in run.vms.values()]
    times = [t for t in times if len(t)]
    t0 = min((float(t[0]) for t in times), default=0.0)
    t1 = max((float(t[-1]) for t in times), default=0.0)
    return ReportData(
        path=store.path,
        run=run,
        truth=load_truth(store),
        summary=summarize(store),
        findings=diagnose_run(run),
        t0=t0,
        t1=max(t1, t0 + 1.0),
    )


def memory_layers(vm: VmSeries) -> dict[str, np.ndarray]:
    """The layers of ``LAYERS`` per sample, in bytes (NaN measurements count as 0).

    ``other`` is what is left of the configured memory; it is never negative, so
    when a backend's resident figure includes more than guest RAM (a lab VM's
    QEMU process counts its own memory too) the stack stands above the
    configured mark rather than hiding the excess.
    """
    configured = vm.col("configured_bytes")
    configured = np.where(np.isnan(configured), float(vm.configured_bytes), configured)
    resident = np.nan_to_num(vm.col("resident_bytes"))
    host_swapped = np.nan_to_num(vm.col("host_swapped_bytes"))
    balloon = np.nan_to_num(vm.col("balloon_actual_bytes"))
    other = np.maximum(0.0, configured - resident - host_swapped - balloon)
    return {
        "resident": resident,
        "host_swapped": host_swapped,
        "other": other,
        "balloon": balloon,
    }


def guest_swapped_estimate(vm: VmSeries) -> np.ndarray | None:
    """Guest swap in use, estimated as the running integral of swap-out minus swap-in,
    never below 0; ``None`` when the guest reported no swap traffic at all.

    An estimate because a page swapped in may keep its swap slot (the swap cache),
    so the guest's real swap use can be higher; the run file records no amount.
    """
    swap_in = vm.col("guest_swap_in_bytes_per_s")
    swap_out = vm.col("guest_swap_out_bytes_per_s")
    if len(vm.t) == 0 or (np.all(np.isnan(swap_in)) and np.all(np.isnan(swap_out))):
        return None
    dt = np.diff(vm.t, prepend=vm.t[0])
    delta = (np.nan_to_num(swap_out) - np.nan_to_num(swap_in)) * dt
    if not np.any(delta):
        return None
    used: np.ndarray = np.empty_like(delta)
    level = 0.0
    for i, step in enumerate(delta):
        level = max(0.0, level + step)
        used[i] = level
    return used

"""``juggler diagnose``: name the root cause of a VM's slowness across the
guest/hypervisor boundary, from a run file.

Diagnose decides only from what a real host observes (``vm_samples``,
``host_samples``, ``decisions``, ``events``); the simulator's ``truth`` table is
never read here, only by the tests that score it. Steps:

1. :mod:`~juggler.diagnose.windows` finds the windows in which each VM waited on
   memory (guest swap-in, major faults, host swap-in of its pages) or lost vCPU
   time to its balloon's moves (estimated by :mod:`~juggler.diagnose.balloon`);
2. :mod:`~juggler.diagnose.causes` attributes each window to a primary cause,
   with secondary ones, neighbours and evidence;
3. :mod:`~juggler.diagnose.recommend` says what to do, with numbers.

A VM without a suffering window gets one finding with cause ``none``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from juggler.diagnose.balloon import cost_model
from juggler.diagnose.causes import CAUSES, attribute
from juggler.diagnose.data import Run, load_run
from juggler.diagnose.notes import guard_changes, policy_notes
from juggler.diagnose.recommend import recommend
from juggler.diagnose.windows import find_windows
from juggler.errors import StoreError
from juggler.metrics.store import RunStore

__all__ = ["CAUSES", "Finding", "diagnose", "diagnose_run"]


@dataclass
class Finding:
    vm: str
    start_s: float
    end_s: float
    cause: str
    secondary: list[str] = field(default_factory=list)
    #: neighbours whose growth squeezed the host: {"vm", "grew_bytes"}
    neighbours: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    recommendation: str = ""
    #: the policy's notes naming this VM and its reasons for leaving it alone, in the
    #: window: {"kind", "text", "count", "first_s", "last_s"} (``diagnose.notes``)
    policy_notes: list[dict[str, Any]] = field(default_factory=list)
    #: how often the guard changed the policy's wish for this VM in the window, by kind
    guard_changes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(
    store: RunStore,
    vm: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> list[Finding]:
    """Findings for every VM (or only ``vm``), within ``[start_s, end_s]``.

    :raise StoreError: When ``vm`` is not in the run.
    """
    return diagnose_run(load_run(store), vm, start_s, end_s)


def diagnose_run(
    run: Run,
    vm: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> list[Finding]:
    if vm is not None and vm not in run.vms:
        known = ", ".join(run.vms) or "none"
        raise StoreError(f"no VM called {vm!r} in this run (VMs: {known})")
    names = [vm] if vm is not None else list(run.vms)
    model = cost_model(run)
    findings: list[Finding] = []
    for name in names:
        series = run.vms[name]
        windows = find_windows(
            series,
            run.page_size,
            start_s,
            end_s,
            balloon_s=model.seconds(series),
            balloon_share=model.share(series),
        )
        for window in windows:
            why = attribute(run, series, window, model)
            findings.append(
                Finding(
                    vm=name,
                    start_s=round(window.start_s, 3),
                    end_s=round(window.end_s, 3),
                    cause=why.cause,
                    secondary=why.secondary,
                    neighbours=[{"vm": n, "grew_bytes": round(g)} for n, g in why.neighbours],
                    evidence=why.evidence,
                    recommendation=recommend(
                        run, series, window, why.cause, why.neighbours, windows
                    ),
                    policy_notes=policy_notes(run, name, window.start_s, window.end_s),
                    guard_changes=guard_changes(run, name, window.start_s, window.end_s),
                )
            )
        if not windows and len(series.t):
            first = float(series.t[0]) if start_s is None else max(start_s, float(series.t[0]))
            last = float(series.t[-1]) if end_s is None else min(end_s, float(series.t[-1]))
            findings.append(
                Finding(
                    vm=name,
                    start_s=round(first, 3),
                    end_s=round(last, 3),
                    cause="none",
                    evidence=[
                        {
                            "metric": "guest_swap_in_bytes_per_s, vm_host_swap_in_bytes_per_s",
                            "window": [round(first, 1), round(last, 1)],
                            "value": "below 1 MiB/s",
                            "unit": "no suffering window",
                        }
                    ],
                    recommendation="nothing to do",
                    policy_notes=policy_notes(run, name, first, last),
                    guard_changes=guard_changes(run, name, first, last),
                )
            )
    return findings

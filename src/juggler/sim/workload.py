"""Workloads: which phase each VM is in, and what that phase asks of the kernels.

A phase says how large the working set is, how it is touched (uniform, zipf,
scan, idle), how fast, and how much file data goes through the page cache.
This module turns a phase into the per-tick numbers the kernels read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from juggler.scenario import Phase, PhaseSpan, VmConfig
from juggler.sim.layout import PAT_IDLE, PATTERN_CODES

#: page touches per second of an idle phase when the scenario does not set one
IDLE_RATE = 50.0
#: how far back "recently touched" reaches for an idle VM's true working set
WORKING_SET_WINDOW_S = 60.0


@dataclass(frozen=True)
class PhaseSettings:
    """A phase in the kernels' terms (pages, per tick)."""

    pattern: int
    working_set_pages: int  # -1: keep the pages the VM already has (idle)
    zipf_exponent: float
    accesses_per_tick: float
    hit_cost_s: float
    cache_pages_per_tick: float
    releases: bool
    busy: float


def phase_settings(phase: Phase, vm: VmConfig, page_size: int, tick_s: float) -> PhaseSettings:
    """Translate a phase into kernel numbers for one VM."""
    rate = phase.rate
    if phase.pattern == "idle" and "rate" not in phase.model_fields_set:
        rate = IDLE_RATE
    per_tick = rate * tick_s
    busy = phase.busy
    hit_cost = busy * vm.vcpus * tick_s / per_tick if per_tick > 0 else 0.0
    ws_pages = -1 if phase.working_set is None else max(1, phase.working_set // page_size)
    return PhaseSettings(
        pattern=PATTERN_CODES[phase.pattern],
        working_set_pages=ws_pages,
        zipf_exponent=phase.zipf_exponent,
        accesses_per_tick=per_tick,
        hit_cost_s=hit_cost,
        cache_pages_per_tick=phase.cache_rate * tick_s / page_size,
        releases=phase.releases,
        busy=busy,
    )


ZIPF_TABLE_POINTS = 4096


def zipf_quantiles(n_pages: int, exponent: float, points: int = ZIPF_TABLE_POINTS) -> np.ndarray:
    """Fractional ranks at evenly spaced quantiles of the Zipf law over n_pages pages
    (page i is touched in proportion to (i+1)**-exponent), from its exact CDF.

    Inside page i the rank runs from i to i+1 as the quantile crosses the page's
    probability, so interpolating between table points (as the kernels do) keeps
    each page's share; drawing a page costs a table look-up, not a power.
    """
    weights = np.arange(1, n_pages + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    u = np.linspace(0.0, 1.0, points + 1)
    page = np.minimum(np.searchsorted(cdf, u, side="right"), n_pages - 1)
    below = np.where(page > 0, cdf[page - 1], 0.0)
    share = cdf[page] - below
    ranks = page + np.clip((u - below) / share, 0.0, 1.0)
    table: np.ndarray = np.minimum(ranks, n_pages - 1e-9)
    return table


def anon_capacity_pages(vm: VmConfig, page_size: int) -> int:
    """The most anonymous pages the VM's workload will ever use."""
    sizes = [p.working_set for p in vm.workload if p.working_set is not None]
    return max(1, max(sizes, default=page_size) // page_size)


def phase_index_at(spans: list[PhaseSpan], time_s: float) -> int:
    """Index of the phase running at time_s (the last one after the end)."""
    for index, span in enumerate(spans):
        if time_s < span.end_s:
            return index
    return len(spans) - 1


def true_working_set_pages(settings: PhaseSettings, current_pages: int, tick_s: float) -> int:
    """The pages the workload really needs now: its working set, or for an idle
    phase the few pages its trickle touches within a minute."""
    if settings.pattern == PAT_IDLE:
        touched = int(settings.accesses_per_tick / tick_s * WORKING_SET_WINDOW_S)
        return min(current_pages, touched)
    return current_pages


def upcoming_working_set_pages(
    spans: list[PhaseSpan],
    settings: list[PhaseSettings],
    now_s: float,
    interval_s: float,
    step_pages: int,
    allocated_pages: int,
    tick_s: float,
) -> int:
    """The true working set a VM must hold now to meet every phase ahead in time:
    what only the simulator, holding the whole scenario, can know.

    The balloon moves at most ``step_pages`` per decision, one every ``interval_s``,
    so a phase starting after n more decisions is met if the VM holds its working set
    less n steps now; the current phase, and one starting before the next decision,
    must be held whole. An idle phase keeps the pages its VM holds, so its few
    recently touched pages are bounded by what the VM has allocated by then.

    :param settings: each span's phase in the kernels' terms, in the spans' order.
    :param step_pages: the Manager's step limit, in pages.
    :param allocated_pages: the anonymous pages the VM holds now.
    """
    largest = 0
    held = allocated_pages
    for index in range(phase_index_at(spans, now_s), len(spans)):
        phase = settings[index]
        pages = held if phase.working_set_pages < 0 else phase.working_set_pages
        held = max(held, pages)
        later = math.ceil((spans[index].start_s - now_s) / interval_s - 1e-9) - 1
        due = true_working_set_pages(phase, pages, tick_s) - max(0, later) * step_pages
        largest = max(largest, due)
    return largest

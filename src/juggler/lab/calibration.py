"""Turn what ``juggler lab calibrate`` measured into a host profile's parameters.

Pure arithmetic over raw readings, kept apart from the code that boots guests
so that each step can be checked by hand (``tests/lab/test_calibration.py``).

The cost of a balloon move is what the guest's workload loses. The workload runs
as fast as it can (``RATE`` 0) on a guest with one vCPU, so every vCPU second the
guest spends elsewhere (the balloon driver, the reclaim it triggers) is a second
of accesses lost. Two corrections make that a guest figure on a shared host:

- the vCPU thread's run-queue wait (``/proc/<qemu>/task/<tid>/schedstat``) is
  taken out of every window: time the host gave to other processes is not time
  the guest spent on anything;
- the vCPU thread's host kernel time (``stime``) beyond its baseline rate is the
  host's side of the move (QEMU discarding the pages, ``madvise``, host page
  faults): under TCG it runs on the vCPU thread, and it is reported apart and
  subtracted, so the profile holds the guest's own cost.

Where the inflated memory came from is read in the guest before and after
(``/proc/meminfo``): the drop of free memory, of file cache, and the growth of
guest swap. Each experiment is dominated by one source, and the per-GiB costs
are solved in order: free memory first (an experiment where it is nearly all
free), then page cache (its free part charged at the free cost), then anonymous
memory through guest swap (free and cache parts charged at theirs).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from juggler.units import GIB


@dataclass(frozen=True)
class Snapshot:
    """Counters read at one instant, in the guest and of its QEMU vCPU thread."""

    #: the workload's accesses since it started
    accesses: int
    #: the guest's monotonic clock, seconds
    guest_s: float
    #: the vCPU thread's run-queue wait so far, seconds (host contention)
    wait_s: float
    #: the vCPU thread's host kernel time so far, seconds
    host_kernel_s: float


@dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    accesses: int
    guest_s: float
    wait_s: float
    host_kernel_s: float

    @staticmethod
    def between(start: Snapshot, end: Snapshot) -> Window:
        return Window(
            end.accesses - start.accesses,
            end.guest_s - start.guest_s,
            end.wait_s - start.wait_s,
            end.host_kernel_s - start.host_kernel_s,
        )

    @property
    def ran_s(self) -> float:
        """Seconds the guest had its vCPU (not waiting for a host CPU)."""
        return self.guest_s - self.wait_s


@dataclass(frozen=True)
class MoveCost:
    """The vCPU seconds one balloon move took from the workload."""

    #: everything the workload lost (guest and host side)
    lost_s: float
    #: the host's part: the vCPU thread's kernel time beyond its baseline rate
    host_s: float

    @property
    def guest_s(self) -> float:
        return self.lost_s - self.host_s


def move_cost(baseline: Window, during: Window) -> MoveCost:
    """What a move cost the workload, against a baseline window without one.

    :raise ValueError: When the baseline has no accesses or no time (the workload
        did not run).
    """
    if baseline.accesses <= 0 or baseline.ran_s <= 0:
        raise ValueError(
            f"the workload did not run in the baseline window ({baseline.accesses} accesses "
            f"in {baseline.guest_s:.2f} s of guest time, {baseline.wait_s:.2f} s of it "
            "waiting for a host CPU)"
        )
    seconds_per_access = baseline.ran_s / baseline.accesses
    lost = during.ran_s - during.accesses * seconds_per_access
    host_rate = baseline.host_kernel_s / baseline.ran_s
    host = during.host_kernel_s - host_rate * during.ran_s
    return MoveCost(lost, host)


@dataclass(frozen=True)
class GuestMemory:
    """A guest's ``/proc/meminfo`` figures, bytes."""

    total: int
    free: int
    cache: int
    anon: int
    swap_used: int


@dataclass(frozen=True)
class Sources:
    """The shares of an inflation taken from free memory, page cache and anonymous
    memory (pushed to guest swap); they sum to 1."""

    free: float
    cache: float
    anon: float


def inflation_sources(before: GuestMemory, after: GuestMemory) -> Sources:
    """Where an inflation's memory came from, from the guest's figures around it.

    Each part is the drop of free memory, of file cache and the growth of guest
    swap (none counted below zero); the shares are of their sum.

    :raise ValueError: When none of them moved (the balloon took nothing measurable).
    """
    free = max(0, before.free - after.free)
    cache = max(0, before.cache - after.cache)
    anon = max(0, after.swap_used - before.swap_used)
    total = free + cache + anon
    if total <= 0:
        raise ValueError("neither free memory, page cache nor guest swap changed")
    return Sources(free / total, cache / total, anon / total)


@dataclass(frozen=True)
class Inflation:
    """One measured inflation: how much, where from, what it cost the guest."""

    bytes: int
    sources: Sources
    guest_cost_s: float


def cost_per_gib_free(moves: list[Inflation]) -> list[float]:
    """vCPU seconds per GiB taken from free memory, one per move (all charged to
    free memory: these moves are the ones where it is nearly all free)."""
    return [m.guest_cost_s / (m.bytes / GIB) for m in moves]


def cost_per_gib_cache(moves: list[Inflation], free_cost: float) -> list[float]:
    """vCPU seconds per GiB of page cache dropped: each move's cost less its free
    part at ``free_cost``, over its cache part."""
    return [
        (m.guest_cost_s - m.bytes / GIB * m.sources.free * free_cost)
        / (m.bytes / GIB * m.sources.cache)
        for m in moves
        if m.sources.cache > 0
    ]


def cost_per_gib_anon(moves: list[Inflation], free_cost: float, cache_cost: float) -> list[float]:
    """vCPU seconds per GiB of anonymous memory pushed to guest swap: each move's
    cost less its free and cache parts, over its anonymous part."""
    return [
        (
            m.guest_cost_s
            - m.bytes / GIB * (m.sources.free * free_cost + m.sources.cache * cache_cost)
        )
        / (m.bytes / GIB * m.sources.anon)
        for m in moves
        if m.sources.anon > 0
    ]


def boot_reserved_fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """The fixed part and the part per GiB of a guest's boot-time memory (reserved
    outside MemTotal, or touched while booting), a straight line through
    ``(configured bytes, bytes)`` points (least squares).

    :raise ValueError: With fewer than two distinct sizes.
    """
    sizes = {size for size, _ in points}
    if len(sizes) < 2:
        raise ValueError("boot-reserved memory needs guests of at least two sizes")
    xs = [size / GIB for size, _ in points]
    ys = [float(reserved) for _, reserved in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return mean_y - slope * mean_x, slope


def retouch_cost(returned: tuple[int, float], backed: tuple[int, float]) -> float:
    """Extra seconds per page to touch a page the balloon gave back, over a page the
    guest freed itself (which the host still backs): first-pass ``(pages, seconds)``
    of each."""
    (n_returned, s_returned), (n_backed, s_backed) = returned, backed
    if n_returned <= 0 or n_backed <= 0:
        raise ValueError("a first pass touched no pages")
    return s_returned / n_returned - s_backed / n_backed


@dataclass(frozen=True)
class Squeeze:
    """One host reclaim of a VM's memory and what the guest touched again after it."""

    #: guest RAM the host swapped out in the squeeze, bytes
    swapped_out: int
    #: of it, what came back while the hot set alone was touched, bytes
    hot_back: int
    #: the hot set's share of the guest RAM resident before the squeeze (what a
    #: blind, random host would take from it)
    hot_resident_share: float


def cold_share(squeeze: Squeeze) -> float:
    """Share of what the host swapped that the guest's hot set did not touch again."""
    if squeeze.swapped_out <= 0:
        raise ValueError("the host swapped nothing out")
    return min(1.0, max(0.0, 1 - squeeze.hot_back / squeeze.swapped_out))


def reclaim_order(squeezes: list[Squeeze]) -> str:
    """``lru`` when the host took from the hot set less than half of what a blind
    host would (its share of resident memory), else ``random``."""
    hot_taken = statistics.median(1 - cold_share(s) for s in squeezes)
    blind = statistics.median(s.hot_resident_share for s in squeezes)
    return "lru" if hot_taken < blind / 2 else "random"


@dataclass(frozen=True)
class Measured:
    """One parameter's values over the repeats, for the table."""

    name: str
    values: tuple[float, ...]
    unit: str
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float | None:
        """(max − min) / |median|, or None with fewer than two values or a zero median."""
        if len(self.values) < 2 or self.median == 0:
            return None
        return (max(self.values) - min(self.values)) / abs(self.median)

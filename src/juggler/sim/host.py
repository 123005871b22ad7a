"""SimulatedHost: a page-level hypervisor host, driven like a real one.

It is a Backend: the Manager calls ``observe()``, ``apply()`` and
``advance()`` on it exactly as on QEMU VMs. ``advance`` runs the numba
kernels one tick at a time; ``observe`` reports only what a real host could
see (guest statistics as the balloon driver reports them, hypervisor
counters), with the simulator's ground truth kept apart in
``Observation.truth``.
"""

from __future__ import annotations

import math

import numpy as np

from juggler.errors import BackendError, SimulationError
from juggler.hoststate import HARD_FREE, LOW_FREE, SOFT_FREE, host_state
from juggler.metrics.names import HOST_STATES
from juggler.observation import Decision, HostSample, Observation, VmSample, VmTruth
from juggler.profile import Profile
from juggler.scenario import PhaseSpan, Scenario
from juggler.sim import kernels
from juggler.sim import layout as L
from juggler.sim.costs import ZERO_FILL_S, device
from juggler.sim.workload import (
    ZIPF_TABLE_POINTS,
    PhaseSettings,
    anon_capacity_pages,
    phase_index_at,
    phase_settings,
    true_working_set_pages,
    upcoming_working_set_pages,
    zipf_quantiles,
)
from juggler.units import format_size

_PSI_WINDOW_S = 10.0
#: guest pages the hypervisor samples per VM per period (ESX: Mem.SamplePeriod, 100 pages)
WS_SAMPLE_PAGES = 200
#: length of a sampling period; long enough that the simulated (sampled) access
#: stream touches an active page with near certainty, as the real one would
WS_SAMPLE_PERIOD_S = 20.0
_PERIOD_COLUMNS = (
    L.STALL_GUEST_SWAP,
    L.STALL_HOST_SWAP,
    L.STALL_CACHE_MISS,
    L.STALL_BALLOON,
    L.NOMINAL,
    L.ACHIEVED,
    L.C_GUEST_SWAP_IN,
    L.C_GUEST_SWAP_OUT,
    L.C_HOST_SWAP_IN,
    L.C_CACHE_MISS,
)


def _seed_streams(seed: int, n: int) -> np.ndarray:
    """n well-mixed, non-zero xorshift states from one seed (splitmix64)."""
    states = np.empty(n, dtype=np.uint64)
    x = (seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    for i in range(n):
        x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        states[i] = (z ^ (z >> 31)) or 1
    return states


class SimulatedHost:
    """A simulated hypervisor host running a scenario's VMs.

    :param scenario: a validated scenario.
    :raise SimulationError: When the guests' kernels alone do not fit the host.
    """

    #: its observations carry the simulator's truth (``Observation.truth``), which a
    #: policy that needs it (``Policy.needs_truth``) reads; a real backend has none
    provides_truth = True

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.page_size = scenario.run.page_size
        self.tick_s = scenario.run.tick
        self.time_s = 0.0
        self.names = [vm.name for vm in scenario.vm]
        self._spans: list[list[PhaseSpan]] = [scenario.spans(vm) for vm in scenario.vm]
        self._phase_index = [-1] * len(scenario.vm)
        self._settings: list[PhaseSettings | None] = [None] * len(scenario.vm)
        self._span_settings = [
            [phase_settings(span.phase, vm, self.page_size, self.tick_s) for span in spans]
            for vm, spans in zip(scenario.vm, self._spans, strict=True)
        ]
        self._build_arrays()
        self._period = np.zeros((len(self.names), L.N_VM_F))
        self._period_s = 0.0
        self._period_oom = self.vm_i[:, L.OOM_EVENTS].copy()
        self._host_swap_mark = (int(self.host_i[L.HOST_SWAP_IN]), int(self.host_i[L.HOST_SWAP_OUT]))
        self._vm_swap_out_mark = self.vm_i[:, L.HOST_SWAP_OUT_PAGES].copy()
        self.psi_some = 0.0
        self.psi_full = 0.0
        self.seconds_in_state = dict.fromkeys(HOST_STATES, 0.0)
        self._ws_rng = np.random.default_rng(scenario.run.seed + 7919)
        self._ws_frames = [self._draw_ws_sample(v) for v in range(len(self.names))]
        self._ws_result: list[tuple[int, int, float] | None] = [None] * len(self.names)
        self._ws_next_s = WS_SAMPLE_PERIOD_S
        self._enter_phases()

    # ------------------------------------------------------------ working-set sampling

    def _draw_ws_sample(self, v: int) -> np.ndarray:
        """Pick random guest frames of VM v and clear the accessed bits of their pages."""
        base = int(self.vm_i[v, L.FRAME_BASE])
        frames = base + self._ws_rng.integers(0, int(self.vm_i[v, L.N_FRAMES]), WS_SAMPLE_PAGES)
        pages = self.frame_page[frames]
        pages = pages[pages >= 0]
        self.page_flags[pages] &= ~np.uint8(L.PF_TOUCHED)
        return frames

    def _sample_working_sets(self) -> None:
        """End a sampling period: count the sampled pages the guests touched, start anew."""
        for v in range(len(self.names)):
            pages = self.frame_page[self._ws_frames[v]]
            mapped = pages[pages >= 0]
            touched = int(((self.page_flags[mapped] & L.PF_TOUCHED) != 0).sum())
            self._ws_result[v] = (WS_SAMPLE_PAGES, touched, self.time_s)
            self._ws_frames[v] = self._draw_ws_sample(v)

    # ------------------------------------------------------------ construction

    def _build_arrays(self) -> None:
        sc = self.scenario
        page = self.page_size
        n_vms = len(sc.vm)
        # read once: a profile given as a file is parsed on every host_profile() call
        profile = sc.host.host_profile()
        inflate_pages = max(1, int(sc.host.inflate_rate * self.tick_s / page))
        deflate_pages = max(1, int(sc.host.deflate_rate * self.tick_s / page))
        self.vm_i = np.zeros((n_vms, L.N_VM_I), dtype=np.int64)
        self.vm_f = np.zeros((n_vms, L.N_VM_F), dtype=np.float64)
        frame_total = 0
        page_total = 0
        for v, vm in enumerate(sc.vm):
            n_frames = vm.memory // page
            anon = anon_capacity_pages(vm, page)
            uses_cache = any(p.cache_rate > 0 for p in vm.workload)
            n_file = max(1, vm.file_bytes // page) if uses_cache else 1
            row = self.vm_i[v]
            row[L.FRAME_BASE] = frame_total
            row[L.N_FRAMES] = n_frames
            row[L.ANON_BASE] = page_total
            row[L.N_ANON_CAP] = anon
            row[L.FILE_BASE] = page_total + anon
            row[L.N_FILE] = n_file
            row[L.SWAP_CAP] = vm.guest_swap // page
            row[L.RESERVATION] = vm.reservation // page
            row[L.LIMIT] = vm.limit_bytes // page
            row[L.BALLOON_PRESENT] = int(vm.balloon)
            row[L.BALLOON_RATE] = inflate_pages
            row[L.DEFLATE_RATE] = deflate_pages
            low = max(64, n_frames // 200)
            row[L.LOW_WM] = low
            row[L.HIGH_WM] = low * 3 // 2
            row[L.SHARES] = vm.shares
            row[L.N_KERNEL] = vm.guest_kernel // page
            row[L.N_RESERVED] = profile.boot_reserved_bytes(vm.memory) // page
            if row[L.N_RESERVED] + row[L.N_KERNEL] >= n_frames:
                raise SimulationError(
                    f"vm {vm.name!r}: the {profile.name!r} profile's boot-reserved memory "
                    f"({format_size(int(row[L.N_RESERVED]) * page)}) and guest_kernel "
                    f"({format_size(vm.guest_kernel)}) leave no memory for the workload in "
                    f"memory ({format_size(vm.memory)}); raise memory or pick a profile that "
                    "reserves less (host.profile)"
                )
            disk = device(vm.guest_swap_device)
            self.vm_f[v, L.GUEST_READ] = disk.read_s
            # the profile's measured cost of a swap-in, where it has one, over the
            # device's latency: a guest's reclaim runs on its own vCPUs too
            swap_in_s = profile.guest.swap_in_s
            self.vm_f[v, L.GUEST_SWAP_READ] = disk.read_s if swap_in_s is None else swap_in_s
            self.vm_f[v, L.BUDGET] = vm.vcpus * self.tick_s
            frame_total += n_frames
            page_total += anon + n_file
        self.zipf_table = np.zeros((n_vms, ZIPF_TABLE_POINTS + 1), dtype=np.float64)
        self.g_state = np.zeros(frame_total, dtype=np.int8)
        self.h_state = np.zeros(frame_total, dtype=np.int8)
        self.frame_page = np.full(frame_total, -1, dtype=np.int32)
        self.free_stack = np.zeros(frame_total, dtype=np.int32)
        self.balloon_stack = np.zeros(frame_total, dtype=np.int32)
        self.page_frame = np.full(page_total, -1, dtype=np.int32)
        self.page_flags = np.zeros(page_total, dtype=np.uint8)
        self.rng = _seed_streams(sc.run.seed, n_vms + 1)

        host_pages = sc.host.memory // page
        pool = (sc.host.memory - n_vms * sc.host.vm_overhead) // page
        kernel_pages = int(self.vm_i[:, L.N_KERNEL].sum() + self.vm_i[:, L.N_RESERVED].sum())
        if pool < kernel_pages:
            raise SimulationError(
                f"host memory {sc.host.memory} bytes cannot hold the VMs' overheads, guest "
                "kernels and boot-reserved memory; raise host.memory or lower "
                "vm_overhead/guest_kernel"
            )
        self.host_pages = host_pages
        self.host_i = np.zeros(L.N_HOST_I, dtype=np.int64)
        self.host_i[L.POOL] = pool
        self.host_i[L.HOST_FREE] = pool - kernel_pages
        self.host_i[L.HOST_SWAP_CAP] = sc.host.swap // page
        self.host_i[L.SOFT_WM] = math.ceil(host_pages * SOFT_FREE)
        self.host_i[L.HARD_WM] = math.ceil(host_pages * HARD_FREE)
        self.host_i[L.LOW_WM_HOST] = math.ceil(host_pages * LOW_FREE)
        self.host_i[L.HOST_RECLAIM] = L.RECLAIM_CODES[sc.host.effective_reclaim]
        self.host_i[L.KEEPS_FREE] = int(profile.host.keeps_free)
        self.host_f = np.zeros(L.N_HOST_F, dtype=np.float64)
        swap = device(sc.host.swap_device)
        self.host_f[L.HOST_READ] = swap.read_s
        self.host_f[L.HOST_WRITE] = swap.write_s
        self.host_f[L.ZERO_FILL] = ZERO_FILL_S
        self._fill_balloon_costs(profile)

        self._boot_guests(profile)

    def _boot_guests(self, profile: Profile) -> None:
        """The guests as they are once booted, before their workloads start.

        Each holds its kernel and what it reserved at boot (``N_RESERVED``, outside
        MemTotal), both resident and never reclaimable, and has touched
        ``profile.boot_touched_bytes(memory)`` while booting and freed it again: those
        frames are free in the guest but still backed by the host (the frames the
        guest hands out first, so the balloon takes them back first and the
        workload's first allocations cost no host page). What the host cannot hold
        it swapped out while the guests booted (shared in proportion to what each
        touched; not counted as swap-out of the run); what its swap cannot hold
        either the guests are taken not to have touched.
        """
        n_vms = self.vm_i.shape[0]
        vm_bytes = [vm.memory for vm in self.scenario.vm]
        touched = np.zeros(n_vms, dtype=np.int64)
        for v in range(n_vms):
            base = int(self.vm_i[v, L.FRAME_BASE])
            n_frames = int(self.vm_i[v, L.N_FRAMES])
            held = int(self.vm_i[v, L.N_KERNEL] + self.vm_i[v, L.N_RESERVED])
            self.g_state[base : base + held] = L.G_KERNEL
            self.h_state[base : base + held] = L.H_RESIDENT
            self.vm_i[v, L.N_RESIDENT] = held
            free = np.arange(base + n_frames - 1, base + held - 1, -1, dtype=np.int32)
            self.free_stack[base : base + free.size] = free
            self.vm_i[v, L.N_FREE] = free.size
            touched[v] = min(free.size, profile.boot_touched_bytes(vm_bytes[v]) // self.page_size)
        room = int(self.host_i[L.HOST_FREE])
        total = int(touched.sum())
        resident = touched if total <= room else touched * room // max(total, 1)
        swap_room = int(self.host_i[L.HOST_SWAP_CAP] - self.host_i[L.HOST_SWAP_USED])
        rest = touched - resident
        swapped = rest if rest.sum() <= swap_room else rest * swap_room // max(int(rest.sum()), 1)
        for v in range(n_vms):
            # the top of the free stack: the guest's lowest free frames
            first = int(self.vm_i[v, L.FRAME_BASE] + self.vm_i[v, L.N_KERNEL])
            first += int(self.vm_i[v, L.N_RESERVED])
            n_res, n_swap = int(resident[v]), int(swapped[v])
            self.h_state[first : first + n_res] = L.H_RESIDENT
            self.h_state[first + n_res : first + n_res + n_swap] = L.H_SWAPPED
            self.vm_i[v, L.N_RESIDENT] += n_res
            self.vm_i[v, L.N_HSWAPPED] += n_swap
            self.host_i[L.HOST_FREE] -= n_res
            self.host_i[L.HOST_SWAP_USED] += n_swap

    def _fill_balloon_costs(self, profile: Profile) -> None:
        """The profile's balloon costs, per page: its figures are vCPU seconds per GiB
        (retouch_s is already per page)."""
        costs = profile.balloon
        per_page = self.page_size / 2**30
        self.host_f[L.INFLATE_CPU_FREE] = costs.inflate_cpu_free * per_page
        self.host_f[L.INFLATE_CPU_CACHE] = costs.inflate_cpu_cache * per_page
        self.host_f[L.INFLATE_CPU_ANON] = costs.inflate_cpu_anon * per_page
        self.host_f[L.DEFLATE_CPU] = costs.deflate_cpu * per_page
        self.host_f[L.RETOUCH] = costs.retouch_s

    # ------------------------------------------------------------ phases

    def _enter_phases(self) -> None:
        """Switch each VM to the phase that runs at the current time."""
        for v, vm in enumerate(self.scenario.vm):
            index = phase_index_at(self._spans[v], self.time_s)
            if index == self._phase_index[v]:
                continue
            self._phase_index[v] = index
            s = phase_settings(self._spans[v][index].phase, vm, self.page_size, self.tick_s)
            self._settings[v] = s
            row = self.vm_i[v]
            allocated = int(row[L.ALLOCATED])
            if s.working_set_pages < 0:
                ws = allocated
            else:
                ws = s.working_set_pages
                if s.releases and ws < allocated:
                    kernels.release_anon_pages(
                        v,
                        ws,
                        self.vm_i,
                        self.g_state,
                        self.frame_page,
                        self.page_frame,
                        self.page_flags,
                        self.free_stack,
                    )
            row[L.WS_PAGES] = ws
            row[L.PATTERN] = s.pattern
            row[L.SCAN_POS] = 0
            row[L.MISS_CURSOR] = 0
            self.vm_f[v, L.RATE] = s.accesses_per_tick if ws > 0 else 0.0
            self.zipf_table[v] = zipf_quantiles(max(ws, 1), s.zipf_exponent)
            self.vm_f[v, L.HIT_COST] = s.hit_cost_s
            self.vm_f[v, L.CACHE_PAGES] = s.cache_pages_per_tick

    # ------------------------------------------------------------ Backend

    def advance(self, seconds: float) -> None:
        """Run the simulation forward by ``seconds`` (whole ticks)."""
        n_ticks = max(1, round(seconds / self.tick_s))
        limit = self.scenario.run.accesses_per_tick
        for _ in range(n_ticks):
            self._enter_phases()
            rates = self.vm_f[:, L.RATE]
            samples = np.minimum(limit, np.ceil(rates)).astype(np.int64)
            kernels.clear_tick(self.vm_i, self.vm_f, *L.TICK_ACCUMULATORS)
            kernels.tick(
                samples,
                self.vm_i,
                self.vm_f,
                self.zipf_table,
                self.g_state,
                self.h_state,
                self.frame_page,
                self.page_frame,
                self.page_flags,
                self.free_stack,
                self.balloon_stack,
                self.host_i,
                self.host_f,
                self.rng,
            )
            self._after_tick()
            self.time_s = round(self.time_s + self.tick_s, 9)
            if self.time_s + 1e-9 >= self._ws_next_s:
                self._sample_working_sets()
                self._ws_next_s += WS_SAMPLE_PERIOD_S

    def _after_tick(self) -> None:
        self._period += self.vm_f
        self._period_s += self.tick_s
        # the host's PSI counts waits for memory; the balloon's stall is vCPU work
        stalled = (
            self.vm_f[:, L.STALL_GUEST_SWAP]
            + self.vm_f[:, L.STALL_HOST_SWAP]
            + self.vm_f[:, L.STALL_CACHE_MISS]
        )
        fraction = np.minimum(1.0, stalled / self.vm_f[:, L.BUDGET])
        decay = math.exp(-self.tick_s / _PSI_WINDOW_S)
        self.psi_some = self.psi_some * decay + 100.0 * float(fraction.max()) * (1 - decay)
        self.psi_full = self.psi_full * decay + 100.0 * float(fraction.min()) * (1 - decay)
        self.seconds_in_state[host_state(self.available_bytes / self.scenario.host.memory)] += (
            self.tick_s
        )

    @property
    def available_bytes(self) -> int:
        return int(self.host_i[L.HOST_FREE]) * self.page_size

    def apply(self, decision: Decision) -> None:
        """Set balloon targets; VMs without a balloon driver ignore them, as real ones do.

        :raise BackendError: When a target names a VM this host does not run (after
            the others are set, as the QEMU backend does): a misspelt name is not
            silently dropped.
        """
        unknown = sorted(set(decision.targets) - set(self.names))
        for v, name in enumerate(self.names):
            target = decision.targets.get(name)
            if target is None or target.balloon_bytes is None:
                continue
            if not self.vm_i[v, L.BALLOON_PRESENT]:
                continue
            pages = target.balloon_bytes // self.page_size
            self.vm_i[v, L.BALLOON_TARGET] = min(max(pages, 0), int(self.vm_i[v, L.N_FRAMES]))
        if unknown:
            raise BackendError("no such VM on the simulated host", unknown[0])

    def observe(self) -> Observation:
        """What a real host would see now, plus the truth for scoring."""
        page = self.page_size
        period = self._period_s
        per_s = 1.0 / period if period > 0 else 0.0
        vms = []
        truth = {}
        for v, vm in enumerate(self.scenario.vm):
            row = self.vm_i[v]
            acc = self._period[v]
            free = int(row[L.N_FREE])
            cache = int(row[L.N_CACHE])
            present = bool(row[L.BALLOON_PRESENT])
            # MemTotal: neither what the guest reserved at boot nor its balloon
            mem_total = int(row[L.N_FRAMES] - row[L.N_RESERVED])
            total_frames = mem_total - int(row[L.N_BALLOON]) if present else mem_total
            swapped_out = int(row[L.HOST_SWAP_OUT_PAGES] - self._vm_swap_out_mark[v])
            ws = self._ws_result[v]
            vms.append(
                VmSample(
                    name=vm.name,
                    configured_bytes=vm.memory,
                    reservation_bytes=vm.reservation,
                    limit_bytes=vm.limit_bytes,
                    shares=vm.shares,
                    balloon_present=present,
                    balloon_target_bytes=int(row[L.BALLOON_TARGET]) * page if present else None,
                    balloon_actual_bytes=int(row[L.N_BALLOON]) * page if present else None,
                    resident_bytes=int(row[L.N_RESIDENT]) * page,
                    host_swapped_bytes=int(row[L.N_HSWAPPED]) * page,
                    vm_host_swap_in_bytes_per_s=acc[L.C_HOST_SWAP_IN] * page * per_s,
                    vm_host_swap_out_bytes_per_s=swapped_out * page * per_s,
                    # what QEMU's blockstats would show: file reads and guest swap
                    vm_disk_read_bytes_per_s=(acc[L.C_CACHE_MISS] + acc[L.C_GUEST_SWAP_IN])
                    * page
                    * per_s,
                    vm_disk_write_bytes_per_s=acc[L.C_GUEST_SWAP_OUT] * page * per_s,
                    guest_total_bytes=total_frames * page,
                    guest_free_bytes=free * page,
                    guest_available_bytes=max(0, free + cache - int(row[L.LOW_WM])) * page,
                    guest_cache_bytes=cache * page,
                    guest_swap_in_bytes_per_s=acc[L.C_GUEST_SWAP_IN] * page * per_s,
                    guest_swap_out_bytes_per_s=acc[L.C_GUEST_SWAP_OUT] * page * per_s,
                    guest_major_faults_per_s=acc[L.C_GUEST_SWAP_IN] * per_s,
                    guest_stats_age_s=0.0,
                    sampled_pages=ws[0] if ws else None,
                    sampled_touched_pages=ws[1] if ws else None,
                    sampled_at_s=ws[2] if ws else None,
                )
            )
            settings = self._settings[v]
            ws_pages = int(row[L.WS_PAGES])
            true_ws = true_working_set_pages(settings, ws_pages, self.tick_s) if settings else 0
            truth[vm.name] = VmTruth(
                true_working_set_bytes=true_ws * page,
                stall_seconds_guest_swap=float(acc[L.STALL_GUEST_SWAP]),
                stall_seconds_host_swap=float(acc[L.STALL_HOST_SWAP]),
                stall_seconds_cache_miss=float(acc[L.STALL_CACHE_MISS]),
                stall_seconds_balloon=float(acc[L.STALL_BALLOON]),
                nominal_accesses=float(acc[L.NOMINAL]),
                achieved_accesses=float(acc[L.ACHIEVED]),
                guest_oom_events=int(row[L.OOM_EVENTS] - self._period_oom[v]),
                upcoming_need_bytes=self._upcoming_need_pages(v) * page,
            )
        swap_in = int(self.host_i[L.HOST_SWAP_IN]) - self._host_swap_mark[0]
        swap_out = int(self.host_i[L.HOST_SWAP_OUT]) - self._host_swap_mark[1]
        available = self.available_bytes
        host = HostSample(
            host_memory_bytes=self.scenario.host.memory,
            host_available_bytes=available,
            host_swap_used_bytes=int(self.host_i[L.HOST_SWAP_USED]) * page,
            host_swap_in_bytes_per_s=swap_in * page * per_s,
            host_swap_out_bytes_per_s=swap_out * page * per_s,
            host_psi_some_avg10=self.psi_some,
            host_psi_full_avg10=self.psi_full,
            # the simulated host keeps no page cache: its free memory is MemFree +
            # Buffers + Cached
            host_free_cached_bytes=available,
        )
        observation = Observation(
            time_s=self.time_s,
            host=host,
            vms=tuple(vms),
            host_state=host_state(available / self.scenario.host.memory),
            truth=truth,
        )
        self._reset_period()
        return observation

    def _upcoming_need_pages(self, v: int) -> int:
        """What VM v must hold now to meet what it is about to need: what the guest
        itself holds (its kernel, its boot-reserved memory, the free pages its
        reclaim keeps), and the larger of the working set ahead (met in time at the
        Manager's step limit) and the anonymous pages its swap has no room for."""
        row = self.vm_i[v]
        manager = self.scenario.manager
        ahead = upcoming_working_set_pages(
            self._spans[v],
            self._span_settings[v],
            self.time_s,
            manager.interval,
            manager.max_step // self.page_size,
            int(row[L.ALLOCATED]),
            self.tick_s,
        )
        unswappable = int(row[L.N_ANON] - (row[L.SWAP_CAP] - row[L.SWAP_USED]))
        held = int(row[L.N_KERNEL] + row[L.N_RESERVED] + row[L.LOW_WM])
        # the page cache of the files it is reading now, where they fit beside the
        # working set (dropped, it is read again; a scan bigger than that never hits)
        settings = self._settings[v]
        reading = settings is not None and settings.cache_pages_per_tick > 0
        room = int(row[L.N_FRAMES]) - held - ahead
        fits = reading and int(row[L.N_FILE]) <= room
        cache = min(int(row[L.N_CACHE]), int(row[L.N_FILE])) if fits else 0
        return held + max(ahead + cache, unswappable)

    def _reset_period(self) -> None:
        self._period[:] = 0.0
        self._period_s = 0.0
        self._period_oom = self.vm_i[:, L.OOM_EVENTS].copy()
        self._host_swap_mark = (int(self.host_i[L.HOST_SWAP_IN]), int(self.host_i[L.HOST_SWAP_OUT]))
        self._vm_swap_out_mark = self.vm_i[:, L.HOST_SWAP_OUT_PAGES].copy()

    def close(self) -> None:
        """Nothing to release: the simulated host lives in this process's memory."""

    # ------------------------------------------------------------ checks

    def check_invariants(self) -> None:
        """Verify the bookkeeping against the frame arrays (slow; for tests).

        :raise SimulationError: When any counter disagrees with the frames, or the
            host backs more pages than it has.
        """
        problems = []
        host_resident = 0
        host_swapped = 0
        for v, name in enumerate(self.names):
            row = self.vm_i[v]
            base, n = int(row[L.FRAME_BASE]), int(row[L.N_FRAMES])
            g = self.g_state[base : base + n]
            h = self.h_state[base : base + n]
            expect = {
                "kernel": (int((g == L.G_KERNEL).sum()), int(row[L.N_KERNEL] + row[L.N_RESERVED])),
                "free": (int((g == L.G_FREE).sum()), int(row[L.N_FREE])),
                "anon": (int((g == L.G_ANON).sum()), int(row[L.N_ANON])),
                "cache": (int((g == L.G_CACHE).sum()), int(row[L.N_CACHE])),
                "balloon": (int((g == L.G_BALLOON).sum()), int(row[L.N_BALLOON])),
                "resident": (int((h == L.H_RESIDENT).sum()), int(row[L.N_RESIDENT])),
                "host-swapped": (int((h == L.H_SWAPPED).sum()), int(row[L.N_HSWAPPED])),
            }
            for what, (counted, kept) in expect.items():
                if counted != kept:
                    problems.append(f"{name}: {what} frames {counted} but counter {kept}")
            stack = set(self.free_stack[base : base + int(row[L.N_FREE])].tolist())
            if stack != set((np.flatnonzero(g == L.G_FREE) + base).tolist()):
                problems.append(f"{name}: free stack does not match free frames")
            pages = self.frame_page[base : base + n]
            holding = (g == L.G_ANON) | (g == L.G_CACHE)
            if (pages[holding] < 0).any() or (pages[~holding] >= 0).any():
                problems.append(f"{name}: frame/page mapping disagrees with guest states")
            mapped = pages[holding]
            if mapped.size and (self.page_frame[mapped] != np.flatnonzero(holding) + base).any():
                problems.append(f"{name}: page_frame does not point back at its frame")
            hit = (self.page_flags[mapped] & L.PF_HIT) != 0
            if mapped.size and (hit != (h[holding] == L.H_RESIDENT)).any():
                problems.append(f"{name}: a page's hit bit disagrees with its frame's backing")
            backing = h[(g == L.G_ANON) | (g == L.G_CACHE)]
            if ((backing == L.H_UNBACKED) | (backing == L.H_RETURNED)).any():
                problems.append(f"{name}: a frame holding data has no host backing")
            anon = slice(int(row[L.ANON_BASE]), int(row[L.ANON_BASE] + row[L.N_ANON_CAP]))
            swapped = int(((self.page_flags[anon] & L.PF_SWAPPED) != 0).sum())
            if swapped != int(row[L.SWAP_USED]) or swapped > int(row[L.SWAP_CAP]):
                problems.append(f"{name}: guest swap used {row[L.SWAP_USED]} vs pages {swapped}")
            host_resident += int(row[L.N_RESIDENT])
            host_swapped += int(row[L.N_HSWAPPED])
        pool = int(self.host_i[L.POOL])
        if host_resident + int(self.host_i[L.HOST_FREE]) != pool:
            problems.append(
                f"host: resident {host_resident} + free {self.host_i[L.HOST_FREE]} != pool {pool}"
            )
        if host_resident > pool or self.host_i[L.HOST_FREE] < 0:
            problems.append("host: backs more pages than it has")
        if host_swapped != int(self.host_i[L.HOST_SWAP_USED]):
            problems.append(f"host: swapped frames {host_swapped} vs swap used")
        if problems:
            raise SimulationError("; ".join(problems))

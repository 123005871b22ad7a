"""QEMU VMs over QMP: the backend for the lab and for production QEMU hosts.

Per VM it reads, each observation, from both sides of the guest/hypervisor
boundary:

- QMP ``query-balloon``: ``actual`` is the memory the guest has now, so the
  balloon holds ``configured - actual``;
- QMP ``qom-get <balloon> guest-stats``: what the guest's balloon driver
  reports (total, free, available, cache, cumulative swap-in/out and major
  faults, from which rates are made between two guest updates);
- QMP ``query-blockstats``: the guest's disk reads and writes as the
  hypervisor sees them (guest swapping and file reads show here even when the
  guest reports nothing), as rates between two observations;
- ``/proc/<qemu pid>/smaps``: the resident and swapped-out parts of the guest's
  RAM mapping, the VM's resident and host-swapped memory (the pid comes from
  the QMP socket's peer credentials); QEMU's own memory (~100 MiB under TCG) is
  not the guest's, so it is left out, and ``VmRSS``/``VmSwap`` are used only
  when the RAM mapping cannot be told apart. The host keeps no per-process
  swap-in count, but a swapped-out guest page touched again is a major fault
  of QEMU (``/proc/<pid>/stat``): host swap-in is the major fault rate in
  pages, and swap-out is the growth of swapped memory plus what came back in
  (without the fault count: the net change, growth as swap-out, shrinkage as
  swap-in);
- the serial console log, when given (``QemuVm.console_path``): the lab
  workload's own accesses and latency (:mod:`juggler.backends.console`);

and, once for the host, ``/proc/meminfo``, ``/proc/vmstat`` and PSI
(:class:`~juggler.backends.linuxhost.HostReader`), or, in the lab, the memory
cgroup that plays the host (:func:`juggler.hosts.cgroup.read_memory`): its limit
is host memory, limit minus usage is available, its swap is host swap, and its
``memory.pressure`` (cgroup v2) the host's PSI. ``apply`` sends QMP
``balloon`` with ``value = configured - balloon_bytes``.

Async core, sync edge: :class:`AsyncQemuBackend` talks to every VM at once
(one :class:`~juggler.backends.qmp.QmpChannel` each, each call time-bounded),
and :class:`QemuBackend` is the synchronous :class:`~juggler.backend.Backend`
the manager drives, running the core on one event loop for its whole life.
A VM that does not answer is reported in ``Observation.missing`` with the
reason, and reconnected at the next observation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from juggler.backends.console import ConsoleTail, summarize_reports
from juggler.backends.linuxhost import (
    PAGE_BYTES,
    Counters,
    HostReader,
    guest_ram_memory,
    process_major_faults,
    process_memory,
)
from juggler.backends.qmp import QmpChannel, Runstate
from juggler.errors import BackendError, CommandError, HostError
from juggler.hosts.cgroup import read_memory
from juggler.observation import Decision, HostSample, Observation, VmSample

T = TypeVar("T")

log = logging.getLogger(__name__)

#: the QOM containers where ``-device ...,id=X`` and id-less devices live
_PERIPHERAL_PATHS = ("/machine/peripheral", "/machine/peripheral-anon")
#: QEMU reports an unknown statistic as -1, which JSON carries as 2^64-1
_NOT_REPORTED = (-1, 2**64 - 1)


@dataclass(frozen=True)
class QemuVm:
    """How to reach one VM, and the policy settings QEMU does not know."""

    name: str
    #: the VM's QMP unix socket
    qmp_path: Path
    #: the QEMU process id (default: learnt from the socket's peer credentials)
    pid: int | None = None
    reservation_bytes: int = 0
    limit_bytes: int | None = None
    shares: int = 1000
    #: the serial console log where the lab's workload reports (None: no such reports)
    console_path: Path | None = None


@dataclass
class _GuestCounters:
    """The guest's cumulative counters at its last statistics update."""

    last_update: int
    swap_in_bytes: int | None
    swap_out_bytes: int | None
    major_faults: int | None


@dataclass
class _VmState:
    """What the backend remembers about one VM between observations."""

    vm: QemuVm
    channel: QmpChannel
    configured_bytes: int | None = None
    balloon_path: str | None = None
    pid: int | None = None
    #: the last balloon size juggler asked for (QEMU does not report its target)
    target_bytes: int | None = None
    counters: _GuestCounters | None = None
    rates: dict[str, float | None] = field(default_factory=dict)
    console: ConsoleTail | None = None
    #: the guest's disk bytes read and written (QMP blockstats)
    disk: Counters = field(default_factory=Counters)
    #: its swapped-out memory and QEMU's major faults (/proc)
    swap: Counters = field(default_factory=Counters)


class AsyncQemuBackend:
    """The asynchronous core: observes and drives every VM concurrently.

    :param vms: the VMs to manage.
    :param proc_root: where ``/proc`` is (tests pass canned files).
    :param host_memory_bytes: memory the VMs share when less than the machine's (a lab
        without a memory cgroup): host memory is then this, and what is available is
        this minus the VMs' resident memory, bounded by what the machine has available.
    :param cgroup_path: the directory of the lab's memory cgroup that plays the host's
        memory; when given, host memory and swap are the cgroup's (and
        ``host_memory_bytes`` is only used if the cgroup has no limit).
    :param timeout_s: how long one QMP connect or command may take.
    :param stats_interval_s: how often guests are asked for balloon statistics
        (QEMU takes whole seconds). Every second: the policy compares the guest's
        figures with resident memory read now, and with 2 s stale figures it took a
        guest's fresh growth for reclaimable memory in the lab.
    """

    def __init__(
        self,
        vms: Sequence[QemuVm],
        *,
        proc_root: Path = Path("/proc"),
        host_memory_bytes: int | None = None,
        cgroup_path: Path | None = None,
        timeout_s: float = 2.0,
        stats_interval_s: int = 1,
    ) -> None:
        names = [vm.name for vm in vms]
        if len(set(names)) != len(names):
            raise BackendError(f"VM names must be unique, got {names}")
        self.proc_root = Path(proc_root)
        self.stats_interval_s = stats_interval_s
        self.host = HostReader(self.proc_root)
        self.host_memory_bytes = host_memory_bytes
        self.cgroup_path = None if cgroup_path is None else Path(cgroup_path)
        self._vms = {
            vm.name: _VmState(
                vm,
                QmpChannel(vm.name, vm.qmp_path, timeout_s),
                pid=vm.pid,
                console=None if vm.console_path is None else ConsoleTail(vm.console_path),
            )
            for vm in vms
        }
        self._started = time.monotonic()

    async def observe(self) -> Observation:
        """Sample the host and every VM; a VM that fails is listed in ``missing``.

        :raise BackendError: When the host itself cannot be read.
        """
        now = time.monotonic()
        host = self.host.sample(now)
        results = await asyncio.gather(*(self._observe_vm(s) for s in self._vms.values()))
        samples = tuple(r for r in results if isinstance(r, VmSample))
        missing = {
            state.vm.name: result
            for state, result in zip(self._vms.values(), results, strict=True)
            if isinstance(result, str)
        }
        if self.cgroup_path is not None:
            host = self._cgroup_host(host)
        elif self.host_memory_bytes is not None:
            resident = sum(s.resident_bytes or 0 for s in samples)
            room = self.host_memory_bytes - resident
            cached = host.host_free_cached_bytes
            host = replace(
                host,
                host_memory_bytes=self.host_memory_bytes,
                host_available_bytes=max(0, min(host.host_available_bytes, room)),
                host_free_cached_bytes=None if cached is None else max(0, min(cached, room)),
            )
        return Observation(time_s=now - self._started, host=host, vms=samples, missing=missing)

    def _cgroup_host(self, host: HostSample) -> HostSample:
        """The host as the lab's memory cgroup sees it (v1 has no swap rates or PSI
        per cgroup: those stay the machine's)."""
        assert self.cgroup_path is not None
        try:
            memory = read_memory(self.cgroup_path)
        except HostError as err:
            raise HostError(f"cannot read the lab's memory cgroup: {err}") from err
        limit = memory.limit_bytes or self.host_memory_bytes or host.host_memory_bytes
        available = max(0, limit - memory.usage_bytes)
        return replace(
            host,
            host_memory_bytes=limit,
            host_available_bytes=available,
            # the cgroup's page cache is in its usage; MOM counts it free
            host_free_cached_bytes=(
                None if memory.file_bytes is None else min(limit, available + memory.file_bytes)
            ),
            host_swap_used_bytes=memory.swap_bytes,
            host_psi_some_avg10=(
                host.host_psi_some_avg10 if memory.psi_some_avg10 is None else memory.psi_some_avg10
            ),
            host_psi_full_avg10=(
                host.host_psi_full_avg10 if memory.psi_full_avg10 is None else memory.psi_full_avg10
            ),
        )

    async def apply(self, decision: Decision) -> None:
        """Send every balloon target of the decision, all VMs at once.

        :raise BackendError: After trying them all, when any failed; it names the
            first VM that failed and lists the others.
        """
        targets = [
            (self._state(name), target.balloon_bytes)
            for name, target in decision.targets.items()
            if target.balloon_bytes is not None
        ]
        results = await asyncio.gather(
            *(self._apply_vm(state, size) for state, size in targets), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, BackendError):
                raise failure
        if failures:
            first = failures[0]
            assert isinstance(first, BackendError)
            others = [str(f) for f in failures[1:]]
            message = str(first).removeprefix(f"{first.vm}: ")
            if others:
                message += f" (also failed: {'; '.join(others)})"
            raise type(first)(message, first.vm) from first

    async def close(self) -> None:
        """Disconnect from every VM."""
        await asyncio.gather(*(s.channel.close() for s in self._vms.values()))

    def _state(self, name: str) -> _VmState:
        try:
            return self._vms[name]
        except KeyError:
            known = ", ".join(self._vms)
            raise BackendError(f"no such VM (known: {known})", vm=name) from None

    async def _apply_vm(self, state: _VmState, balloon_bytes: int) -> None:
        await self._ensure_connected(state)
        assert state.configured_bytes is not None
        value = state.configured_bytes - balloon_bytes
        if balloon_bytes < 0 or value <= 0:
            raise BackendError(
                f"balloon_bytes(={balloon_bytes}) must be >= 0 and < configured "
                f"({state.configured_bytes})",
                state.vm.name,
            )
        await state.channel.execute("balloon", {"value": value})
        state.target_bytes = balloon_bytes

    async def _observe_vm(self, state: _VmState) -> VmSample | str:
        """One VM's sample, or the reason it could not be observed."""
        try:
            return await self._sample(state)
        except BackendError as err:
            return str(err).removeprefix(f"{state.vm.name}: ")

    async def _sample(self, state: _VmState) -> VmSample:
        await self._ensure_connected(state)
        assert state.configured_bytes is not None
        vm = state.vm
        actual_bytes: int | None = None
        try:
            actual_bytes = int((await state.channel.execute("query-balloon"))["actual"])
        except CommandError:
            if state.balloon_path is not None:
                raise
        stats: dict[str, Any] = {}
        if state.balloon_path is not None:
            stats = await state.channel.execute(
                "qom-get", {"path": state.balloon_path, "property": "guest-stats"}
            )
        disk = await self._disk_rates(state)
        resident, swapped = (None, None)
        if state.pid is not None:
            ram = guest_ram_memory(self.proc_root, state.pid, state.configured_bytes)
            if ram is not None:
                resident, swapped, _ = ram
            else:
                resident, swapped = process_memory(self.proc_root, state.pid)
        guest = self._guest_fields(state, stats)
        workload: dict[str, Any] = (
            summarize_reports(state.console.new_reports()) if state.console else {}
        )
        return VmSample(
            name=vm.name,
            configured_bytes=state.configured_bytes,
            reservation_bytes=vm.reservation_bytes,
            limit_bytes=vm.limit_bytes,
            shares=vm.shares,
            balloon_present=state.balloon_path is not None,
            balloon_target_bytes=state.target_bytes,
            balloon_actual_bytes=(
                None if actual_bytes is None else state.configured_bytes - actual_bytes
            ),
            resident_bytes=resident,
            host_swapped_bytes=swapped,
            **_swap_rates(state, swapped, self._major_faults(state)),
            **disk,
            **guest,
            **workload,
        )

    def _major_faults(self, state: _VmState) -> int | None:
        return None if state.pid is None else process_major_faults(self.proc_root, state.pid)

    async def _disk_rates(self, state: _VmState) -> dict[str, Any]:
        """``vm_disk_read/write_bytes_per_s`` since the previous observation (empty the
        first time, or for a VM without disks)."""
        try:
            devices = await state.channel.execute("query-blockstats")
        except CommandError:
            return {}  # a QEMU without block layer commands: unknown, not an error
        if not devices:
            return {}
        change = state.disk.changes(
            {
                "read": sum(int(d.get("stats", {}).get("rd_bytes", 0)) for d in devices),
                "written": sum(int(d.get("stats", {}).get("wr_bytes", 0)) for d in devices),
            },
            time.monotonic(),
        )
        if change is None:
            return {}
        return {
            "vm_disk_read_bytes_per_s": max(0.0, change["read"] or 0.0),
            "vm_disk_write_bytes_per_s": max(0.0, change["written"] or 0.0),
        }

    async def _ensure_connected(self, state: _VmState) -> None:
        """Connect if needed, and learn the VM's size, balloon device and pid."""
        if state.channel.runstate is Runstate.RUNNING:
            return
        await state.channel.connect()
        # counters of a previous QEMU process mean nothing now
        state.disk, state.swap = Counters(), Counters()
        summary = await state.channel.execute("query-memory-size-summary")
        state.configured_bytes = int(summary["base-memory"])
        if state.vm.pid is None:
            state.pid = state.channel.peer_pid
        state.balloon_path = await self._find_balloon(state.channel)
        if state.balloon_path is not None:
            await state.channel.execute(
                "qom-set",
                {
                    "path": state.balloon_path,
                    "property": "guest-stats-polling-interval",
                    "value": self.stats_interval_s,
                },
            )

    async def _find_balloon(self, channel: QmpChannel) -> str | None:
        """The QOM path of the VM's virtio-balloon device, or None when it has none."""
        for container in _PERIPHERAL_PATHS:
            try:
                children = await channel.execute("qom-list", {"path": container})
            except CommandError:
                continue  # no such container (no device of that kind)
            for child in children:
                if child["type"].startswith("child<virtio-balloon"):
                    return f"{container}/{child['name']}"
        return None

    def _guest_fields(self, state: _VmState, stats: dict[str, Any]) -> dict[str, Any]:
        """The guest-side VmSample fields from a ``guest-stats`` answer."""
        values = stats.get("stats", {})
        last_update = int(stats.get("last-update", 0))
        if not last_update:
            return {}  # the guest never reported (no driver, or not yet)

        def stat(name: str) -> int | None:
            value = values.get(name)
            return None if value is None or value in _NOT_REPORTED else int(value)

        counters = _GuestCounters(
            last_update, stat("stat-swap-in"), stat("stat-swap-out"), stat("stat-major-faults")
        )
        previous = state.counters
        if previous is not None and last_update > previous.last_update:
            elapsed = last_update - previous.last_update
            state.rates = {
                "guest_swap_in_bytes_per_s": _rate(
                    previous.swap_in_bytes, counters.swap_in_bytes, elapsed
                ),
                "guest_swap_out_bytes_per_s": _rate(
                    previous.swap_out_bytes, counters.swap_out_bytes, elapsed
                ),
                "guest_major_faults_per_s": _rate(
                    previous.major_faults, counters.major_faults, elapsed
                ),
            }
        if previous is None or last_update > previous.last_update:
            state.counters = counters
        return {
            "guest_total_bytes": stat("stat-total-memory"),
            "guest_free_bytes": stat("stat-free-memory"),
            "guest_available_bytes": stat("stat-available-memory"),
            "guest_cache_bytes": stat("stat-disk-caches"),
            "guest_stats_age_s": max(0.0, time.time() - last_update),
            **state.rates,
        }


def _swap_rates(state: _VmState, swapped: int | None, faults: int | None) -> dict[str, Any]:
    """The VM's host swap rates since the previous observation, from its swapped
    memory and QEMU's major faults (see the module's docstring)."""
    if swapped is None:
        return {}
    change = state.swap.changes({"swapped": swapped, "faults": faults}, time.monotonic())
    if change is None:
        return {}
    net = change["swapped"] or 0.0
    if change["faults"] is None:
        return {
            "vm_host_swap_out_bytes_per_s": max(0.0, net),
            "vm_host_swap_in_bytes_per_s": max(0.0, -net),
        }
    swap_in = max(0.0, change["faults"]) * PAGE_BYTES
    return {
        "vm_host_swap_in_bytes_per_s": swap_in,
        "vm_host_swap_out_bytes_per_s": max(0.0, net + swap_in),
    }


def _rate(before: int | None, after: int | None, elapsed_s: float) -> float | None:
    if before is None or after is None or elapsed_s <= 0:
        return None
    return max(0, after - before) / elapsed_s


class QemuBackend:
    """The synchronous :class:`~juggler.backend.Backend` over :class:`AsyncQemuBackend`.

    One event loop (an :class:`asyncio.Runner`) serves the backend for its whole
    life, so the QMP connections persist between calls; :meth:`close` ends it.
    Parameters are those of :class:`AsyncQemuBackend`.
    """

    def __init__(self, vms: Sequence[QemuVm], **options: Any) -> None:
        self._core = AsyncQemuBackend(vms, **options)
        self._runner: asyncio.Runner | None = asyncio.Runner()

    def observe(self) -> Observation:
        return self._run(self._core.observe())

    def apply(self, decision: Decision) -> None:
        self._run(self._core.apply(decision))

    def advance(self, seconds: float) -> None:
        """Real time: sleep."""
        time.sleep(seconds)

    def close(self) -> None:
        """Disconnect from every VM and end the event loop; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                runner.run(self._core.close())
            finally:
                runner.close()

    def __enter__(self) -> QemuBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            work.close()
            raise BackendError("the QEMU backend is closed")
        return self._runner.run(work)

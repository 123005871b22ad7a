"""``juggler lab calibrate``: measure the simulator's parameters on real QEMU guests.

Two guests, one after the other, each driven phase by phase from the host
through the workload's command port (``h:`` phases, ``guest/workload.c``), so
every measurement starts when the previous one has settled rather than on a
timer a slow machine would miss:

- ``bal`` (512 MiB, guest swap, a data disk): per repeat, a hot 16 MiB working
  set run as fast as it can while the balloon takes 320 MiB of free memory and
  gives it back; a scan of 128 MiB fresh pages right after (their first touch:
  pages the balloon returned), and again after the guest freed them itself (pages
  the host still backs); the page cache filled from the data disk and the balloon
  taking it; a cold 384 MiB anonymous set and the balloon pushing it to guest
  swap. Each move is timed (``query-balloon``) and costed
  (:mod:`juggler.lab.calibration`).
- ``swap`` (256 MiB) in a memory cgroup with a host swap file: a cold 96 MiB set
  touched once and a hot 64 MiB set touched all the time; the cgroup's limit is
  dropped by 96 MiB (the host swaps), then raised again; what the hot set brings
  back is what the host took from it, and a pass over the cold set swaps the rest
  back in.

Both guests give their boot figures (configured − MemTotal, the share of guest RAM
QEMU holds after boot, QEMU's own overhead). Everything booted, the cgroup and the
swap file are removed on every way out (errors, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import signal
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from juggler.backends import QemuVm
from juggler.backends.linuxhost import guest_ram_memory
from juggler.backends.qmp import QmpChannel
from juggler.errors import LabError
from juggler.lab.calibration import (
    GuestMemory,
    Inflation,
    Measured,
    MoveCost,
    Snapshot,
    Squeeze,
    Window,
    boot_reserved_fit,
    cold_share,
    cost_per_gib_anon,
    cost_per_gib_cache,
    cost_per_gib_free,
    inflation_sources,
    move_cost,
    reclaim_order,
    retouch_cost,
)
from juggler.lab.cgroup import MemoryCgroup
from juggler.lab.image import GuestImage, build_image
from juggler.lab.run import (
    RUN_PREFIX,
    BootedLab,
    LabPlan,
    _fresh_run_dir,
    boot_lab,
    qemu_overhead_bytes,
    remove_stale_cgroups,
)
from juggler.lab.vm import LabVm, VmSpec
from juggler.profile import BalloonCosts, GuestFacts, HostFacts, Profile
from juggler.units import GIB, KIB, MIB

#: the balloon guest
BAL_BYTES = 512 * MIB
BAL_SWAP_BYTES = 512 * MIB
BAL_DATA_BYTES = 384 * MIB
HOT_MIB = 16
#: balloon sizes of the free, cache and anonymous experiments
FREE_INFLATE = 320 * MIB
CACHE_INFLATE = 320 * MIB
ANON_INFLATE = 256 * MIB
#: fresh pages scanned for the re-touch cost
RETOUCH_MIB = 128
#: the cold anonymous set the balloon pushes to guest swap
ANON_COLD_MIB = 384
#: the host-reclaim guest
SWAP_VM_BYTES = 256 * MIB
SWAP_COLD_MIB = 96
SWAP_HOT_MIB = 64
SQUEEZE_BYTES = 96 * MIB
SQUEEZE_RETRIES = 5
HOST_SWAP_BYTES = 256 * MIB
#: seconds of baseline before a move, of settling after it
BASELINE_S = 2.0
SETTLE_S = 0.5
#: baseline windows tried before a move: on a busy host the workload can miss a
#: whole window (its vCPU descheduled, or stalled in one fault), and a window
#: without accesses measures nothing, so it is taken again rather than failing
BASELINE_TRIES = 3
#: a command reply, a balloon that stops moving, a pass: how long each may take
REPLY_TIMEOUT_S = 10.0
STALL_TIMEOUT_S = 15.0
PASS_TIMEOUT_S = 120.0
CACHE_FILL_TIMEOUT_S = 90.0


@dataclass
class Calibration:
    """What a calibration measured: the profile and the table's rows."""

    profile: Profile
    rows: list[Measured]
    seconds: float
    accel: str


@dataclass
class _Raw:
    """Raw readings, collected over the repeats."""

    free: list[Inflation] = field(default_factory=list)
    cache: list[Inflation] = field(default_factory=list)
    anon: list[Inflation] = field(default_factory=list)
    inflate_rate: dict[str, list[float]] = field(default_factory=dict)
    inflate_host: dict[str, list[float]] = field(default_factory=dict)
    deflate_rate: list[float] = field(default_factory=list)
    deflate_cost: list[float] = field(default_factory=list)
    deflate_host: list[float] = field(default_factory=list)
    retouch: list[float] = field(default_factory=list)
    first_touch: list[float] = field(default_factory=list)
    swap_out_rate: list[float] = field(default_factory=list)
    swap_in_rate: list[float] = field(default_factory=list)
    squeezes: list[Squeeze] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    reserved: list[tuple[int, int]] = field(default_factory=list)
    #: (guest size, guest RAM resident right after boot), bytes
    touched: list[tuple[int, int]] = field(default_factory=list)


class _Guest:
    """A booted guest driven from the host: its command port, its QMP socket, the
    counters of its QEMU vCPU thread."""

    def __init__(self, vm: LabVm) -> None:
        self.vm = vm
        self.name = vm.spec.name
        self._vcpu = _vcpu_thread(vm.pid or 0)
        # The workload enters phase 0 on its own, after ``JUGGLER ready``: an ``n``
        # sent before that is taken by that first step and lost, and the phase-0
        # line then reads as its answer. So the first command waits for that line.
        self._seen = 0
        self._await(r"JUGGLER phase=0 start")
        self._loop = asyncio.new_event_loop()
        self._qmp = QmpChannel(vm.spec.name, vm.qmp_path, timeout_s=5.0)
        try:
            self._loop.run_until_complete(self._qmp.connect())
        except BaseException:
            self._loop.close()
            raise

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._qmp.close())
        self._loop.close()

    def _execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        return self._loop.run_until_complete(self._qmp.execute(command, arguments))

    def _await(self, pattern: str, timeout_s: float = REPLY_TIMEOUT_S) -> re.Match[str]:
        """The next serial line matching ``pattern`` after the last one awaited."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.vm.serial_text()
            found = regex.search(text, self._seen)
            if found:
                self._seen = found.end()
                return found
            if "JUGGLER error" in text[self._seen :]:
                raise LabError(f"{self.name}: the workload failed: {text[self._seen :].strip()}")
            if self.vm.pid is None:
                raise LabError(f"{self.name}: QEMU exited")
            if time.monotonic() > deadline:
                tail = "\n".join(f"  serial: {line}" for line in text.splitlines()[-8:])
                raise LabError(
                    f"{self.name}: no {pattern!r} from the guest in {timeout_s:g} s\n{tail}"
                )
            time.sleep(0.02)

    def next_phase(self) -> int:
        self.vm.send(b"n")
        return int(self._await(r"JUGGLER phase=(\d+) start")[1])

    def snapshot(self) -> Snapshot:
        """The guest's count and the vCPU thread's times, the host's read on both sides
        of the guest's reply (which a busy host delays) and averaged."""
        wait0, kernel0 = _thread_times(self.vm.pid or 0, self._vcpu)
        self.vm.send(b"c")
        found = self._await(r"JUGGLER count phase=\d+ accesses=(\d+) ns=(\d+)")
        wait1, kernel1 = _thread_times(self.vm.pid or 0, self._vcpu)
        return Snapshot(
            int(found[1]), int(found[2]) / 1e9, (wait0 + wait1) / 2, (kernel0 + kernel1) / 2
        )

    def memory(self) -> GuestMemory:
        self.vm.send(b"m")
        found = self._await(
            r"JUGGLER mem total_kib=(\d+) free_kib=(\d+) cache_kib=(\d+) anon_kib=(\d+) "
            r"swap_used_kib=(-?\d+)"
        )
        return GuestMemory(*(int(found[i]) * KIB for i in range(1, 6)))

    def first_pass(self) -> tuple[int, float]:
        """The current scan phase's first pass: ``(pages, seconds)``."""
        found = self._await(
            r"JUGGLER pass phase=\d+ pass=1 pages=(\d+) seconds=([\d.]+)", PASS_TIMEOUT_S
        )
        return int(found[1]), float(found[2])

    def balloon(self, balloon_bytes: int) -> tuple[int, float]:
        """Move the balloon to ``balloon_bytes``; ``(bytes moved, seconds)`` once the
        guest reports it there (within 1 MiB).

        :raise LabError: When it stops moving short of the target.
        """
        size = self.vm.spec.memory_bytes
        before = int(self._execute("query-balloon")["actual"])
        want = size - balloon_bytes
        started = time.monotonic()
        self._execute("balloon", {"value": want})
        last, moved_at = before, started
        while True:
            actual = int(self._execute("query-balloon")["actual"])
            now = time.monotonic()
            if abs(actual - want) <= MIB:
                return abs(actual - before), now - started
            if actual != last:
                last, moved_at = actual, now
            elif now - moved_at > STALL_TIMEOUT_S:
                raise LabError(
                    f"{self.name}: the balloon stopped at {(size - actual) // MIB} MiB, "
                    f"short of {balloon_bytes // MIB} MiB"
                )
            time.sleep(0.01)


def _vcpu_thread(pid: int) -> int:
    """The thread id of QEMU's (first) vCPU thread, ``CPU 0/TCG`` or ``CPU 0/KVM``."""
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        with contextlib.suppress(OSError):
            if (task / "comm").read_text().startswith("CPU 0/"):
                return int(task.name)
    raise LabError(f"QEMU {pid} has no vCPU thread named 'CPU 0/...'")


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _thread_times(pid: int, tid: int) -> tuple[float, float]:
    """A thread's run-queue wait and host kernel time so far, seconds."""
    task = Path(f"/proc/{pid}/task/{tid}")
    try:
        wait_ns = int((task / "schedstat").read_text().split()[1])
        stat = (task / "stat").read_text()
    except (OSError, IndexError, ValueError) as err:
        raise LabError(f"cannot read the vCPU thread {tid} of QEMU {pid}: {err}") from err
    stime = int(stat[stat.rfind(")") + 2 :].split()[12])
    return wait_ns / 1e9, stime * _TICK_S


def _measured_move(
    guest: _Guest, balloon_bytes: int
) -> tuple[int, float, MoveCost, tuple[GuestMemory, GuestMemory]]:
    """A balloon move with a baseline window before it: bytes, seconds, cost, and
    the guest's memory before and after."""
    for _ in range(BASELINE_TRIES):
        start = guest.snapshot()
        time.sleep(BASELINE_S)
        before_memory = guest.memory()
        base_end = guest.snapshot()
        baseline = Window.between(start, base_end)
        if baseline.accesses > 0 and baseline.ran_s > 0:
            break
    moved, seconds = guest.balloon(balloon_bytes)
    time.sleep(SETTLE_S)
    end = guest.snapshot()
    after_memory = guest.memory()
    try:
        cost = move_cost(baseline, Window.between(base_end, end))
    except ValueError as err:
        raise LabError(f"{guest.name}: {err}") from None
    return moved, seconds, cost, (before_memory, after_memory)


def _inflate_deflate(guest: _Guest, raw: _Raw, kind: str, balloon_bytes: int) -> Inflation:
    moved, seconds, cost, (before, after) = _measured_move(guest, balloon_bytes)
    try:
        inflation = Inflation(moved, inflation_sources(before, after), cost.guest_s)
    except ValueError as err:
        raise LabError(f"{guest.name}: {kind}: {err}") from None
    raw.inflate_rate.setdefault(kind, []).append(moved / seconds)
    raw.inflate_host.setdefault(kind, []).append(cost.host_s / (moved / GIB))
    moved, seconds, cost, _ = _measured_move(guest, 0)
    raw.deflate_rate.append(moved / seconds)
    raw.deflate_cost.append(cost.guest_s / (moved / GIB))
    raw.deflate_host.append(cost.host_s / (moved / GIB))
    return inflation


def _boot_facts(vm: LabVm, raw: _Raw) -> None:
    """Boot-reserved memory, the guest RAM QEMU holds after boot, QEMU's overhead."""
    found = re.search(r"JUGGLER ready .*?mem_kib=(\d+)", vm.serial_text())
    if not found:
        raise LabError(f"{vm.spec.name}: the guest reported no MemTotal")
    size = vm.spec.memory_bytes
    raw.reserved.append((size, size - int(found[1]) * KIB))
    ram = guest_ram_memory(Path("/proc"), vm.pid or 0, size)
    if ram is None:
        raise LabError(f"{vm.spec.name}: cannot find the guest RAM in QEMU's memory map")
    raw.touched.append((size, ram[0]))
    raw.overhead.append(float(qemu_overhead_bytes(vm.pid or 0, size)))


def _balloon_phases(repeats: int) -> str:
    hot = f"h:{HOT_MIB}:uniform:0"
    one = [
        hot,  # free: inflate and deflate
        f"h:{RETOUCH_MIB}:scan:0:0:{HOT_MIB}",  # first touch of pages the balloon returned
        hot,  # releases them: freed by the guest, still backed by the host
        f"h:{RETOUCH_MIB}:scan:0:0:{HOT_MIB}",  # first touch of host-backed pages
        f"{hot}:131072",  # reads the data disk into the page cache
        hot,  # cache: inflate and deflate
        f"h:{ANON_COLD_MIB}:scan:0:0:{HOT_MIB}",  # the cold anonymous set
        f"h:{HOT_MIB}:uniform:0:0:0",  # anon: inflate and deflate (the cold set kept)
    ]
    return ",".join(["h:0:idle:0", *one * repeats, "0:0:idle:0"])


def _swap_phases(repeats: int) -> str:
    cold = f"h:{SWAP_COLD_MIB}:scan:0:0:0"
    hot = f"h:{SWAP_HOT_MIB}:uniform:0:0:{SWAP_COLD_MIB}"
    return ",".join(["h:0:idle:0", *[cold, hot] * repeats, cold, "0:0:idle:0"])


def _balloon_experiments(
    guest: _Guest, raw: _Raw, repeats: int, say: Callable[[str], None]
) -> None:
    for repeat in range(1, repeats + 1):
        guest.next_phase()
        raw.free.append(_inflate_deflate(guest, raw, "free", FREE_INFLATE))
        say(f"  [{repeat}/{repeats}] balloon from free memory: {_move_line(raw, 'free')}")
        guest.next_phase()
        returned = guest.first_pass()
        guest.next_phase()
        guest.next_phase()
        backed = guest.first_pass()
        raw.retouch.append(retouch_cost(returned, backed))  # pages > 0: the guest scanned them
        raw.first_touch.append(returned[1] / returned[0])
        say(
            f"  [{repeat}/{repeats}] first touch: {returned[1] / returned[0] * 1e6:.1f} us/page "
            f"returned by the balloon, {backed[1] / backed[0] * 1e6:.1f} us/page host-backed"
        )
        guest.next_phase()
        _wait_for_cache(guest, int(BAL_DATA_BYTES * 0.9))
        guest.next_phase()
        raw.cache.append(_inflate_deflate(guest, raw, "cache", CACHE_INFLATE))
        say(f"  [{repeat}/{repeats}] balloon from page cache: {_move_line(raw, 'cache')}")
        guest.next_phase()
        guest.first_pass()
        guest.next_phase()
        raw.anon.append(_inflate_deflate(guest, raw, "anon", ANON_INFLATE))
        say(f"  [{repeat}/{repeats}] balloon through guest swap: {_move_line(raw, 'anon')}")


def _move_line(raw: _Raw, kind: str) -> str:
    inflation = getattr(raw, kind)[-1]
    s = inflation.sources
    return (
        f"{inflation.bytes // MIB} MiB at {raw.inflate_rate[kind][-1] / MIB:.0f} MiB/s, "
        f"{inflation.guest_cost_s:.3f} vCPU s (free {s.free:.0%}, cache {s.cache:.0%}, "
        f"anon {s.anon:.0%}); back at {raw.deflate_rate[-1] / MIB:.0f} MiB/s"
    )


def _wait_for_cache(guest: _Guest, cache_bytes: int) -> None:
    deadline = time.monotonic() + CACHE_FILL_TIMEOUT_S
    while guest.memory().cache < cache_bytes:
        if time.monotonic() > deadline:
            raise LabError(
                f"{guest.name}: the page cache did not reach {cache_bytes // MIB} MiB "
                f"in {CACHE_FILL_TIMEOUT_S:g} s"
            )
        time.sleep(1.0)


def _swap_experiments(
    guest: _Guest, booted: BootedLab, raw: _Raw, repeats: int, say: Callable[[str], None]
) -> None:
    pid, size = guest.vm.pid or 0, guest.vm.spec.memory_bytes

    def ram() -> tuple[int, int]:
        found = guest_ram_memory(Path("/proc"), pid, size)
        if found is None:
            raise LabError(f"{guest.name}: cannot find the guest RAM in QEMU's memory map")
        return found[0], found[1]

    cgroup, roomy = booted.cgroup, booted.limit_bytes
    guest.next_phase()
    guest.first_pass()
    for repeat in range(1, repeats + 1):
        guest.next_phase()
        time.sleep(2.0)  # every hot page touched, many times over
        resident, swapped0 = ram()
        started = time.monotonic()
        _squeeze(cgroup, cgroup.memory().usage_bytes - SQUEEZE_BYTES)
        squeeze_s = time.monotonic() - started
        _, swapped1 = ram()
        cgroup.set_limit(roomy)
        time.sleep(3.0)
        _, swapped2 = ram()
        guest.next_phase()
        _, pass_s = guest.first_pass()
        _, swapped3 = ram()
        out = swapped1 - swapped0
        if out <= 0:
            raise LabError(f"{guest.name}: the host swapped nothing out of the guest's RAM")
        squeeze = Squeeze(out, max(0, swapped1 - swapped2), SWAP_HOT_MIB * MIB / resident)
        raw.squeezes.append(squeeze)
        raw.swap_out_rate.append(out / squeeze_s)
        raw.swap_in_rate.append(max(0, swapped2 - swapped3) / pass_s)
        say(
            f"  [{repeat}/{repeats}] host swapped {out // MIB} MiB of guest RAM at "
            f"{out / squeeze_s / MIB:.0f} MiB/s; the hot set took back "
            f"{squeeze.hot_back // MIB} MiB (cold share {cold_share(squeeze):.0%}, a blind "
            f"host would take {squeeze.hot_resident_share:.0%} from it); the cold pass swapped "
            f"in {(swapped2 - swapped3) // MIB} MiB at {raw.swap_in_rate[-1] / MIB:.0f} MiB/s"
        )


def _squeeze(cgroup: MemoryCgroup, limit_bytes: int) -> None:
    """Lower the cgroup's limit to ``limit_bytes`` at once, so the host reclaims as
    fast as it can. The kernel may refuse (EBUSY: it could not reclaim enough in
    its retries); what it reclaimed stays reclaimed, so it is tried a few times and
    then left where it got: the caller measures what was swapped, not the target.
    """
    for _ in range(SQUEEZE_RETRIES):
        try:
            cgroup.set_limit(limit_bytes)
            return
        except LabError:
            time.sleep(0.05)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the lab is torn down either way."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def calibrate(
    repeats: int = 3,
    *,
    image: GuestImage | None = None,
    accel: str = "auto",
    say: Callable[[str], None] = print,
) -> Calibration:
    """Boot the two calibration guests, measure, tear down; the profile and the table.

    :raise LabError: When not root, when a boot or a measurement fails (nothing is
        left behind).
    :raise MissingToolError: When QEMU or a tool the image needs is missing.
    """
    if repeats < 1:
        raise LabError(f"repeats(={repeats}) must be at least 1")
    if os.geteuid() != 0:
        raise LabError(
            "juggler lab calibrate needs root (a memory cgroup and a host swap file); "
            "run it with sudo"
        )
    started = time.monotonic()
    image = image or build_image()
    raw = _Raw()
    with _sigterm_interrupts(), contextlib.ExitStack() as stack:
        remove_stale_cgroups()
        run_dir = _fresh_run_dir()
        bal = VmSpec(
            "bal",
            BAL_BYTES,
            phases=_balloon_phases(repeats),
            swap_bytes=BAL_SWAP_BYTES,
            data_bytes=BAL_DATA_BYTES,
            command_port=True,
        )
        say(f"booting {bal.name} ({BAL_BYTES // MIB} MiB, guest swap, data disk)")
        booted = _boot_one(stack, bal, image, run_dir, "cal", BAL_BYTES + 256 * MIB, 0, accel, say)
        used_accel = booted.vms[0].accel or accel
        _boot_facts(booted.vms[0], raw)
        guest = _Guest(booted.vms[0])
        stack.callback(guest.close)
        _balloon_experiments(guest, raw, repeats, say)
        raw.overhead.append(float(qemu_overhead_bytes(guest.vm.pid or 0, BAL_BYTES)))
        guest.close()
        booted.vms[0].stop()

        swap_spec = VmSpec("swap", SWAP_VM_BYTES, phases=_swap_phases(repeats), command_port=True)
        say(f"booting {swap_spec.name} ({SWAP_VM_BYTES // MIB} MiB) with a host swap file")
        booted = _boot_one(
            stack,
            swap_spec,
            image,
            run_dir,
            "calswap",
            SWAP_VM_BYTES + 128 * MIB,
            HOST_SWAP_BYTES,
            accel,
            say,
        )
        _boot_facts(booted.vms[0], raw)
        guest = _Guest(booted.vms[0])
        stack.callback(guest.close)
        # its overhead at boot only: the squeezes swap QEMU's own memory out too
        _swap_experiments(guest, booted, raw, repeats, say)
    say("torn down: the VMs, the cgroups and the host swap file are gone")
    try:
        return _result(raw, repeats, used_accel, time.monotonic() - started)
    except ValueError as err:  # the arithmetic refused a reading
        raise LabError(f"calibration: {err}") from None


def _boot_one(
    stack: contextlib.ExitStack,
    spec: VmSpec,
    image: GuestImage,
    run_dir: Path,
    tag: str,
    host_bytes: int,
    swap_bytes: int,
    accel: str,
    say: Callable[[str], None],
) -> BootedLab:
    plan = LabPlan(1.0, host_bytes, swap_bytes, (spec,), (QemuVm(spec.name, Path()),))
    name = f"{RUN_PREFIX}{tag}-{os.getpid()}"
    return boot_lab(stack, plan, image, run_dir, name, accel=accel, say=lambda s: say(f"  {s}"))


def _result(raw: _Raw, repeats: int, accel: str, seconds: float) -> Calibration:
    free_cost = cost_per_gib_free(raw.free)
    cache_cost = cost_per_gib_cache(raw.cache, _median(free_cost))
    anon_cost = cost_per_gib_anon(raw.anon, _median(free_cost), _median(cache_cost))
    fixed, per_gib = boot_reserved_fit(raw.reserved)
    touched_fixed, touched_per_gib = boot_reserved_fit(raw.touched)
    colds = [cold_share(s) for s in raw.squeezes]
    reclaim = reclaim_order(raw.squeezes)
    blind = [1 - s.hot_resident_share for s in raw.squeezes]
    rows = [
        Measured("balloon.inflate_rate", tuple(raw.inflate_rate["free"]), "B/s", "from free"),
        Measured("  inflate rate from page cache", tuple(raw.inflate_rate["cache"]), "B/s"),
        Measured("  inflate rate through guest swap", tuple(raw.inflate_rate["anon"]), "B/s"),
        Measured("balloon.deflate_rate", tuple(raw.deflate_rate), "B/s", "every deflation"),
        Measured("balloon.inflate_cpu_free", tuple(free_cost), "s/GiB", "guest vCPU"),
        Measured("balloon.inflate_cpu_cache", tuple(cache_cost), "s/GiB", "guest vCPU"),
        Measured("balloon.inflate_cpu_anon", tuple(anon_cost), "s/GiB", "guest vCPU"),
        Measured("balloon.deflate_cpu", tuple(raw.deflate_cost), "s/GiB", "guest vCPU"),
        Measured(
            "  host side of inflating (free)",
            tuple(raw.inflate_host["free"]),
            "s/GiB",
            "subtracted",
        ),
        Measured(
            "  host side of inflating (cache)",
            tuple(raw.inflate_host["cache"]),
            "s/GiB",
            "subtracted",
        ),
        Measured(
            "  host side of inflating (anon)",
            tuple(raw.inflate_host["anon"]),
            "s/GiB",
            "subtracted",
        ),
        Measured("  host side of deflating", tuple(raw.deflate_host), "s/GiB", "subtracted"),
        Measured("balloon.retouch_s", tuple(raw.retouch), "s/page", "over a host-backed page"),
        Measured("  first touch of a returned page", tuple(raw.first_touch), "s/page"),
        Measured("host.swap_out_rate", tuple(raw.swap_out_rate), "B/s", "cgroup squeeze"),
        Measured("host.swap_in_rate", tuple(raw.swap_in_rate), "B/s", "guest touching"),
        Measured("host.cold_share", tuple(colds), "", f"reclaim = {reclaim}"),
        Measured("  cold share if the host were blind", tuple(blind), ""),
        Measured("host.qemu_overhead", tuple(raw.overhead), "B", "per VM"),
        Measured(
            "guest.boot_reserved",
            (fixed,),
            "B",
            "fit over " + ", ".join(f"{s // MIB} MiB" for s, _ in raw.reserved),
        ),
        Measured("guest.boot_reserved_per_gib", (per_gib,), "B/GiB"),
        Measured(
            "guest.boot_touched",
            (touched_fixed,),
            "B",
            "fit over " + ", ".join(f"{s // MIB} MiB" for s, _ in raw.touched),
        ),
        Measured("guest.boot_touched_per_gib", (touched_per_gib,), "B/GiB"),
    ]
    profile = _profile({row.name: row for row in rows}, reclaim, repeats, accel)
    return Calibration(profile, rows, seconds, accel)


def _median(values: list[float]) -> float:
    if not values:
        raise LabError("a calibration experiment measured nothing")
    return statistics.median(values)


def _profile(rows: dict[str, Measured], reclaim: str, repeats: int, accel: str) -> Profile:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f"juggler lab calibrate on {socket.gethostname()} ({accel}), {when}"
    clamped: list[str] = []

    def value(name: str) -> float:
        median = rows[name].median
        if median < 0:
            clamped.append(name)
            return 0.0
        return median

    def source(name: str, how: str) -> str:
        row = rows[name]
        spread = f", spread {row.spread:.0%}" if row.spread is not None else ""
        neg = "; measured below 0, written as 0" if rows[name].median < 0 else ""
        return f"{where}: median of {len(row.values)}{spread}; {how}{neg}"

    cost_how = (
        "vCPU seconds the workload lost per GiB (its accesses against a baseline window, "
        "run-queue wait and the vCPU thread's host kernel time taken out)"
    )
    sources = {
        "balloon.inflate_rate": source("balloon.inflate_rate", "320 MiB from free memory"),
        "balloon.deflate_rate": source("balloon.deflate_rate", "every deflation"),
        "balloon.inflate_cpu_free": source("balloon.inflate_cpu_free", cost_how),
        "balloon.inflate_cpu_cache": source(
            "balloon.inflate_cpu_cache", cost_how + "; the free part charged at inflate_cpu_free"
        ),
        "balloon.inflate_cpu_anon": source(
            "balloon.inflate_cpu_anon", cost_how + "; free and cache parts charged at theirs"
        ),
        "balloon.deflate_cpu": source("balloon.deflate_cpu", cost_how),
        "balloon.retouch_s": source(
            "balloon.retouch_s",
            "first touch of a page the balloon returned less that of a page the guest freed",
        ),
        "host.reclaim": f"{where}: the hot set's share of what the cgroup swapped, against "
        "its share of resident memory",
        "host.keeps_free": "the lab's host is a memory cgroup: it reclaims only at its limit",
        "host.qemu_overhead": source("host.qemu_overhead", "resident outside guest RAM"),
        "host.swap_out_rate": source("host.swap_out_rate", "cgroup limit dropped by 96 MiB"),
        "host.swap_in_rate": source("host.swap_in_rate", "a guest pass over its swapped set"),
        "host.cold_share": source("host.cold_share", "1 - what the hot set took back"),
        "guest.boot_reserved": source("guest.boot_reserved", "configured - MemTotal, fit"),
        "guest.boot_reserved_per_gib": source("guest.boot_reserved_per_gib", "the fit's slope"),
        "guest.boot_touched": source(
            "guest.boot_touched", "guest RAM resident right after boot against size, fit"
        ),
        "guest.boot_touched_per_gib": source("guest.boot_touched_per_gib", "the fit's slope"),
    }
    profile = Profile(
        name="calibrated",
        description=f"measured by {where}, {repeats} repeats",
        host=HostFacts(
            reclaim="lru" if reclaim == "lru" else "random",
            keeps_free=False,
            qemu_overhead=round(value("host.qemu_overhead")),
            swap_out_rate=value("host.swap_out_rate") or None,
            swap_in_rate=value("host.swap_in_rate") or None,
            cold_share=value("host.cold_share"),
        ),
        balloon=BalloonCosts(
            inflate_rate=value("balloon.inflate_rate"),
            deflate_rate=value("balloon.deflate_rate"),
            inflate_cpu_free=value("balloon.inflate_cpu_free"),
            inflate_cpu_cache=value("balloon.inflate_cpu_cache"),
            inflate_cpu_anon=value("balloon.inflate_cpu_anon"),
            deflate_cpu=value("balloon.deflate_cpu"),
            retouch_s=value("balloon.retouch_s"),
        ),
        guest=GuestFacts(
            boot_reserved=round(value("guest.boot_reserved")),
            boot_reserved_per_gib=round(value("guest.boot_reserved_per_gib")),
            boot_touched=max(0, round(value("guest.boot_touched"))),
            boot_touched_per_gib=max(0, round(value("guest.boot_touched_per_gib"))),
        ),
        sources=sources,
    )
    return profile


def default_output_path(now: datetime.datetime | None = None) -> Path:
    """``calibration-YYYYMMDD-HHMMSS.toml`` in the current directory."""
    now = now or datetime.datetime.now(datetime.UTC)
    return Path(f"calibration-{now:%Y%m%d-%H%M%S}.toml")

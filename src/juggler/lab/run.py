"""Run a scenario on real QEMU guests: ``juggler lab run``.

The scenario's VMs are booted at ``scale`` of their size (memory, guest swap,
working sets, reservations, limits, the manager's step and dead band) inside
one memory cgroup that plays the host's memory, and the Manager drives them
with the policy over :class:`~juggler.backends.QemuBackend`, sampling every
manager interval. The run file has the same tables as a simulated run's
(``meta.backend = "qemu"``), so :func:`~juggler.summary.summarize` serves both;
what a real run cannot measure (true working sets, slowdown) is ``None``.

Why the cgroup's limit is ``host.memory × scale`` plus the QEMU overhead
measured at boot: a lab VM's QEMU process (under TCG: its translation cache,
device models, ROMs) costs ~100 MiB beyond guest RAM, far more than the
scenario's ``vm_overhead`` scaled down. Charging it to the scaled host would
leave the guests almost nothing, so each VM's overhead is measured after boot
(resident memory outside the guest-RAM mapping, from ``/proc/PID/smaps``) and
added to the limit: the guests then share ``host.memory × scale`` as the
scenario means. The overhead grows a little while TCG translates more code;
the measured figures are in the run's meta (``lab_overhead_bytes``).

Phase times are not scaled: a phase lasts as long as the scenario says, so a
run shorter than the scenario sees only its first phases. Sizes and rates in
bytes are: a phase's ``cache_rate`` becomes the workload's reads from a data
disk of ``file_size × scale`` (so the guest's page cache fills as in the
simulator). The workload releases pages beyond a smaller working set unless
the phase is idle (``release`` is not played).

With host swap (on when the scenario's host has swap, ``host.swap × scale``),
a swap file is enabled for the run (:mod:`juggler.lab.hostswap`), so a full
cgroup swaps guest memory out of QEMU as a real hypervisor does, instead of
OOM-killing a VM. Each VM's serial console log is tailed for the workload's
own accesses and latency (``workload_*`` columns).

Everything is torn down (VMs, cgroup, swap file, sockets, working directories) on the way
out, also on Ctrl-C, SIGTERM and errors. A signal while the VMs are managed ends
the run between samples, with a whole run file and its summary
(:class:`~juggler.runner.Stop`); during boot or teardown, or a second one, it
interrupts at once. A run killed outright (SIGKILL) leaves
its cgroup ``juggler-lab-<pid>`` with the QEMU processes inside, its
directory ``<tmp>/juggler-lab-<pid>`` and perhaps its swap file in there; the
next run removes them all (kills those QEMUs, turns the swap off) once process
``<pid>`` is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from juggler import __version__
from juggler.backends import QemuBackend, QemuVm
from juggler.backends.linuxhost import guest_ram_memory
from juggler.errors import LabError
from juggler.lab import hostswap
from juggler.lab.cgroup import PREFIX, MemoryCgroup, remove_stale
from juggler.lab.image import GuestImage, build_image
from juggler.lab.vm import LabVm, VmSpec
from juggler.manager import Limits, Recorder
from juggler.policy import get_policy
from juggler.policy.base import check_backend
from juggler.profile import load_profile
from juggler.runner import Schedule, Stop, run
from juggler.scenario import Phase, Scenario, VmConfig
from juggler.summary import RunSummary
from juggler.units import KIB, MIB

log = logging.getLogger(__name__)

#: smallest guest the lab boots (LabVm's floor)
MIN_VM_BYTES = 64 * MIB
#: the cgroup's limit while the guests boot, per VM beyond its memory (before overheads are known)
BOOT_HEADROOM_BYTES = 256 * MIB
#: a run's cgroup is ``juggler-lab-<pid>``
RUN_PREFIX = "lab-"


@dataclass(frozen=True)
class LabPlan:
    """What a scenario becomes in the lab at a scale."""

    scale: float
    host_bytes: int
    #: the host swap file's size (0: none)
    host_swap_bytes: int
    specs: tuple[VmSpec, ...]
    vms: tuple[QemuVm, ...]


def _scaled(value: int, scale: float) -> int:
    """``value × scale`` rounded down to whole MiB (QEMU sizes are MiB)."""
    return int(value * scale) // MIB * MIB


def workload_phases(scenario: Scenario, vm: VmConfig, scale: float) -> str:
    """A VM's phases in the workload program's format ``DUR:SIZE_MIB:PATTERN:RATE,...``."""
    items = []
    spans = [s for s in scenario.spans(vm) if s.start_s < scenario.run.duration]
    for index, span in enumerate(spans):
        last = index == len(spans) - 1
        seconds = 0 if last else max(1, round(span.end_s - span.start_s))
        item = (
            f"{seconds}:{_phase_mib(span.phase, scale)}:{_pattern(span.phase)}:"
            f"{round(span.phase.rate)}"
        )
        cache_kib = round(span.phase.cache_rate * scale / KIB)
        items.append(f"{item}:{cache_kib}" if cache_kib else item)
    return ",".join(items)


def data_disk_bytes(scenario: Scenario, vm: VmConfig, scale: float) -> int:
    """The data disk a VM's workload reads into its page cache: the scenario's
    ``file_size`` scaled, when any phase reads files (0: no disk)."""
    if not any(phase.cache_rate > 0 for phase in vm.workload):
        return 0
    return max(MIB, _scaled(vm.file_bytes, scale))


def _phase_mib(phase: Phase, scale: float) -> int:
    if phase.pattern == "idle" or phase.working_set is None:
        return 0
    return max(1, round(phase.working_set * scale / MIB))


def _pattern(phase: Phase) -> str:
    return f"zipf{phase.zipf_exponent:g}" if phase.pattern == "zipf" else phase.pattern


def plan(
    scenario: Scenario,
    scale: float,
    free_page_reporting: bool = False,
    host_swap: bool | None = None,
) -> LabPlan:
    """The lab's VMs for ``scenario`` at ``scale``; host swap when ``host_swap`` says so,
    or (None) when the scenario's host has swap.

    :raise LabError: When the scale is not in (0, 1] or a VM would be smaller than 64 MiB.
    """
    if not 0 < scale <= 1:
        raise LabError(f"scale(={scale}) must be more than 0 and at most 1")
    specs, vms = [], []
    for index, vm in enumerate(scenario.vm):
        memory = _scaled(vm.memory, scale)
        if memory < MIN_VM_BYTES:
            raise LabError(
                f"VM {vm.name}: {vm.memory // MIB} MiB × {scale:g} is below the lab's "
                f"{MIN_VM_BYTES // MIB} MiB; use a larger --scale"
            )
        specs.append(
            VmSpec(
                vm.name,
                memory,
                phases=workload_phases(scenario, vm, scale),
                seed=scenario.run.seed + index,
                swap_bytes=_scaled(vm.guest_swap, scale),
                data_bytes=data_disk_bytes(scenario, vm, scale),
                vcpus=1,
                free_page_reporting=free_page_reporting,
            )
        )
        vms.append(
            QemuVm(
                vm.name,
                Path(),
                reservation_bytes=_scaled(vm.reservation, scale),
                limit_bytes=None if vm.limit is None else _scaled(vm.limit, scale),
                shares=vm.shares,
            )
        )
    swap = 0 if host_swap is False else _scaled(scenario.host.swap, scale)
    if host_swap and not swap:  # asked for, though the scenario's host has none
        swap = _scaled(scenario.host.memory, scale)
    if swap:
        swap = max(swap, hostswap.MIN_SWAP_BYTES)
    return LabPlan(scale, _scaled(scenario.host.memory, scale), swap, tuple(specs), tuple(vms))


def qemu_overhead_bytes(pid: int, guest_bytes: int, proc_root: Path = Path("/proc")) -> int:
    """Resident memory of a QEMU process outside its guest's RAM mapping
    (:func:`~juggler.backends.linuxhost.guest_ram_memory`).

    :raise LabError: When the process's memory map cannot be read or has no such mapping.
    """
    ram = guest_ram_memory(proc_root, pid, guest_bytes)
    if ram is None:
        raise LabError(
            f"cannot find the {guest_bytes // MIB} MiB guest RAM in the memory map of QEMU {pid}"
        )
    return ram[2]


def run_lab(
    scenario: Scenario,
    out: str | Path,
    *,
    scale: float = 0.25,
    image: GuestImage | None = None,
    accel: str = "auto",
    free_page_reporting: bool = False,
    host_swap: bool | None = None,
    scenario_text: str | None = None,
    say: Callable[[str], None] = log.info,
    recorder: Recorder | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Run ``scenario`` on lab VMs under its own policy, write the run file, return the summary.

    :param recorder: also record there (such as a live ``MetricsExporter``).
    :param stop: when set (``juggler lab run --top``: the user quit the screen), the
        Manager's loop ends at once, between samples; the run file is closed and
        summarized like a complete one (shorter) and the lab torn down as always.
        Set during boot, the run still records its first sample, so it has a summary.
        SIGINT and SIGTERM (in the main thread) do the same while the VMs are
        managed, and interrupt the boot or the teardown.

    :raise LabError: When the plan, the cgroup or a boot fails (nothing is left behind).
    :raise PolicyError: When the policy or its parameters are unknown, or it needs the
        simulator's truth (before anything boots).
    """
    policy = get_policy(scenario.manager.policy)
    check_backend(policy, has_truth=False, backend="lab's qemu")
    params = policy.make_params(scenario.manager.params)
    lab = plan(scenario, scale, free_page_reporting, host_swap)
    image = image or build_image()
    interval = scenario.manager.interval
    stopping = Stop(stop)
    with contextlib.ExitStack() as stack:
        # a signal while booting or tearing down interrupts; while managing, it stops
        stack.enter_context(stopping.on_signals())
        remove_stale_cgroups()
        booted = boot_lab(
            stack, lab, image, _fresh_run_dir(), f"{RUN_PREFIX}{os.getpid()}", accel=accel, say=say
        )
        backend = stack.enter_context(
            QemuBackend(booted.qemu_vms(), cgroup_path=booted.cgroup.path)
        )
        meta = {
            "scenario": scenario.name,
            "policy": policy.name,
            "backend": "qemu",
            "juggler_version": __version__,
            "seed": scenario.run.seed,
            "page_size": scenario.run.page_size,
            "tick_s": interval,
            "interval_s": interval,
            "scenario_json": scenario.model_dump(mode="json"),
            "lab_scale": scale,
            "lab_free_page_reporting": free_page_reporting,
            **booted.meta(),
        }
        if scenario_text is not None:
            meta["scenario_toml"] = scenario_text
        schedule = Schedule(
            interval_s=interval,
            duration_s=scenario.run.duration,
            sample_s=interval,
            limits=lab_limits(scenario, scale),
            seed=scenario.run.seed,
            # the lab's guests run under TCG unless KVM works: their balloon costs are
            # the calibrated tcg profile's, KVM's the published kvm profile's
            balloon_costs=load_profile(
                "tcg" if booted.vms and booted.vms[0].accel == "tcg" else "kvm"
            ).balloon,
        )
        return run(
            backend,
            policy,
            params,
            schedule,
            out,
            meta,
            recorder=recorder,
            stop=stopping,
            wall_clock=True,
            final_meta=lambda: _final_meta(booted, say),
        )


def _final_meta(booted: BootedLab, say: Callable[[str], None]) -> dict[str, Any]:
    """The run file's facts at the end: what the cgroup holds, QEMU's overheads, and
    the guests whose QEMU died during the run (their figures stop there), said out
    loud: a pair of runs that lost a guest compares nothing."""
    kills = booted.cgroup.oom_kills()
    lost = booted.lost_guests(kills)
    for name, why in lost.items():
        say(f"warning: {name} was lost during the run: {why}; its figures stop there")
    return {
        "lab_final_usage_bytes": booted.cgroup.memory().usage_bytes,
        "lab_overhead_final_bytes": booted.current_overheads(),
        "lab_guests_lost": lost,
        "lab_oom_kills": kills,
    }


def lab_limits(scenario: Scenario, scale: float) -> Limits:
    """The guard's step and dead band, scaled with the VMs."""
    return Limits(
        max_step_bytes=max(MIB, _scaled(scenario.manager.max_step, scale)),
        dead_band_bytes=_scaled(scenario.manager.dead_band, scale),
    )


@dataclass
class BootedLab:
    """A lab whose VMs are up, inside the cgroup that plays the host."""

    plan: LabPlan
    cgroup: MemoryCgroup
    run_dir: Path
    vms: list[LabVm]
    #: each VM's QEMU overhead measured after boot (outside guest RAM)
    overheads: dict[str, int]
    limit_bytes: int
    swap: hostswap.SwapFile | None = None

    def qemu_vms(self) -> list[QemuVm]:
        """How the QEMU backend reaches the VMs, with the scenario's reservations."""
        return [
            QemuVm(
                vm.name,
                lab_vm.qmp_path,
                pid=lab_vm.pid,
                reservation_bytes=vm.reservation_bytes,
                limit_bytes=vm.limit_bytes,
                shares=vm.shares,
                console_path=lab_vm.serial_path,
            )
            for vm, lab_vm in zip(self.plan.vms, self.vms, strict=True)
        ]

    def current_overheads(self) -> dict[str, int]:
        return {
            vm.spec.name: qemu_overhead_bytes(vm.pid, vm.spec.memory_bytes)
            for vm in self.vms
            if vm.pid is not None
        }

    def lost_guests(self, kills: int | None) -> dict[str, str]:
        """Each VM whose QEMU has exited while the lab is up, and how.

        :param kills: the cgroup's OOM kills so far (``MemoryCgroup.oom_kills``).
        """
        lost = {}
        for vm in self.vms:
            status = vm.exit_status
            if status is None:
                continue
            how = (
                f"QEMU was killed by signal {-status}"
                if status < 0
                else f"QEMU exited with status {status}"
            )
            if kills:
                how += (
                    f" (the host's memory cgroup OOM-killed {kills} process"
                    f"{'es' if kills > 1 else ''} during the run)"
                )
            lost[vm.spec.name] = how
        return lost

    def meta(self) -> dict[str, Any]:
        """The run file's ``lab_*`` facts."""
        return {
            "lab_accel": self.vms[0].accel if self.vms else None,
            "lab_cgroup": str(self.cgroup.path),
            "lab_cgroup_version": self.cgroup.version,
            "lab_cgroup_limit_bytes": self.limit_bytes,
            "lab_host_bytes": self.plan.host_bytes,
            "lab_host_swap_bytes": self.plan.host_swap_bytes,
            "lab_host_swap_file": None if self.swap is None else str(self.swap.path),
            "lab_overhead_bytes": self.overheads,
            "lab_boot_seconds": {vm.spec.name: round(vm.boot_seconds or 0.0, 2) for vm in self.vms},
            "lab_phases": {spec.name: spec.phases for spec in self.plan.specs},
            "lab_qemu_pids": {vm.spec.name: vm.pid for vm in self.vms},
            "lab_qmp_sockets": {vm.spec.name: str(vm.qmp_path) for vm in self.vms},
            "lab_consoles": {vm.spec.name: str(vm.serial_path) for vm in self.vms},
        }


def boot_lab(
    stack: contextlib.ExitStack,
    lab: LabPlan,
    image: GuestImage,
    run_dir: Path,
    cgroup_name: str,
    *,
    accel: str = "auto",
    say: Callable[[str], None] = log.info,
    disk_dir: Path | None = None,
) -> BootedLab:
    """Create the cgroup (and the host swap), boot every VM into it, then set the
    cgroup's limit to the host plus the QEMU overhead measured.

    Every teardown step is pushed on ``stack`` (the run directory too), so closing
    it removes everything; a caller that leaves the lab up pops them all instead.
    The guests' disks and the host swap file go to ``disk_dir`` (default: the run
    directory), which must be on a file system that can hold a swap file.

    :raise LabError: When the cgroup, the swap file or a boot fails.
    """
    stack.callback(shutil.rmtree, run_dir, ignore_errors=True)
    if disk_dir is not None:
        stack.callback(shutil.rmtree, disk_dir, ignore_errors=True)
    disks = disk_dir or run_dir
    cgroup = stack.enter_context(
        MemoryCgroup(
            cgroup_name,
            lab.host_bytes + sum(s.memory_bytes + BOOT_HEADROOM_BYTES for s in lab.specs),
        )
    )
    swap = None
    if lab.host_swap_bytes:
        disks.mkdir(parents=True, exist_ok=True)
        swap = hostswap.SwapFile(disks / hostswap.FILE_NAME, lab.host_swap_bytes)
        stack.enter_context(swap)
        say(f"host swap: {lab.host_swap_bytes // MIB} MiB at {swap.path}")
    booted = [
        LabVm(
            spec,
            image,
            run_dir / spec.name,
            accel=accel,
            on_spawn=cgroup.add,
            disk_dir=disks / spec.name,
        )
        for spec in lab.specs
    ]
    for vm in booted:
        stack.callback(vm.stop)
    # the first VM alone (it may probe KVM), then the others at once: their
    # workloads' phases start at boot, so booting together keeps them in step
    booted[0].start()
    if len(booted) > 1:
        with ThreadPoolExecutor(len(booted) - 1) as pool:
            for future in [pool.submit(vm.start) for vm in booted[1:]]:
                future.result()
    for vm in booted:
        say(
            f"{vm.spec.name}: {vm.spec.memory_bytes // MIB} MiB booted under {vm.accel} "
            f"in {vm.boot_seconds:.1f} s"
        )
    overheads = {
        vm.spec.name: qemu_overhead_bytes(vm.pid or 0, vm.spec.memory_bytes) for vm in booted
    }
    limit = lab.host_bytes + sum(overheads.values())
    cgroup.set_limit(limit)
    say(
        f"cgroup {cgroup.path}: limit {limit // MIB} MiB = host {lab.host_bytes // MIB} MiB"
        f" + QEMU overhead {sum(overheads.values()) // MIB} MiB; "
        f"using {cgroup.memory().usage_bytes // MIB} MiB"
    )
    return BootedLab(lab, cgroup, run_dir, booted, overheads, limit, swap)


def _run_is_alive(path: Path) -> bool:
    """Whether the ``juggler-lab-<pid>`` cgroup's run (process ``pid``) still runs."""
    pid = path.name.rsplit("-", 1)[-1]
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def _fresh_run_dir() -> Path:
    """The run's directory ``<tmp>/juggler-lab-<pid>`` (one subdirectory per VM: socket,
    logs, swap disk), after removing those of dead runs."""
    remove_stale_run_dirs()
    path = Path(tempfile.gettempdir()) / f"{PREFIX}{RUN_PREFIX}{os.getpid()}"
    path.mkdir(exist_ok=True)
    return path


def remove_stale_run_dirs() -> None:
    """Remove the directories ``<tmp>/juggler-lab-<pid>`` of runs that are gone, after
    turning off a host swap file left in one."""
    tmp = Path(tempfile.gettempdir())
    for swap in hostswap.remove_stale(f"{tmp}/{PREFIX}{RUN_PREFIX}*/*", _run_is_alive):
        log.warning("turned off the host swap file %s of a run that is gone", swap)
    for stale in tmp.glob(f"{PREFIX}{RUN_PREFIX}*"):
        if stale.is_dir() and not _run_is_alive(stale):
            log.warning("removed the directory %s of a run that is gone", stale)
            shutil.rmtree(stale, ignore_errors=True)


def remove_stale_cgroups() -> None:
    """Remove the ``juggler-lab-<pid>`` cgroups of runs that are gone.

    The pid keeps concurrent runs apart; a run killed with SIGKILL leaves its
    cgroup (and perhaps QEMU processes) behind, and the next run removes them.
    """
    for stale in remove_stale(prefix=f"{PREFIX}{RUN_PREFIX}", keep=_run_is_alive):
        log.warning("removed the cgroup %s of a run that is gone", stale)

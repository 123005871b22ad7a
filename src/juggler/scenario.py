"""The scenario format: one TOML file describes a host, its VMs and their workloads.

The same file drives the simulated host and the lab of real VMs, so a scenario
can be run both ways and the two compared. Loading validates everything up
front and reports every problem at once, each naming the file and the field
(``vm[1] 'B'.memory: '12 parsecs' is not a size ...``), so a mistake costs one
edit rather than one run.

Layout (sizes accept ``512MiB``/``2GiB``, durations ``30s``/``10m``)::

    name = "seed"
    [host]      memory, swap, swap_device, vm_overhead, profile, balloon_rate, reclaim
    [manager]   policy, interval, max_step, dead_band, [manager.params]
    [run]       duration, tick, seed, accesses_per_tick, page_size
    [[vm]]      name, memory, reservation, limit, shares, balloon, vcpus,
                guest_swap, guest_swap_device, guest_kernel, file_size
    [[vm.workload]]  duration | until, working_set, pattern, zipf_exponent,
                     rate, cpu, cache_rate, release
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from juggler.errors import AdmissionError, ScenarioError
from juggler.profile import DEFAULT_PROFILE, Profile, Reclaim, load_profile
from juggler.units import format_duration, format_size, parse_duration, parse_rate, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
Device = Literal["nvme", "ssd", "hdd"]
Pattern = Literal["uniform", "zipf", "scan", "idle"]

BUILTIN_SCENARIOS = ("seed",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostConfig(_Strict):
    """The hypervisor host: its physical memory and its swap."""

    memory: Size = Field(gt=0)
    #: the hypervisor's own swap space (0: the host cannot swap guest memory)
    swap: Size = Field(default=0, ge=0)
    swap_device: Device = "ssd"
    #: memory each VM costs the host beyond its guest memory (device model, page tables)
    vm_overhead: Size = Field(default=32 * 1024**2, ge=0)
    #: what moving memory costs on this host: a shipped profile (kvm, tcg, free) or
    #: the path of a profile TOML file (juggler.profile)
    profile: str = DEFAULT_PROFILE
    #: how fast a balloon driver inflates and deflates (default: the profile's rates)
    balloon_rate: Rate | None = Field(default=None, gt=0)
    #: which resident pages of a victim VM the host swaps out: "random" frames, as
    #: ESX does (blind to use), or the least recently used ones, as a Linux/KVM host
    #: reclaims the QEMU processes' memory (docs/lab.md); default: the profile's
    reclaim: Reclaim | None = None

    @field_validator("profile")
    @classmethod
    def _profile_loads(cls, spec: str) -> str:
        try:
            load_profile(spec)
        except ScenarioError as err:
            # a file's problems name the file; a name that is no profile speaks for itself
            where = f"{err.source}: " if Path(spec).exists() else ""
            raise ValueError(where + "; ".join(err.problems)) from None
        return spec

    def host_profile(self) -> Profile:
        """The profile this host runs with."""
        return load_profile(self.profile)

    @property
    def effective_reclaim(self) -> Reclaim:
        """The reclaim order: the scenario's own, else the profile's."""
        return self.reclaim if self.reclaim is not None else self.host_profile().host.reclaim

    @property
    def inflate_rate(self) -> float:
        """Bytes per second a balloon inflates: the scenario's balloon_rate, else the profile's."""
        if self.balloon_rate is not None:
            return self.balloon_rate
        return self.host_profile().balloon.inflate_rate

    @property
    def deflate_rate(self) -> float:
        """Bytes per second a balloon deflates: the scenario's balloon_rate, else the profile's."""
        if self.balloon_rate is not None:
            return self.balloon_rate
        return self.host_profile().balloon.deflate_rate


class ManagerConfig(_Strict):
    """The control loop: which policy, how often, how far per step."""

    policy: str = "juggler"
    interval: Duration = Field(default=5.0, gt=0)
    #: largest change of one VM's balloon target per interval
    max_step: Size = Field(default=256 * 1024**2, gt=0)
    #: changes smaller than this are not sent (no flapping)
    dead_band: Size = Field(default=4 * 1024**2, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, name: str) -> str:
        """One of ours, an installed plug-in, or a ``package.module:name`` spec that loads."""
        from juggler.errors import PolicyError
        from juggler.policy import get_policy

        try:
            get_policy(name)
        except PolicyError as err:
            raise ValueError(str(err)) from None
        return name

    @model_validator(mode="after")
    def _check_params(self) -> ManagerConfig:
        from juggler.errors import PolicyError
        from juggler.policy import get_policy

        try:
            get_policy(self.policy).make_params(self.params)
        except PolicyError as err:
            raise ValueError(f"params: {err}") from None
        return self


class RunConfig(_Strict):
    """How long and how finely to simulate."""

    duration: Duration = Field(default=600.0, gt=0)
    tick: Duration = Field(default=1.0, gt=0)
    seed: int = Field(default=1, ge=0)
    #: page accesses simulated per VM per tick; the rest are scaled from these
    accesses_per_tick: int = Field(default=20_000, gt=0)
    page_size: Size = Field(default=4096, gt=0)


class Phase(_Strict):
    """One stretch of a workload's life: a working set, a pattern, a rate."""

    duration: Duration | None = Field(default=None, gt=0)
    #: absolute end time of the phase (instead of duration)
    until: Duration | None = Field(default=None, gt=0)
    working_set: Size | None = Field(default=None, gt=0)
    pattern: Pattern = "uniform"
    zipf_exponent: float = Field(default=0.9, gt=0)
    #: page accesses per second at full speed
    rate: float = Field(default=200_000.0, ge=0)
    #: fraction of the VM's vCPUs the phase keeps busy at full speed
    cpu: float | None = Field(default=None, ge=0, le=1)
    #: file data read through the guest's page cache, per second
    cache_rate: Rate = Field(default=0.0, ge=0)
    #: free the pages beyond a smaller working set (False: keep hoarding them)
    release: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Phase:
        if self.duration is not None and self.until is not None:
            raise ValueError("give either duration or until, not both")
        if self.pattern != "idle" and self.working_set is None:
            raise ValueError(f"working_set is required for a {self.pattern!r} phase")
        return self

    @property
    def busy(self) -> float:
        """CPU fraction at full speed: 1 for active phases, 0 for idle, unless set."""
        if self.cpu is not None:
            return self.cpu
        return 0.0 if self.pattern == "idle" else 1.0

    @property
    def releases(self) -> bool:
        """Whether shrinking the working set frees pages (idle phases hoard by default)."""
        if self.release is not None:
            return self.release
        return self.pattern != "idle"


class VmConfig(_Strict):
    """One virtual machine."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    memory: Size = Field(gt=0)
    reservation: Size = Field(default=0, ge=0)
    limit: Size | None = Field(default=None, gt=0)
    shares: int = Field(default=1000, gt=0)
    balloon: bool = True
    vcpus: int = Field(default=1, gt=0, le=64)
    guest_swap: Size = Field(default=0, ge=0)
    guest_swap_device: Device = "ssd"
    #: memory the guest kernel itself holds (never reclaimable inside the guest)
    guest_kernel: Size = Field(default=48 * 1024**2, ge=0)
    #: size of the file the workload reads through the page cache (default: memory)
    file_size: Size | None = Field(default=None, gt=0)
    workload: list[Phase] = Field(default_factory=lambda: [Phase(pattern="idle")])

    # Field validators run in declaration order and see the fields before them in
    # info.data, so each cross-field problem is reported at the field that is wrong.
    @field_validator("reservation")
    @classmethod
    def _reservation_fits(cls, reservation: int, info: ValidationInfo) -> int:
        memory = info.data.get("memory")
        if memory is not None and reservation > memory:
            raise ValueError(
                f"reservation ({format_size(reservation)}) is larger than memory "
                f"({format_size(memory)}); lower reservation or raise memory"
            )
        return reservation

    @field_validator("limit")
    @classmethod
    def _limit_between(cls, limit: int | None, info: ValidationInfo) -> int | None:
        if limit is None:
            return limit
        reservation = info.data.get("reservation")
        memory = info.data.get("memory")
        if reservation is not None and limit < reservation:
            raise ValueError(
                f"limit ({format_size(limit)}) is below reservation "
                f"({format_size(reservation)}); raise limit or lower reservation"
            )
        if memory is not None and limit > memory:
            raise ValueError(
                f"limit ({format_size(limit)}) is above memory ({format_size(memory)}); "
                "lower limit, or leave it out to mean memory"
            )
        return limit

    @field_validator("guest_kernel")
    @classmethod
    def _kernel_fits(cls, guest_kernel: int, info: ValidationInfo) -> int:
        memory = info.data.get("memory")
        if memory is not None and guest_kernel >= memory:
            raise ValueError(
                f"guest_kernel ({format_size(guest_kernel)}) leaves no memory for the "
                f"workload in memory ({format_size(memory)}); lower guest_kernel or raise memory"
            )
        return guest_kernel

    @field_validator("workload")
    @classmethod
    def _has_phases(cls, workload: list[Phase]) -> list[Phase]:
        if not workload:
            raise ValueError("needs at least one phase (or leave workload out for an idle VM)")
        return workload

    @property
    def limit_bytes(self) -> int:
        return self.memory if self.limit is None else self.limit

    @property
    def file_bytes(self) -> int:
        return self.memory if self.file_size is None else self.file_size


@dataclass(frozen=True)
class PhaseSpan:
    """A phase placed on the run's clock."""

    start_s: float
    end_s: float
    phase: Phase


class Scenario(_Strict):
    """A whole scenario: host, manager, run and VMs."""

    name: str = "scenario"
    description: str = ""
    host: HostConfig
    manager: ManagerConfig = ManagerConfig()
    run: RunConfig = RunConfig()
    vm: list[VmConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_vms(self) -> Scenario:
        # Raised at the root, so each line carries its own full path; validate_scenario
        # splits the lines into separate problems.
        problems = []
        first_index: dict[str, int] = {}
        for index, vm in enumerate(self.vm):
            where = f"vm[{index}] {vm.name!r}"
            if vm.name in first_index:
                problems.append(
                    f"{where}.name: duplicate VM name {vm.name!r} (vm[{first_index[vm.name]}] "
                    "has it too); give each VM its own name"
                )
            else:
                first_index[vm.name] = index
            _, phase_problems = _place_phases(vm, self.run.duration)
            problems.extend(
                f"{where}.workload{path}: {message}" for path, message in phase_problems
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def overcommit_ratio(self) -> float:
        """Configured guest memory over host memory (above 1: over-committed)."""
        return sum(vm.memory for vm in self.vm) / self.host.memory

    def spans(self, vm: VmConfig) -> list[PhaseSpan]:
        return phase_spans(vm, self.run.duration)

    def with_overrides(
        self,
        *,
        policy: str | None = None,
        duration_s: float | None = None,
        seed: int | None = None,
        profile: str | None = None,
        source: str = "<command line>",
    ) -> Scenario:
        """A copy with the command line's overrides applied and validated again.

        :param source: what to name in error messages (the file and the options).
        :raise ScenarioError: When the overrides make the scenario invalid.
        """
        # Only what the file set, so a field left to its default stays unset: the
        # simulator tells an idle phase's own rate from an explicit one by that.
        data = self.model_dump(exclude_unset=True)
        if policy is not None:
            data.setdefault("manager", {})["policy"] = policy
        if duration_s is not None:
            data.setdefault("run", {})["duration"] = duration_s
        if seed is not None:
            data.setdefault("run", {})["seed"] = seed
        if profile is not None:
            data.setdefault("host", {})["profile"] = profile
        return validate_scenario(data, source)


def phase_spans(vm: VmConfig, run_duration_s: float) -> list[PhaseSpan]:
    """Place a VM's phases on the clock; the last phase lasts to the end of the run.

    :raise ValueError: When a phase ends before it starts, or a phase other than the
        last has neither ``duration`` nor ``until``.
    """
    spans, problems = _place_phases(vm, run_duration_s)
    if problems:
        path, message = problems[0]
        raise ValueError(f"workload{path}: {message}")
    return spans


def _place_phases(
    vm: VmConfig, run_duration_s: float
) -> tuple[list[PhaseSpan], list[tuple[str, str]]]:
    """The spans, and every problem as (``[index].field``, message)."""
    spans: list[PhaseSpan] = []
    problems: list[tuple[str, str]] = []
    start = 0.0
    last = len(vm.workload) - 1
    for index, phase in enumerate(vm.workload):
        if phase.until is not None:
            end = phase.until
            if end <= start:
                problems.append(
                    (
                        f"[{index}].until",
                        f"until={format_duration(end)} is not after the phase's start at "
                        f"{format_duration(start)} (phase times go backwards); make until "
                        f"later than {format_duration(start)} or use duration",
                    )
                )
                end = start
        elif phase.duration is not None:
            end = start + phase.duration
        elif index == last:
            end = max(run_duration_s, start)
        else:
            problems.append(
                (
                    f"[{index}]",
                    "needs a duration or an until (only the last phase may have neither)",
                )
            )
            end = start
        if index == last:
            end = max(end, run_duration_s)
        spans.append(PhaseSpan(start, end, phase))
        start = end
    return spans, problems


def _format_location(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            name = ""
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                vm_name = node[item].get("name")
                if parts and parts[-1] == "vm" and isinstance(vm_name, str) and vm_name:
                    name = f" {vm_name!r}"
            parts[-1] = f"{parts[-1]}[{item}]{name}" if parts else f"[{item}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _format_error(error: Mapping[str, Any], data: Any) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    # pydantic puts a tagged/union branch name in the location; drop those
    loc = tuple(p for p in loc if p not in ("int", "float", "str", "bool", "none"))
    where = _format_location(loc, data)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: missing (required)"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    value = error.get("input")
    if kind in ("greater_than", "greater_than_equal", "less_than_equal") and value is not None:
        message = f"{value!r}: {message}"
    if kind == "literal_error":
        message = f"{value!r}: {message}"
    return f"{where}: {message}" if where else message


def validate_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Validate parsed TOML as a scenario, then check admission.

    :raise ScenarioError: When any field is wrong; every problem is listed.
    :raise AdmissionError: When the reservations plus overheads do not fit the host.
    """
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        problems = [line for e in err.errors() for line in _format_error(e, data).splitlines()]
        raise ScenarioError(source, problems) from None
    check_admission(scenario, source)
    return scenario


def check_admission(scenario: Scenario, source: str) -> None:
    """Refuse a scenario whose reservations plus per-VM overheads exceed host memory.

    :raise AdmissionError: naming the VMs with reservations and the shortfall.
    """
    overhead = scenario.host.vm_overhead
    needed = sum(vm.reservation + overhead for vm in scenario.vm)
    if needed <= scenario.host.memory:
        return
    reserved = [vm for vm in scenario.vm if vm.reservation]
    names = ", ".join(f"{vm.name} ({format_size(vm.reservation)})" for vm in reserved) or "none"
    raise AdmissionError(
        source,
        [
            f"admission control: reservations plus overheads need {format_size(needed)} but "
            f"host.memory is {format_size(scenario.host.memory)}; reserved VMs: {names}; "
            f"lower a reservation or raise host.memory"
        ],
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    :raise ScenarioError: When the file is missing, is not TOML, or does not validate.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            str(path),
            [
                "no such file (give the path of a scenario TOML file, or one of the "
                f"built-in scenarios: {', '.join(BUILTIN_SCENARIOS)})"
            ],
        ) from None
    except OSError as err:
        raise ScenarioError(str(path), [f"cannot read: {err.strerror}"]) from None
    except UnicodeDecodeError as err:
        raise ScenarioError(
            str(path), [f"not UTF-8 text (byte {err.start}); save the file as UTF-8"]
        ) from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str) -> Scenario:
    """Parse scenario TOML text (from a file or built in).

    :raise ScenarioError: When the text is not TOML or does not validate.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, [f"not valid TOML: {err}"]) from None
    return validate_scenario(data, source)


def builtin_scenario_text(name: str = "seed") -> str:
    """The TOML text of a scenario shipped inside the package."""
    if name not in BUILTIN_SCENARIOS:
        raise ScenarioError(f"<built-in {name}>", [f"no built-in scenario {name!r}"])
    return resources.files("juggler.scenarios").joinpath(f"{name}.toml").read_text("utf-8")


def builtin_scenario(name: str = "seed") -> Scenario:
    """A scenario shipped inside the package (the seed story by default)."""
    return parse_scenario(builtin_scenario_text(name), f"<built-in {name}>")

"""Host profiles: what moving memory costs on a kind of host, stated once, with sources.

A scenario says what runs (VMs, workloads); a profile says what the machinery
under it costs: how fast a balloon moves and what vCPU time the guest spends on
it, which pages the host swaps first, what a guest reserves at boot and touches
while booting. The simulator reads these figures instead of assuming that
moving memory is free, so that a policy tuned on it learns what the seed
article warns of: "excessive ballooning (inflating and deflating) can impair
performance".

Shipped profiles (``src/juggler/profiles/*.toml``):

- ``kvm`` (the default): a Linux/KVM host, figures from published measurements,
  each cited in the file's ``[sources]``.
- ``tcg``: this project's lab (QEMU under TCG on a 2-core machine), measured by
  ``juggler lab calibrate``; its ``[sources]`` say when and how.
- ``free``: moving memory costs nothing and the host picks victims at random:
  the simulator as it was before profiles, kept to measure what the costs change.

A scenario picks one with ``[host] profile = "kvm"`` or a path to a TOML file
(``juggler lab calibrate -o my-host.toml`` writes one). Fields a scenario sets
itself (``[host] reclaim``, ``balloon_rate``) win over the profile's.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from juggler.errors import ScenarioError
from juggler.units import parse_rate, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
#: how the host picks the guest pages it swaps: blind (ESX) or least recently used (KVM)
Reclaim = Literal["random", "lru"]

SHIPPED_PROFILES = ("kvm", "tcg", "free")
DEFAULT_PROFILE = "kvm"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BalloonCosts(_Strict):
    """How fast a balloon moves and the guest vCPU time each GiB costs.

    Inflating takes a page from the guest: from its free list (cheapest), by
    dropping page cache, or by writing an anonymous page to guest swap (the
    guest's reclaim runs on its vCPUs). Deflating hands pages back, and the guest
    later faults each one in again (``retouch_s``).
    """

    inflate_rate: Rate = Field(gt=0)
    deflate_rate: Rate = Field(gt=0)
    #: vCPU seconds per GiB inflated from free memory
    inflate_cpu_free: float = Field(ge=0)
    #: vCPU seconds per GiB inflated by dropping page cache (reclaim included)
    inflate_cpu_cache: float = Field(ge=0)
    #: vCPU seconds per GiB inflated by pushing anonymous memory to guest swap
    inflate_cpu_anon: float = Field(ge=0)
    #: vCPU seconds per GiB deflated
    deflate_cpu: float = Field(ge=0)
    #: vCPU seconds to touch again one page the balloon took and gave back
    retouch_s: float = Field(ge=0)


class GuestFacts(_Strict):
    """What a guest holds before its workload starts."""

    #: memory the guest's firmware and kernel reserve outside MemTotal: a fixed part
    boot_reserved: Size = Field(ge=0)
    #: and a part per GiB of guest memory (the kernel's page structures)
    boot_reserved_per_gib: Size = Field(ge=0)
    #: memory the guest touches while booting and then frees (host memory backs it
    #: although the guest holds it free): a fixed part, about the same at every size
    #: in the lab (QEMU held ~120-140 MiB of guest RAM after boot at 256 MiB, 512 MiB
    #: and 1 GiB)
    boot_touched: Size = Field(ge=0)
    #: and a part per GiB of guest memory
    boot_touched_per_gib: Size = Field(default=0, ge=0)
    #: vCPU seconds one guest swap-in costs, the reclaim that made room for it
    #: included (None: the guest swap device's read latency, the scenario's
    #: guest_swap_device); on a guest with one vCPU its kswapd competes with its work
    swap_in_s: float | None = Field(default=None, gt=0)


class HostFacts(_Strict):
    """How the host reclaims and what it costs per VM."""

    #: which resident pages of a VM the host swaps first
    reclaim: Reclaim
    #: True for a host that keeps free memory (kswapd's watermarks); False for a
    #: memory cgroup, which reclaims only at its limit and so looks full from the
    #: first second
    keeps_free: bool = True
    #: QEMU's own resident memory per VM (device model, page tables), beyond guest RAM
    qemu_overhead: Size = Field(ge=0)
    #: host swap throughput (informational: the simulator charges per-page latency)
    swap_out_rate: Rate | None = Field(default=None, gt=0)
    swap_in_rate: Rate | None = Field(default=None, gt=0)
    #: share of what the host swapped that the guests did not touch again (measured)
    cold_share: float | None = Field(default=None, ge=0, le=1)


class Profile(_Strict):
    """A host profile: the model's parameters, and where each came from."""

    name: str = Field(min_length=1)
    description: str = ""
    host: HostFacts
    balloon: BalloonCosts
    guest: GuestFacts
    #: per parameter (``balloon.inflate_rate``, ...): the paper, upstream default or
    #: measurement that set it
    sources: dict[str, str] = Field(default_factory=dict)

    def boot_reserved_bytes(self, memory: int) -> int:
        """Memory a guest of ``memory`` bytes reserves outside MemTotal."""
        return self.guest.boot_reserved + round(self.guest.boot_reserved_per_gib * memory / 2**30)

    def boot_touched_bytes(self, memory: int) -> int:
        """Memory a guest of ``memory`` bytes touched while booting and freed again."""
        return self.guest.boot_touched + round(self.guest.boot_touched_per_gib * memory / 2**30)


def load_profile(spec: str) -> Profile:
    """The shipped profile called ``spec``, or the profile in the TOML file at ``spec``.

    :raise ScenarioError: When there is no such profile or the file does not validate;
        every problem names the field.
    """
    if spec in SHIPPED_PROFILES:
        return _shipped_profile(spec)
    return _parse_profile(_read_profile_file(spec), spec)


@cache
def _shipped_profile(name: str) -> Profile:
    text = resources.files("juggler.profiles").joinpath(f"{name}.toml").read_text("utf-8")
    return _parse_profile(text, f"profile {name!r}")


def _read_profile_file(spec: str) -> str:
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        raise ScenarioError(
            spec,
            [
                f"no profile {spec!r}: name a shipped one ({', '.join(SHIPPED_PROFILES)}) "
                "or the path of a profile TOML file (juggler lab calibrate writes one)"
            ],
        )
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(spec, [f"cannot read the profile: {err.strerror}"]) from None


def _parse_profile(text: str, source: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, [f"not valid TOML: {err}"]) from None
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise ScenarioError(source, problems) from None


def dump_profile(profile: Profile) -> str:
    """The profile as TOML, in the shipped files' layout (sizes in bytes, rates in bytes/s)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"name = {value(profile.name)}", f"description = {value(profile.description)}"]
    for section in ("host", "balloon", "guest"):
        lines.append("")
        lines.append(f"[{section}]")
        for key, v in getattr(profile, section).model_dump().items():
            if v is not None:
                lines.append(f"{key} = {value(v)}")
    if profile.sources:
        lines.append("")
        lines.append("[sources]")
        for key, v in profile.sources.items():
            lines.append(f"{value(key)} = {value(v)}")
    return "\n".join(lines) + "\n"

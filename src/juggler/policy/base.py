"""What a policy is: a pure function from an observation to a decision.

A policy module (``policy/<name>.py``) holds a frozen ``Params`` dataclass
with the source's default parameters, a ``decide(observation, params, state)``
function, pseudo-code of its rules in the module docstring, and, when it
remembers anything between intervals, a ``State`` dataclass deriving from
:class:`PolicyState` that declares what it keeps; it is registered with one
line in ``policy/__init__.py`` (a user's own policy plugs in the same way:
``policy/registry.py``). Policies never import a backend, never read a clock,
and draw randomness only from ``state.rng``.

The working-set estimate is the Manager's (``VmSample.working_set_estimate_bytes``),
never a policy's own, so a reason quotes the figure the run file records.

What every policy shares lives once, in the Manager: clamping targets to
[configured - limit, configured - reservation], and, for juggler's own
policies, the per-interval step limit, the dead band, and the guard that
deflates a guest close to running out of memory (the *guard extras*). A policy
says what it wants and why; the Manager makes it safe.

A baseline written from another project's source runs as that project runs
it, so a comparison measures the algorithm rather than juggler's harness
around it: :attr:`Policy.native_interval_s` is its upstream cadence (the
Manager decides at it, whatever the schedule's interval), and
:attr:`Policy.guard_extras` is False because upstream has no step cap, dead
band or OOM rescue of ours; the clamp to reservation and limit stays for all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from juggler.errors import PolicyError
from juggler.observation import Decision, Observation, VmSample
from juggler.profile import BalloonCosts
from juggler.units import MIB, parse_size


@dataclass
class PolicyState:
    """What every policy is handed between intervals.

    A policy that remembers something (smoothed figures, counters) derives its
    own ``State`` dataclass from this one and declares each field, so what it
    keeps is typed and visible rather than hidden in a shared dictionary.
    """

    #: the only source of randomness a policy may use (seeded by the run)
    rng: np.random.Generator
    #: seconds between the policy's decisions (for a policy with a
    #: :attr:`Policy.busy_interval_s`, between the decisions of one busy run)
    interval_s: float
    #: what moving memory costs on this host (the host profile's balloon figures:
    #: profile.py); None when the world did not say (a policy then assumes kvm's)
    balloon_costs: BalloonCosts | None = None


#: ``decide(observation, params, state)``; the state is the policy's own ``State``
DecideFn = Callable[[Observation, Any, Any], Decision]


@dataclass(frozen=True)
class Policy:
    """A registered policy: its name, parameters type, decision function and state type."""

    name: str
    params_type: type
    decide: DecideFn
    summary: str
    #: what the policy keeps between intervals (:class:`PolicyState` or a dataclass
    #: deriving from it, built with only ``rng`` and ``interval_s``)
    state_type: type[PolicyState] = PolicyState
    #: seconds between decisions as upstream runs the policy (None: the schedule's
    #: interval, as for juggler's own policies and any plug-in that does not say)
    native_interval_s: float | None = None
    #: while the policy's last decision said it is in the middle of a run
    #: (``Decision.busy``), decide again this soon (None: at the usual cadence)
    busy_interval_s: float | None = None
    #: the Manager's step cap, dead band and OOM rescue apply to this policy's
    #: wishes (False for a baseline: upstream has none of them)
    guard_extras: bool = True
    #: it decides on the simulator's truth (``Observation.truth``): the Manager hands it
    #: the whole observation, and refuses to run it on a backend that has no truth
    #: (``oracle``, an evaluation bound, is the one that does)
    needs_truth: bool = False

    def new_state(
        self,
        rng: np.random.Generator,
        interval_s: float,
        balloon_costs: BalloonCosts | None = None,
    ) -> PolicyState:
        """A fresh state for one run of this policy.

        :param rng: the run's seeded random generator.
        :param interval_s: seconds between decisions.
        :param balloon_costs: what moving memory costs on this host.
        :return: an instance of :attr:`state_type`.
        """
        return self.state_type(rng=rng, interval_s=interval_s, balloon_costs=balloon_costs)

    def make_params(self, raw: dict[str, Any] | None = None) -> Any:
        """Build the policy's parameters from a scenario's ``[manager.params]``.

        Sizes may be written as strings ("64MiB") where the default is in bytes.

        :raise PolicyError: When a key is unknown or a value has the wrong type.
        """
        raw = dict(raw or {})
        fields = {f.name: f for f in dataclasses.fields(self.params_type)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise PolicyError(
                f"policy {self.name!r} has no parameter {unknown[0]!r} "
                f"(its parameters: {', '.join(sorted(fields)) or 'none'})"
            )
        values = {}
        for key, value in raw.items():
            default = fields[key].default
            try:
                values[key] = _coerce(value, default, key)
            except (TypeError, ValueError) as err:
                raise PolicyError(f"policy {self.name!r} parameter {key!r}: {err}") from None
        return self.params_type(**values)


def check_backend(policy: Policy, *, has_truth: bool, backend: str) -> None:
    """Refuse a policy that decides on the simulator's truth where there is none.

    :param has_truth: whether the backend's observations carry the truth.
    :param backend: the backend's name, for the message (``qemu``, ``QemuBackend``).
    :raise PolicyError: When ``policy`` needs the truth and the backend has none.
    """
    if policy.needs_truth and not has_truth:
        raise PolicyError(
            f"policy {policy.name!r} decides on the simulator's truth, which the {backend} "
            "backend does not have: it is an evaluation bound for `juggler simulate` and "
            "`juggler compare`; pick another policy to manage real VMs"
        )


def _coerce(value: Any, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not true or false")
        return value
    if isinstance(default, int) and key.endswith("_bytes"):
        return parse_size(value)
    if isinstance(default, int | float) and not isinstance(value, bool):
        if isinstance(value, int | float):
            return type(default)(value)
        raise TypeError(f"{value!r} is not a number")
    return value


#: swap-in (or disk reads of what it gave up) per second above which a guest is paging
PAGING_BYTES_PER_S = 64 * 1024

#: swap-in per second above which a guest that is full on purpose (its idle memory
#: paged out under a balloon) is thrashing: 256 pages/s, at a solid-state disk's
#: 250 us a read about 6% of a vCPU spent waiting
THRASHING_BYTES_PER_S = 1024 * 1024

#: a guest with less than this fraction of its memory available (and at least 16 MiB) is short
NEED_FRACTION = 0.05


def need_floor_bytes(guest_total_bytes: int) -> int:
    """Available memory below which a guest counts as short of memory.

    A policy that squeezes a guest below this makes it needy at the next
    interval and must give the memory back (juggler's held guests keep it).
    """
    return max(16 * MIB, int(NEED_FRACTION * guest_total_bytes))


def guest_needs_memory(vm: VmSample) -> bool:
    """True when the guest shows it is short of memory: swapping in, or almost
    nothing available. Unknown statistics are not taken as need."""
    if (
        vm.guest_swap_in_bytes_per_s is not None
        and vm.guest_swap_in_bytes_per_s > PAGING_BYTES_PER_S
    ):
        return True
    if vm.guest_available_bytes is None or vm.guest_total_bytes is None:
        return False
    return vm.guest_available_bytes < need_floor_bytes(vm.guest_total_bytes)


def balloon_now(vm: VmSample) -> int:
    """The balloon's current size (its actual size, else its target, else 0)."""
    if vm.balloon_actual_bytes is not None:
        return vm.balloon_actual_bytes
    return vm.balloon_target_bytes or 0


def guest_used_bytes(vm: VmSample) -> int | None:
    """Guest memory the guest cannot give up without swapping (None: unknown).

    That is everything but what it reports available, *including* what its
    kernel reserved at boot: a real Linux guest leaves that out of ``MemTotal``
    (~39 MiB of a 256 MiB guest: the kernel image, page structs, reserved
    ranges), yet a balloon cannot take it either, so a policy that sized a
    guest from ``total - available`` alone would squeeze it that much too far.
    The simulator's guests report their total the same way (the host profile's
    boot-reserved memory left out).
    """
    if vm.guest_available_bytes is None or vm.guest_total_bytes is None:
        return None
    held = vm.configured_bytes - balloon_now(vm)
    reserved = max(0, held - vm.guest_total_bytes)
    return max(0, vm.guest_total_bytes - vm.guest_available_bytes + reserved)

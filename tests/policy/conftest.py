"""Small builders for hand-made observations, and a strategy for random ones.

Sizes are given in MiB (floats allowed) so hand arithmetic stays readable::

    vm("a", 4000, balloon=1000, free=200, reservation=1024)
    obs(host=10000, available=1000, vms=[...])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import strategies as st

from juggler.observation import HostSample, Observation, VmSample
from juggler.policy.base import PolicyState
from juggler.units import MIB


def mib(value: float | None) -> int | None:
    """``value`` MiB in bytes (None stays None)."""
    return None if value is None else round(value * MIB)


def make_vm(
    name: str,
    configured: float,
    *,
    balloon: float | None = 0,
    target: float | None = None,
    free: float | None = None,
    reservation: float = 0,
    limit: float | None = None,
    resident: float | None = None,
    shares: int = 1000,
    balloon_present: bool = True,
) -> VmSample:
    """A VM; ``balloon`` is the balloon's actual size and ``target`` its target
    (default: the actual size), all in MiB."""
    return VmSample(
        name=name,
        configured_bytes=mib(configured),
        reservation_bytes=mib(reservation),
        limit_bytes=mib(limit),
        shares=shares,
        balloon_present=balloon_present,
        balloon_target_bytes=mib(balloon if target is None else target),
        balloon_actual_bytes=mib(balloon),
        resident_bytes=mib(resident),
        guest_total_bytes=None if balloon is None else mib(configured - balloon),
        guest_free_bytes=mib(free),
    )


def make_obs(host: float, available: float, vms: list[VmSample], time_s: float = 0.0):
    """An observation of a host of ``host`` MiB with ``available`` MiB available."""
    return Observation(
        time_s=time_s,
        host=HostSample(host_memory_bytes=mib(host), host_available_bytes=mib(available)),
        vms=tuple(vms),
    )


def make_state(state_type: type[PolicyState] = PolicyState, interval_s: float = 5.0) -> PolicyState:
    """A fresh policy state of the policy's own ``State`` type (``mom.State``)."""
    return state_type(rng=np.random.default_rng(0), interval_s=interval_s)


@pytest.fixture(scope="session")
def vm() -> Callable[..., VmSample]:
    return make_vm


@pytest.fixture(scope="session")
def obs() -> Callable[..., Observation]:
    return make_obs


@pytest.fixture(scope="session")
def new_state() -> Callable[..., PolicyState]:
    return make_state


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


@st.composite
def _random_vm(draw: st.DrawFn, index: int) -> VmSample:
    configured = draw(st.integers(1, 64 * 1024)) * MIB
    balloon = draw(_maybe(st.integers(0, configured)))
    guest = configured - (balloon or 0)
    reservation = draw(st.sampled_from([0, configured // 4, configured, None]))
    if reservation is None:
        reservation = draw(st.integers(0, configured))
    limit = draw(_maybe(st.integers(reservation, configured)))
    return VmSample(
        name=f"vm{index}",
        configured_bytes=configured,
        reservation_bytes=reservation,
        limit_bytes=limit,
        shares=draw(st.sampled_from([0, 1, 1000, 4000])),
        balloon_present=draw(st.booleans()) or balloon is not None,
        balloon_target_bytes=draw(_maybe(st.integers(0, configured))),
        balloon_actual_bytes=balloon,
        resident_bytes=draw(_maybe(st.integers(0, configured))),
        guest_total_bytes=guest,
        guest_free_bytes=draw(_maybe(st.integers(0, guest))),
    )


@st.composite
def _random_observation(draw: st.DrawFn) -> Observation:
    host = draw(st.integers(0, 256 * 1024)) * MIB
    available = draw(st.integers(0, host))
    n = draw(st.integers(0, 6))
    return Observation(
        time_s=0.0,
        host=HostSample(host_memory_bytes=host, host_available_bytes=available),
        vms=tuple(draw(_random_vm(i)) for i in range(n)),
    )


@pytest.fixture(scope="session")
def random_observations() -> st.SearchStrategy[Observation]:
    """Random but self-consistent observations (sizes within each VM's configuration)."""
    return _random_observation()

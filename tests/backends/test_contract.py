"""The contract every backend honours, run against each backend we have.

The Manager treats all worlds alike (``juggler.backend.Backend``), so what it
relies on is written here once and checked for each: the simulator, QEMU over
QMP (against the fake QMP server, no real QEMU), and, when it lands, libvirt.
A backend joins by adding a world factory to :data:`WORLDS`; a clause it breaks
is listed in its :attr:`World.violations` (a strict xfail, so fixing the backend
makes the test fail until the entry goes).

Types and units are checked by field name, for every field of ``HostSample`` and
``VmSample``: ``*_bytes`` are ints >= 0, ``*_per_s`` finite rates >= 0, ``*_s`` and
``*_seconds`` finite times >= 0, ``*_pages`` counts >= 0, ``*_avg10`` PSI
percentages. A new field with none of these endings fails
:func:`test_every_sample_field_has_a_known_unit` until its unit is decided here.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from qmp_fake import MIB, FakeQemu
from tests.sim.conftest import tiny, vm

from juggler.backend import Backend
from juggler.backends import QemuBackend, QemuVm
from juggler.errors import BackendError
from juggler.metrics.names import HOST_STATES
from juggler.observation import Decision, HostSample, Observation, VmSample, VmTarget
from juggler.sim.host import SimulatedHost

PROC = Path(__file__).parent / "data" / "proc"

#: contract clauses a backend may be recorded as breaking (see World.violations)
UNKNOWN_VM = "unknown-vm"


@dataclass
class World:
    """One backend, set up with VMs the contract tests can act on: at least one with a
    balloon and a reservation (the one the apply tests move), and one without a
    balloon driver (so the optional fields' other branch is checked too)."""

    backend: Backend
    #: every VM the backend was given
    vm_names: frozenset[str]
    #: how long to ``advance`` for a balloon to follow a new target
    settle_s: float
    #: ways to make every later call to the VMs fail, by name; empty when the backend
    #: has no call that can fail (the simulator lives in this process's memory)
    failures: dict[str, Callable[[], None]] = field(default_factory=dict)
    #: clauses this backend is known to break, with the reason (reported as strict xfails)
    violations: dict[str, str] = field(default_factory=dict)


@contextmanager
def simulator_world(tmp_path: Path) -> Iterator[World]:
    """Three tiny simulated VMs (one reserved, one without a balloon driver), a few
    seconds into their run."""
    scenario = tiny([vm("a", reservation="1MiB"), vm("b"), vm("c", balloon=False)])
    host = SimulatedHost(scenario)
    host.advance(2)
    yield World(
        backend=host,
        vm_names=frozenset({"a", "b", "c"}),
        settle_s=5.0,
    )
    host.close()


def _guest_stats(total: int) -> dict[str, Any]:
    return {
        "last-update": int(time.time()),
        "stats": {
            "stat-total-memory": total,
            "stat-free-memory": total // 2,
            "stat-available-memory": total * 3 // 5,
            "stat-disk-caches": total // 10,
            "stat-swap-in": 0,
            "stat-swap-out": 0,
            "stat-major-faults": 0,
            "stat-minor-faults": -1,
        },
    }


@contextmanager
def qmp_world(tmp_path: Path) -> Iterator[World]:
    """Three VMs behind fake QMP servers (one reserved, one without a balloon device),
    with canned ``/proc`` files."""
    fakes = {name: FakeQemu(tmp_path / f"{name}.sock").start() for name in ("a", "b", "c")}
    for fake in fakes.values():
        fake.stats = _guest_stats(480 * MIB)
    fakes["c"].balloon = False
    backend = QemuBackend(
        [
            QemuVm("a", fakes["a"].path, pid=4242, reservation_bytes=64 * MIB),
            QemuVm("b", fakes["b"].path, pid=4242),
            QemuVm("c", fakes["c"].path, pid=4242),
        ],
        proc_root=PROC,
        timeout_s=0.3,
    )

    def refuse() -> None:
        for fake in fakes.values():
            fake.errors.update(
                dict.fromkeys(
                    ["query-balloon", "balloon", "qom-get", "query-memory-size-summary"],
                    "GenericError",
                )
            )

    def hang() -> None:
        for fake in fakes.values():
            fake.hang.update(["query-balloon", "balloon", "qom-get", "query-blockstats"])

    try:
        yield World(
            backend=backend,
            vm_names=frozenset(fakes),
            settle_s=0.01,
            failures={"refuses": refuse, "hangs": hang},
        )
    finally:
        backend.close()
        for fake in fakes.values():
            fake.stop()


#: every backend the contract runs against. libvirt: add
#: ``pytest.param(libvirt_world, id="libvirt")`` here when ``juggler.backends.libvirt``
#: lands, a factory like the two above (a fake ``libvirt`` connection, no real daemon)
WORLDS = [
    pytest.param(simulator_world, id="sim"),
    pytest.param(qmp_world, id="qmp"),
]


@pytest.fixture(params=WORLDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with request.param(tmp_path) as made:
        yield made


def known_violation(request: pytest.FixtureRequest, world: World, clause: str) -> None:
    """Mark the running test a strict xfail when ``world`` is known to break ``clause``."""
    reason = world.violations.get(clause)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# ---------------------------------------------------------------- types and units


def _allows_none(owner: type, name: str) -> bool:
    hint = typing.get_type_hints(owner)[name]
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def _unit(name: str) -> str | None:
    """The unit a sample field's name promises, or None when it promises none."""
    for suffix, unit in (
        ("_per_s", "rate"),
        ("_bytes", "bytes"),
        ("_seconds", "seconds"),
        ("_s", "seconds"),
        ("_pages", "pages"),
        ("_avg10", "percent"),
    ):
        if name.endswith(suffix):
            return unit
    return None


#: fields whose name carries no unit, with what they must be
_UNITLESS = {"name", "shares", "balloon_present"}


def _check_value(owner: type, name: str, value: object) -> None:
    where = f"{owner.__name__}.{name}={value!r}"
    if value is None:
        assert _allows_none(owner, name), f"{where}: a required field is None"
        return
    unit = _unit(name)
    if unit in ("bytes", "pages"):
        assert type(value) is int, f"{where}: {unit} must be an int"
        assert value >= 0, f"{where}: {unit} must be >= 0"
    elif unit in ("rate", "seconds", "percent"):
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        assert math.isfinite(value) and value >= 0, f"{where}: must be finite and >= 0"
        if unit == "percent":
            assert value <= 100, f"{where}: a PSI average is a percentage"


def _check_sample(sample: HostSample | VmSample) -> None:
    for f in dataclasses.fields(sample):
        _check_value(type(sample), f.name, getattr(sample, f.name))


def _check_host(host: HostSample) -> None:
    _check_sample(host)
    assert host.host_memory_bytes > 0
    assert host.host_available_bytes <= host.host_memory_bytes
    if host.host_free_cached_bytes is not None:
        assert host.host_free_cached_bytes <= host.host_memory_bytes


def _check_vm(sample: VmSample) -> None:
    _check_sample(sample)
    assert isinstance(sample.name, str) and sample.name
    assert type(sample.balloon_present) is bool
    assert type(sample.shares) is int and sample.shares > 0
    assert sample.configured_bytes > 0
    assert sample.reservation_bytes <= sample.configured_bytes
    if sample.limit_bytes is not None:
        assert sample.reservation_bytes <= sample.limit_bytes <= sample.configured_bytes
    for balloon in (sample.balloon_target_bytes, sample.balloon_actual_bytes):
        assert balloon is None or balloon <= sample.configured_bytes
    if not sample.balloon_present:
        assert sample.balloon_actual_bytes in (None, 0)
    if sample.guest_total_bytes is not None:
        assert sample.guest_total_bytes <= sample.configured_bytes
        for part in (sample.guest_free_bytes, sample.guest_available_bytes):
            assert part is None or part <= sample.guest_total_bytes
    if sample.sampled_pages is not None and sample.sampled_touched_pages is not None:
        assert sample.sampled_touched_pages <= sample.sampled_pages
    assert sample.working_set_estimate_bytes is None, "the Manager's estimate, not a backend's"


def _check_observation(obs: Observation, world: World) -> None:
    assert isinstance(obs, Observation)
    assert math.isfinite(obs.time_s) and obs.time_s >= 0
    _check_host(obs.host)
    names = [sample.name for sample in obs.vms]
    assert len(names) == len(set(names)), f"VM names repeat: {names}"
    assert set(names).isdisjoint(obs.missing), "a VM both observed and missing"
    assert set(names) | set(obs.missing) == world.vm_names
    assert all(isinstance(r, str) and r for r in obs.missing.values())
    assert set(obs.truth) <= set(names), "truth about a VM that was not observed"
    assert obs.host_state is None or obs.host_state in HOST_STATES
    for sample in obs.vms:
        assert isinstance(sample, VmSample)
        _check_vm(sample)
        assert obs.vm(sample.name) is sample


def test_every_sample_field_has_a_known_unit() -> None:
    unknown = [
        f"{owner.__name__}.{f.name}"
        for owner in (HostSample, VmSample)
        for f in dataclasses.fields(owner)
        if _unit(f.name) is None and f.name not in _UNITLESS
    ]
    assert unknown == []


_GOOD_VM = VmSample(name="v", configured_bytes=512 * MIB, balloon_actual_bytes=0)


@pytest.mark.parametrize(
    "broken",
    [
        {"balloon_actual_bytes": 1.5 * MIB},
        {"resident_bytes": -1},
        {"guest_swap_in_bytes_per_s": -0.5},
        {"guest_stats_age_s": math.nan},
        {"configured_bytes": None},
        {"balloon_actual_bytes": 513 * MIB},
        {"guest_total_bytes": 256 * MIB, "guest_free_bytes": 300 * MIB},
        {"working_set_estimate_bytes": MIB},
    ],
    ids=str,
)
def test_the_checks_catch_a_sample_that_breaks_the_contract(broken: dict[str, Any]) -> None:
    _check_vm(_GOOD_VM)
    with pytest.raises(AssertionError):
        _check_vm(dataclasses.replace(_GOOD_VM, **broken))


def test_the_backend_satisfies_the_protocol(world: World) -> None:
    assert isinstance(world.backend, Backend)


def test_observations_have_the_documented_types_and_units(world: World) -> None:
    for _ in range(3):
        obs = world.backend.observe()
        _check_observation(obs, world)
        assert obs.missing == {}, "a healthy world observes every VM"
        world.backend.advance(world.settle_s)


def test_time_only_moves_forward(world: World) -> None:
    first = world.backend.observe().time_s
    again = world.backend.observe().time_s
    world.backend.advance(world.settle_s)
    later = world.backend.observe().time_s
    assert first <= again < later


def test_vm_names_and_configuration_are_stable(world: World) -> None:
    def configuration(obs: Observation) -> dict[str, tuple[object, ...]]:
        return {
            s.name: (s.configured_bytes, s.reservation_bytes, s.limit_bytes, s.shares)
            for s in obs.vms
        }

    obs = world.backend.observe()
    first = configuration(obs)
    deflate = {s.name: VmTarget(0, "contract") for s in obs.vms if s.balloon_present}
    world.backend.apply(Decision(deflate))
    world.backend.advance(world.settle_s)
    assert configuration(world.backend.observe()) == first
    assert set(first) == world.vm_names


# ---------------------------------------------------------------- apply


def _balloon_vm(obs: Observation) -> VmSample:
    return next(s for s in obs.vms if s.balloon_present and s.reservation_bytes > 0)


def _distance(sample: VmSample, target: int) -> int:
    assert sample.balloon_actual_bytes is not None
    return abs(sample.balloon_actual_bytes - target)


def test_apply_moves_the_balloon_toward_the_target_and_back(world: World) -> None:
    before = _balloon_vm(world.backend.observe())
    name = before.name
    for target in ((before.configured_bytes - before.reservation_bytes) // 2, 0):
        start = world.backend.observe().vm(name)
        world.backend.apply(Decision({name: VmTarget(target, "contract")}))
        world.backend.advance(world.settle_s)
        after = world.backend.observe().vm(name)
        assert after.balloon_target_bytes == target
        assert _distance(after, target) == 0 or _distance(after, target) < _distance(start, target)


def test_a_target_of_none_leaves_the_balloon_alone(world: World) -> None:
    sample = _balloon_vm(world.backend.observe())
    name = sample.name
    quarter = (sample.configured_bytes - sample.reservation_bytes) // 4
    world.backend.apply(Decision({name: VmTarget(quarter, "contract")}))
    world.backend.advance(world.settle_s)
    before = world.backend.observe().vm(name).balloon_target_bytes
    world.backend.apply(Decision({name: VmTarget(None, "keep")}))
    world.backend.advance(world.settle_s)
    assert world.backend.observe().vm(name).balloon_target_bytes == before


def test_apply_never_raises_for_a_valid_target(world: World) -> None:
    """Valid: from 0 (deflated) up to what the reservation leaves, the range the
    Manager's guard clamps every policy's wish into, for every VM with a balloon at
    once (the guard sends none to a VM without one)."""
    obs = world.backend.observe()
    for edge in ("none", "low", "middle", "high"):
        targets = {}
        for sample in (s for s in obs.vms if s.balloon_present):
            high = sample.configured_bytes - max(sample.reservation_bytes, MIB)
            size = {"none": None, "low": 0, "middle": high // 2, "high": high}[edge]
            targets[sample.name] = VmTarget(size, f"contract: {edge}")
        world.backend.apply(Decision(targets))
        world.backend.advance(world.settle_s)
        _check_observation(world.backend.observe(), world)
    world.backend.apply(Decision())


@pytest.mark.parametrize("beyond", ["negative", "whole VM and more"])
def test_an_impossible_target_is_refused_or_clamped(world: World, beyond: str) -> None:
    """Refused with a BackendError naming the VM, or clamped into the VM's size:
    either way never a foreign exception, nor a balloon outside the VM."""
    sample = _balloon_vm(world.backend.observe())
    size = -MIB if beyond == "negative" else sample.configured_bytes + MIB
    try:
        world.backend.apply(Decision({sample.name: VmTarget(size, "contract")}))
    except BackendError as err:
        assert err.vm == sample.name
    world.backend.advance(world.settle_s)
    _check_observation(world.backend.observe(), world)


# ---------------------------------------------------------------- errors


def test_an_unknown_vm_is_a_backend_error_naming_it(
    world: World, request: pytest.FixtureRequest
) -> None:
    known_violation(request, world, UNKNOWN_VM)
    with pytest.raises(BackendError) as raised:
        world.backend.apply(Decision({"no-such-vm": VmTarget(MIB, "contract")}))
    assert raised.value.vm == "no-such-vm"


@pytest.mark.parametrize("failure", ["refuses", "hangs"])
def test_a_failing_call_is_a_backend_error(world: World, failure: str) -> None:
    """Apply names the VM it could not reach; observe lists it as missing with the
    reason (or, when nothing at all can be read, raises a BackendError)."""
    if failure not in world.failures:
        pytest.skip(f"this backend has no way to fail like this ({failure})")
    name = _balloon_vm(world.backend.observe()).name
    world.failures[failure]()
    with pytest.raises(BackendError) as raised:
        world.backend.apply(Decision({name: VmTarget(MIB, "contract")}))
    assert raised.value.vm == name
    try:
        obs = world.backend.observe()
    except BackendError:
        return
    assert name in obs.missing
    _check_observation(obs, world)


def test_close_can_be_called_twice(world: World) -> None:
    world.backend.observe()
    world.backend.close()
    world.backend.close()

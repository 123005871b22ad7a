"""The Manager: one control loop for every world.

::

    every sample period (a tick in the simulator, the interval on real hosts):
        obs = backend.observe()
        every interval: refresh each VM's working-set estimate from obs
        obs.working_set_estimate_bytes = the estimate;  store.record(obs)
        every decide interval (the policy's native cadence, else the interval;
        its busy interval while its last decision said busy):
            wish = policy.decide(obs without truth (with it: oracle), params, state)
            decision = guard(wish, obs)      # clamp; for juggler's own policies also
                                             # step limit, dead band, OOM guard
            backend.apply(decision);  store.record(decision, wish's notes, VMs left alone)

The guard is shared by every policy (libCacheSim keeps its eviction loop once,
the same way): a balloon never takes a guest below its reservation or above
its limit. For juggler's own policies (``Policy.guard_extras``) it also moves at
most ``max_step`` per interval, ignores changes smaller than the dead band, and
deflates a guest that is about to run out of memory whatever the policy wished;
a baseline gets none of these, as upstream has none, and decides at its
upstream cadence (``Policy.native_interval_s``), so a comparison measures the
algorithm as deployed. What the guard changed is said twice, in the reason's text
(for people) and as :class:`~juggler.observation.GuardChange` kinds (for tools).
The working-set estimate is the Manager's alone and refreshed once per interval,
at the observation a decision is made on, so the figure a policy's reason quotes
is the one the run file records. A failing policy or backend call is logged,
recorded as an event (its kind one of :data:`ERROR_KINDS`), and the loop carries on.
A recorder that also defines ``record_timing(stage, seconds)`` is told how long each
of the :data:`STAGES` took, so a live exporter can show the Manager's own health;
one that defines ``record_notes(time_s, notes, left_alone)`` is told the policy's
notes and the VMs nothing was sent to, with why (the run file keeps them).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from juggler.backend import Backend, backend_name, provides_truth
from juggler.errors import BackendError, PolicyError
from juggler.hoststate import host_state
from juggler.observation import Decision, GuardChange, Observation, VmSample, VmTarget
from juggler.policy.base import (
    THRASHING_BYTES_PER_S,
    Policy,
    PolicyState,
    balloon_now,
    check_backend,
)
from juggler.policy.workingset import WorkingSetEstimator
from juggler.profile import BalloonCosts
from juggler.units import MIB, format_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """The guard's bounds, shared by every policy."""

    #: largest change of one balloon per interval
    max_step_bytes: int = 256 * MIB
    #: smaller changes are not sent
    dead_band_bytes: int = 4 * MIB
    #: a guest whose available memory falls below this fraction of its memory
    #: (and that cannot swap it away) is deflated by the guard
    oom_floor: float = 0.04
    #: the step cap, the dead band and the OOM rescue apply (False: only the clamp
    #: to reservation and limit, as a baseline's upstream does)
    guard_extras: bool = True

    def for_policy(self, policy: Policy) -> Limits:
        """These bounds as they apply to ``policy``'s wishes: without the extras
        when the policy does not take them (``Policy.guard_extras``)."""
        return self if policy.guard_extras else replace(self, guard_extras=False)


#: the kinds of the events the Manager records when something fails
ERROR_KINDS: tuple[str, ...] = ("observe", "apply", "policy", "vm_missing")

#: what ``record_timing`` is told about: the backend's ``observe``, the policy's
#: ``decide`` with the guard, the backend's ``apply``, and the whole ``loop`` of one
#: sample (all of these and the recording, not the wait in ``advance``)
STAGES: tuple[str, ...] = ("observe", "decide", "apply", "loop")


class Recorder(Protocol):
    """Where the Manager writes what happened: any object with these three methods
    (the run file's ``RunStore`` has them without deriving from this class).

    A recorder may also define ``record_timing(stage: str, seconds: float)``; the
    Manager calls it when present (the run file has no use for wall-clock timings,
    a live exporter does). Likewise ``record_notes(time_s: float, notes: tuple[str, ...],
    left_alone: Mapping[str, VmTarget])``: the policy's notes of an interval and the
    VMs nothing was sent to, each with the policy's reason and a ``guard`` of
    ``LEFT_ALONE`` or ``DEAD_BAND`` (the run file keeps them, a live exporter need not).

    ``record_decision``'s ``guard`` holds the :class:`GuardChange` values of what the
    guard changed, in the order it changed them (empty: the wish went through as it was).
    """

    def record_observation(self, obs: Observation) -> None: ...
    def record_decision(
        self,
        time_s: float,
        vm: str,
        balloon_bytes: int,
        previous_bytes: int,
        reason: str,
        guard: tuple[str, ...] = (),
    ) -> None: ...
    def record_event(self, time_s: float, vm: str | None, kind: str, message: str) -> None: ...


def guard(wish: Decision, obs: Observation, limits: Limits) -> dict[str, VmTarget]:
    """Make a policy's wish safe: the rules every policy shares.

    :return: the targets to send, each with the policy's reason and what the guard
        changed (in its text and its ``guard`` kinds).
    """
    return {
        name: target
        for name, target in guard_verdicts(wish, obs, limits).items()
        if target.balloon_bytes is not None
    }


def guard_verdicts(wish: Decision, obs: Observation, limits: Limits) -> dict[str, VmTarget]:
    """What the guard makes of a policy's wish for every VM it may act on.

    :return: by VM (those with a balloon that were observed): a target to send, or one
        with ``balloon_bytes`` None whose ``guard`` ends with ``LEFT_ALONE`` (no change
        wished) or ``DEAD_BAND`` (a change too small to send), keeping the policy's reason.
    """
    result: dict[str, VmTarget] = {}
    for vm in obs.vms:
        if not vm.balloon_present or vm.name in obs.missing:
            continue
        now = balloon_now(vm)
        current_target = vm.balloon_target_bytes if vm.balloon_target_bytes is not None else now
        wished = wish.targets.get(vm.name)
        # no wish keeps the target, not the balloon's size now: a balloon still on its
        # way (a guest inflates a few hundred MiB in seconds) would be stopped halfway
        target = (
            current_target
            if wished is None or wished.balloon_bytes is None
            else wished.balloon_bytes
        )
        reason = wished.reason if wished is not None else ""
        notes = []
        changes: list[GuardChange] = []
        rescue = _oom_rescue(vm, limits) if limits.guard_extras else None
        if rescue is not None and rescue < target:
            target = rescue
            notes.append("guest near OOM: deflate")
            changes.append(GuardChange.OOM_RESCUE)
        low = vm.configured_bytes - vm.effective_limit_bytes
        high = vm.configured_bytes - vm.reservation_bytes
        if target > high:
            target = high
            notes.append(f"clamped to reservation {format_size(vm.reservation_bytes)}")
            changes.append(GuardChange.CLAMPED_RESERVATION)
        if target < low:
            target = low
            notes.append(f"held at limit {format_size(vm.effective_limit_bytes)}")
            changes.append(GuardChange.CLAMPED_LIMIT)
        step = target - now
        if limits.guard_extras and abs(step) > limits.max_step_bytes:
            target = now + (limits.max_step_bytes if step > 0 else -limits.max_step_bytes)
            notes.append(f"step limited to {format_size(limits.max_step_bytes)}")
            changes.append(GuardChange.STEP_LIMITED)
        dead_band = limits.dead_band_bytes if limits.guard_extras else 0
        if target == current_target or (
            abs(target - current_target) < dead_band and rescue is None
        ):
            verdict = GuardChange.LEFT_ALONE if target == current_target else GuardChange.DEAD_BAND
            result[vm.name] = VmTarget(None, reason, (*changes, verdict))
            continue
        text = "; ".join([r for r in [reason, *notes] if r]) or "guard"
        result[vm.name] = VmTarget(int(target), text, tuple(changes))
    return result


def _oom_rescue(vm: VmSample, limits: Limits) -> int | None:
    """The balloon size that gives a guest about to run out of memory room again,
    or None when the guest is fine (or can swap the pressure away)."""
    if vm.guest_available_bytes is None or vm.guest_total_bytes is None:
        return None
    floor = max(16 * MIB, int(limits.oom_floor * vm.configured_bytes))
    if vm.guest_available_bytes >= floor:
        return None
    if (
        vm.guest_swap_in_bytes_per_s is not None
        and vm.guest_swap_in_bytes_per_s <= THRASHING_BYTES_PER_S
        and vm.guest_swap_out_bytes_per_s is not None
    ):
        # a full guest that does not thrash on what it paged out is where Linux keeps
        # a guest whose idle memory was ballooned away, not near OOM: it swapped the
        # pressure away (a guest that cannot is seen thrashing, or runs out: the
        # simulator counts that as an OOM, and the property tests fail on it)
        return None
    now = balloon_now(vm)
    if now == 0:
        return None
    return max(0, now - 2 * floor)


ProgressFn = Callable[[float], None]
#: ``record_notes(time_s, notes, left_alone)`` (see :class:`Recorder`)
NotesFn = Callable[[float, tuple[str, ...], Mapping[str, VmTarget]], None]


class Manager:
    """Drive one backend with one policy, recording everything.

    :param backend: the world to manage.
    :param policy: the registered policy to ask.
    :param params: the policy's parameters (``policy.make_params(...)``).
    :param recorder: where observations, decisions and events go.
    :param interval_s: seconds between decisions of a policy without a native
        cadence, and between working-set refreshes for every policy (so the
        estimate is the same figure whichever policy runs).
    :param sample_s: seconds between observations (the simulator's tick).
    :param limits: the guard's bounds; a policy without guard extras gets only the clamp.
    :param seed: seeds the policy's random generator.
    :param balloon_costs: what moving memory costs on this host, for the policy.
    :raise PolicyError: When the policy needs the simulator's truth
        (``Policy.needs_truth``) and the backend has none.
    """

    def __init__(
        self,
        backend: Backend,
        policy: Policy,
        params: Any,
        recorder: Recorder,
        *,
        interval_s: float,
        sample_s: float | None = None,
        limits: Limits | None = None,
        seed: int = 0,
        balloon_costs: BalloonCosts | None = None,
    ) -> None:
        check_backend(policy, has_truth=provides_truth(backend), backend=backend_name(backend))
        self.backend = backend
        self.policy = policy
        self.params = params
        self.recorder = recorder
        self.interval_s = interval_s
        self.sample_s = sample_s or interval_s
        #: seconds between the policy's decisions (outside a busy run)
        self.decide_interval_s = policy.native_interval_s or interval_s
        self.limits = (limits or Limits()).for_policy(policy)
        self.state: PolicyState = policy.new_state(
            np.random.default_rng(seed),
            policy.busy_interval_s or self.decide_interval_s,
            balloon_costs,
        )
        self._busy = False
        self.decisions_made = 0
        self.errors: dict[str, int] = {}
        #: the one working-set estimator per VM (policies read its figure off the samples)
        self.estimators: dict[str, WorkingSetEstimator] = {}
        self._record_timing: Callable[[str, float], None] | None = getattr(
            recorder, "record_timing", None
        )
        self._record_notes: NotesFn | None = getattr(recorder, "record_notes", None)

    def run(
        self,
        duration_s: float,
        progress: ProgressFn | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Run the loop until ``duration_s`` seconds have passed on the backend's clock,
        or until ``stop`` is set (checked after each pause, so the last sample is whole)."""
        loop_started = time.perf_counter()
        obs = self._observe()
        start = obs.time_s if obs is not None else 0.0
        next_refresh = next_decision = start
        now = start
        while True:
            if obs is not None:
                refresh = obs.time_s + 1e-9 >= next_refresh
                deciding = obs.time_s + 1e-9 >= next_decision
                obs = self._with_estimates(obs, refresh=refresh)
                self.recorder.record_observation(obs)
                if refresh:
                    next_refresh += self.interval_s
                if deciding:
                    busy = self._decide(obs)
                    next_decision = self._next_decision(next_decision, obs.time_s, busy)
                now = obs.time_s
            if self._record_timing is not None:
                self._record_timing("loop", time.perf_counter() - loop_started)
            if progress is not None:
                progress(now - start)
            if now - start >= duration_s - 1e-9:
                break
            self.backend.advance(self.sample_s)
            if stop is not None and stop.is_set():
                break
            loop_started = time.perf_counter()
            obs = self._observe()
            if obs is None:
                now += self.sample_s

    def cadence_meta(self) -> dict[str, Any]:
        """How this run decides, for the run file's meta: ``decide_interval_s`` (the
        policy's native cadence, else the schedule's interval), ``busy_interval_s``
        (None unless the policy has one) and ``guard_extras`` (whether the step cap,
        dead band and OOM rescue applied)."""
        return {
            "decide_interval_s": self.decide_interval_s,
            "busy_interval_s": self.policy.busy_interval_s,
            "guard_extras": self.limits.guard_extras,
        }

    def _next_decision(self, due: float, now: float, busy: bool) -> float:
        """When to decide next, after the decision due at ``due`` made at ``now``.

        A busy run (squeezed's balancing) goes on at the busy interval, and the
        next check comes a full interval after it ends, as squeezed's balance
        thread sleeps after a balancing; otherwise decisions keep their phase.
        """
        was_busy, self._busy = self._busy, busy and self.policy.busy_interval_s is not None
        if self._busy and self.policy.busy_interval_s is not None:
            return now + self.policy.busy_interval_s
        if was_busy:
            return now + self.decide_interval_s
        return due + self.decide_interval_s

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        """Tell the recorder how long ``stage`` took, failed or not (a slow failing
        backend is exactly what the timings are for)."""
        if self._record_timing is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record_timing(stage, time.perf_counter() - started)

    def _observe(self) -> Observation | None:
        try:
            with self._timed("observe"):
                obs = self.backend.observe()
        except BackendError as err:
            self._error("observe", None, str(err))
            return None
        for vm, reason in obs.missing.items():
            self._error("vm_missing", vm, reason, time_s=obs.time_s)
        return obs

    def _with_estimates(self, obs: Observation, *, refresh: bool) -> Observation:
        """The observation with each VM's working-set estimate filled in, and the
        host's free-memory state when the backend does not say (a real host).

        The estimate is the Manager's alone, so every run file, report, scrape and
        policy reason carries one comparable figure. It takes in new evidence only
        once per schedule interval (``refresh``), whatever the policy's cadence:
        the guest-statistics fallback has no timestamp, so each update is a new
        sample, and updating every tick would weigh it by the tick instead of the
        interval (the policies were tuned on the interval's pace). Between
        refreshes the samples carry the estimate as it stands.

        :param refresh: update the estimators from this observation.
        """
        vms = []
        for vm in obs.vms:
            estimator = self.estimators.setdefault(vm.name, WorkingSetEstimator())
            if vm.name in obs.missing:
                estimate = None
            elif refresh:
                estimate = estimator.update(vm)
            else:
                estimate = estimator.estimate_bytes(vm)
            vms.append(replace(vm, working_set_estimate_bytes=estimate))
        state = obs.host_state or host_state(obs.host.available_fraction)
        return replace(obs, vms=tuple(vms), host_state=state)

    def _decide(self, obs: Observation) -> bool:
        """Decide on ``obs`` and apply what the guard lets through.

        :return: whether the policy said it is busy (``Decision.busy``).
        """
        with self._timed("decide"):
            try:
                seen = obs if self.policy.needs_truth else obs.without_truth()
                wish = self.policy.decide(seen, self.params, self.state)
            except (PolicyError, ArithmeticError, ValueError, KeyError, TypeError) as err:
                self._error("policy", None, f"{type(err).__name__}: {err}", time_s=obs.time_s)
                wish = Decision()
            verdicts = guard_verdicts(wish, obs, self.limits)
        targets = {n: t for n, t in verdicts.items() if t.balloon_bytes is not None}
        if self._record_notes is not None:
            # a VM left alone is worth a line only when the policy or the guard said why
            left_alone = {
                name: target
                for name, target in verdicts.items()
                if target.balloon_bytes is None
                and (target.reason or GuardChange.DEAD_BAND in target.guard)
            }
            if wish.notes or left_alone:
                self._record_notes(obs.time_s, wish.notes, left_alone)
        if not targets:
            return wish.busy
        try:
            with self._timed("apply"):
                self.backend.apply(Decision(targets=targets, notes=wish.notes))
        except BackendError as err:
            self._error("apply", err.vm, str(err), time_s=obs.time_s)
            return wish.busy
        for name, target in targets.items():
            previous = obs.vm(name).balloon_target_bytes or 0
            self.recorder.record_decision(
                obs.time_s,
                name,
                int(target.balloon_bytes or 0),
                previous,
                target.reason,
                tuple(target.guard),
            )
            self.decisions_made += 1
        return wish.busy

    def _error(self, kind: str, vm: str | None, message: str, time_s: float = 0.0) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        log.warning("%s%s: %s", f"{vm}: " if vm else "", kind, message)
        self.recorder.record_event(time_s, vm, kind, message)

"""The Manager loop and the guard every policy shares."""

from __future__ import annotations

import dataclasses

import pytest

from juggler.errors import BackendError, CommandError
from juggler.manager import STAGES, Limits, Manager, guard
from juggler.observation import Decision, HostSample, Observation, VmSample, VmTarget
from juggler.policy import POLICIES, Policy
from juggler.units import MIB


def _vm(name="v", **fields) -> VmSample:
    base = dict(
        name=name,
        configured_bytes=1024 * MIB,
        reservation_bytes=0,
        balloon_target_bytes=0,
        balloon_actual_bytes=0,
        resident_bytes=600 * MIB,
        guest_total_bytes=1024 * MIB,
        guest_available_bytes=500 * MIB,
    )
    base.update(fields)
    return VmSample(**base)


def _obs(*vms: VmSample, time_s: float = 0.0) -> Observation:
    return Observation(time_s, HostSample(2048 * MIB, 100 * MIB), tuple(vms))


def test_guard_clamps_to_the_reservation_and_says_so():
    obs = _obs(_vm(reservation_bytes=700 * MIB))
    targets = guard(Decision({"v": VmTarget(900 * MIB, "wish")}), obs, Limits(max_step_bytes=2**40))
    assert targets["v"].balloon_bytes == 324 * MIB
    assert "reservation" in targets["v"].reason and "wish" in targets["v"].reason


def test_guard_holds_a_limit_even_when_the_policy_wants_a_deflated_balloon():
    obs = _obs(_vm(limit_bytes=512 * MIB))
    targets = guard(Decision(), obs, Limits(max_step_bytes=2**40))
    assert targets["v"].balloon_bytes == 512 * MIB


def test_guard_limits_the_step_and_ignores_tiny_changes():
    obs = _obs(_vm())
    step = guard(Decision({"v": VmTarget(800 * MIB, "big")}), obs, Limits(max_step_bytes=128 * MIB))
    assert step["v"].balloon_bytes == 128 * MIB
    tiny = guard(Decision({"v": VmTarget(2 * MIB, "tiny")}), obs, Limits(dead_band_bytes=4 * MIB))
    assert tiny == {}


def test_guard_leaves_a_balloon_on_its_way_when_the_policy_has_no_wish():
    # a real guest inflates a few hundred MiB over seconds: halfway there at the next
    # interval, a policy with nothing to say must not stop it where it is
    obs = _obs(_vm(balloon_target_bytes=400 * MIB, balloon_actual_bytes=150 * MIB))
    assert guard(Decision(), obs, Limits(max_step_bytes=2**40)) == {}
    # the guard's own rules still apply to the target it keeps
    obs = _obs(
        _vm(
            balloon_target_bytes=400 * MIB,
            balloon_actual_bytes=150 * MIB,
            reservation_bytes=700 * MIB,
        )
    )
    assert guard(Decision(), obs, Limits(max_step_bytes=2**40))["v"].balloon_bytes == 324 * MIB


def test_guard_deflates_a_guest_about_to_run_out_of_memory_whatever_the_policy_says():
    obs = _obs(
        _vm(
            balloon_target_bytes=600 * MIB,
            balloon_actual_bytes=600 * MIB,
            guest_total_bytes=424 * MIB,
            guest_available_bytes=4 * MIB,
        )
    )
    targets = guard(Decision({"v": VmTarget(700 * MIB, "more")}), obs, Limits())
    assert targets["v"].balloon_bytes < 600 * MIB
    assert "OOM" in targets["v"].reason


def test_guard_skips_vms_without_a_balloon_or_missing():
    obs = Observation(
        0.0,
        HostSample(2048 * MIB, 100 * MIB),
        (_vm("a", balloon_present=False), _vm("b")),
        missing={"b": "gone"},
    )
    assert (
        guard(Decision({"a": VmTarget(64 * MIB, "x"), "b": VmTarget(64 * MIB, "y")}), obs, Limits())
        == {}
    )


class ListRecorder:
    def __init__(self):
        self.observations, self.decisions, self.events = [], [], []

    def record_observation(self, obs):
        self.observations.append(obs)

    def record_decision(self, *args):
        self.decisions.append(args)

    def record_event(self, *args):
        self.events.append(args)


class FlakyBackend:
    """A backend whose apply fails every other time and whose observe fails once."""

    def __init__(self):
        self.time_s = 0.0
        self.applied = []
        self.calls = 0

    def observe(self):
        self.calls += 1
        if self.calls == 3:
            raise BackendError("host /proc unreadable")
        return _obs(_vm(), time_s=self.time_s)

    def apply(self, decision):
        if len(self.applied) % 2 == 0:
            self.applied.append(None)
            raise CommandError("balloon: timeout", vm="v")
        self.applied.append(decision)

    def advance(self, seconds):
        self.time_s += seconds

    def close(self):
        pass


def test_the_loop_logs_failures_and_carries_on():
    def always(obs, params, state):
        return Decision(
            {"v": VmTarget(64 * MIB * (1 + len(state.memory)), "grow")},
        )

    def crashing(obs, params, state):
        state.memory[obs.time_s] = True
        if len(state.memory) == 2:
            raise ValueError("bad arithmetic")
        return always(obs, params, state)

    recorder = ListRecorder()
    backend = FlakyBackend()
    policy = Policy("crashy", POLICIES["static"].params_type, crashing, "test")
    manager = Manager(backend, policy, None, recorder, interval_s=1.0, sample_s=1.0)
    manager.run(6.0)
    kinds = [event[2] for event in recorder.events]
    assert kinds.count("observe") == 1
    assert "policy" in kinds and "apply" in kinds
    assert recorder.decisions, "decisions that went through are recorded"
    assert recorder.observations[-1].time_s == pytest.approx(6.0)


def test_policies_never_see_the_truth():
    seen = []

    def spy(obs, params, state):
        seen.append(obs.truth)
        return Decision()

    from juggler.observation import VmTruth

    truth = {"v": VmTruth(1, 0.0, 0.0, 0.0, 1.0, 1.0)}

    class TruthBackend(FlakyBackend):
        def observe(self):
            return dataclasses.replace(_obs(_vm(), time_s=self.time_s), truth=truth)

    policy = Policy("spy", POLICIES["static"].params_type, spy, "test")
    Manager(TruthBackend(), policy, None, ListRecorder(), interval_s=1.0).run(2.0)
    assert seen and all(t == {} for t in seen)


def test_a_recorder_with_record_timing_is_told_how_long_each_stage_took():
    class TimingRecorder(ListRecorder):
        def __init__(self):
            super().__init__()
            self.timings = []

        def record_timing(self, stage, seconds):
            self.timings.append((stage, seconds))

    def grow(obs, params, state):
        return Decision({"v": VmTarget(64 * MIB * (1 + len(state.memory)), "grow")})

    def remembering(obs, params, state):
        state.memory[obs.time_s] = True
        return grow(obs, params, state)

    recorder = TimingRecorder()
    policy = Policy("grow", POLICIES["static"].params_type, remembering, "test")
    Manager(FlakyBackend(), policy, None, recorder, interval_s=1.0, sample_s=1.0).run(4.0)
    stages = [stage for stage, _ in recorder.timings]
    assert set(stages) == set(STAGES)
    assert stages.count("observe") == 5  # the failed observe is timed too
    assert stages.count("loop") == 5  # one per sample
    assert all(seconds >= 0 for _, seconds in recorder.timings)

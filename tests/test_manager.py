"""The Manager loop and the guard every policy shares."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from juggler.errors import BackendError, CommandError
from juggler.manager import STAGES, Limits, Manager, guard, guard_verdicts
from juggler.observation import (
    Decision,
    GuardChange,
    HostSample,
    Observation,
    VmSample,
    VmTarget,
)
from juggler.policy import POLICIES, Policy, PolicyState
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


def test_guard_says_what_it_changed_as_kinds_beside_the_unchanged_text():
    obs = _obs(_vm(reservation_bytes=700 * MIB))
    wish = Decision({"v": VmTarget(900 * MIB, "wish")})
    clamped = guard(wish, obs, Limits(max_step_bytes=128 * MIB))["v"]
    assert clamped.guard == (GuardChange.CLAMPED_RESERVATION, GuardChange.STEP_LIMITED)
    assert clamped.reason == "wish; clamped to reservation 700 MiB; step limited to 128 MiB"
    assert guard(Decision({"v": VmTarget(64 * MIB, "ok")}), obs, Limits())["v"].guard == ()
    rescued = _vm(
        balloon_target_bytes=600 * MIB,
        balloon_actual_bytes=600 * MIB,
        guest_total_bytes=424 * MIB,
        guest_available_bytes=4 * MIB,
    )
    target = guard(Decision({"v": VmTarget(700 * MIB, "more")}), _obs(rescued), Limits())["v"]
    assert target.guard == (GuardChange.OOM_RESCUE,)


def test_guard_verdicts_keep_the_reason_of_what_was_not_sent():
    obs = _obs(_vm("a"), _vm("b"), _vm("c"))
    wish = Decision({"a": VmTarget(None, "keep: fine"), "b": VmTarget(2 * MIB, "tiny")})
    verdicts = guard_verdicts(wish, obs, Limits(dead_band_bytes=4 * MIB))
    assert verdicts["a"] == VmTarget(None, "keep: fine", (GuardChange.LEFT_ALONE,))
    assert verdicts["b"] == VmTarget(None, "tiny", (GuardChange.DEAD_BAND,))
    assert verdicts["c"] == VmTarget(None, "", (GuardChange.LEFT_ALONE,))


def test_the_manager_records_notes_and_the_vms_left_alone_with_why():
    class NotesRecorder(ListRecorder):
        def __init__(self):
            super().__init__()
            self.notes = []

        def record_notes(self, time_s, notes, left_alone):
            self.notes.append((time_s, notes, dict(left_alone)))

    def talkative(obs, params, state):
        return Decision({"v": VmTarget(None, "nothing to do")}, notes=("host is fine",))

    class SteadyBackend(FlakyBackend):
        def observe(self):
            return _obs(_vm(), time_s=self.time_s)

    recorder = NotesRecorder()
    policy = Policy("talk", POLICIES["static"].params_type, talkative, "test")
    Manager(SteadyBackend(), policy, None, recorder, interval_s=1.0).run(1.0)
    assert recorder.notes and recorder.decisions == []
    _, notes, left_alone = recorder.notes[0]
    assert notes == ("host is fine",)
    assert left_alone == {"v": VmTarget(None, "nothing to do", (GuardChange.LEFT_ALONE,))}


def test_the_estimate_policies_read_is_the_one_recorded_and_moves_once_an_interval():
    """One estimator, the Manager's: refreshed at decisions, carried between them."""
    seen = []

    def spy(obs, params, state):
        seen.append((obs.time_s, obs.vms[0].working_set_estimate_bytes))
        return Decision()

    class GrowingBackend(FlakyBackend):
        def observe(self):
            used = (100 + 40 * int(self.time_s)) * MIB
            return _obs(_vm(guest_available_bytes=1024 * MIB - used), time_s=self.time_s)

    recorder = ListRecorder()
    policy = Policy("spy", POLICIES["static"].params_type, spy, "test")
    Manager(GrowingBackend(), policy, None, recorder, interval_s=2.0, sample_s=1.0).run(4.0)
    recorded = {o.time_s: o.vms[0].working_set_estimate_bytes for o in recorder.observations}
    assert [t for t, _ in seen] == [0.0, 2.0, 4.0]
    assert all(recorded[t] == estimate for t, estimate in seen)
    assert recorded[1.0] == recorded[0.0] and recorded[3.0] == recorded[2.0]
    assert recorded[2.0] > recorded[0.0]


@dataclasses.dataclass
class Seen(PolicyState):
    """A test policy's own state: the times it decided at."""

    seen: list[float] = dataclasses.field(default_factory=list)


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
            {"v": VmTarget(64 * MIB * (1 + len(state.seen)), "grow")},
        )

    def crashing(obs, params, state):
        state.seen.append(obs.time_s)
        if len(state.seen) == 2:
            raise ValueError("bad arithmetic")
        return always(obs, params, state)

    recorder = ListRecorder()
    backend = FlakyBackend()
    policy = Policy("crashy", POLICIES["static"].params_type, crashing, "test", Seen)
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

    truth = {"v": VmTruth(1, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0)}

    class TruthBackend(FlakyBackend):
        def observe(self):
            return dataclasses.replace(_obs(_vm(), time_s=self.time_s), truth=truth)

    policy = Policy("spy", POLICIES["static"].params_type, spy, "test")
    Manager(TruthBackend(), policy, None, ListRecorder(), interval_s=1.0).run(2.0)
    assert seen and all(t == {} for t in seen)


def test_a_policy_that_needs_the_truth_is_handed_it_on_a_backend_that_has_it():
    from juggler.observation import VmTruth
    from juggler.pacing import PacedBackend

    seen = []

    def spy(obs, params, state):
        seen.append(obs.truth)
        return Decision()

    truth = {"v": VmTruth(1, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, upcoming_need_bytes=5)}

    class TruthBackend(FlakyBackend):
        provides_truth = True

        def observe(self):
            return dataclasses.replace(_obs(_vm(), time_s=self.time_s), truth=truth)

    policy = Policy("peek", POLICIES["static"].params_type, spy, "test", needs_truth=True)
    paced = PacedBackend(TruthBackend(), 1e9, sleep=lambda s: None)
    Manager(paced, policy, None, ListRecorder(), interval_s=1.0).run(2.0)
    assert seen and all(t == truth for t in seen)


def test_a_policy_that_needs_the_truth_is_refused_on_a_backend_without_it():
    from juggler.errors import PolicyError
    from juggler.pacing import StoppableWait

    backend = StoppableWait(FlakyBackend(), threading.Event())
    with pytest.raises(PolicyError, match=r"policy 'oracle' .* the FlakyBackend backend does not"):
        Manager(backend, POLICIES["oracle"], None, ListRecorder(), interval_s=1.0)


def test_a_recorder_with_record_timing_is_told_how_long_each_stage_took():
    class TimingRecorder(ListRecorder):
        def __init__(self):
            super().__init__()
            self.timings = []

        def record_timing(self, stage, seconds):
            self.timings.append((stage, seconds))

    def grow(obs, params, state):
        return Decision({"v": VmTarget(64 * MIB * (1 + len(state.seen)), "grow")})

    def remembering(obs, params, state):
        state.seen.append(obs.time_s)
        return grow(obs, params, state)

    recorder = TimingRecorder()
    policy = Policy("grow", POLICIES["static"].params_type, remembering, "test", Seen)
    Manager(FlakyBackend(), policy, None, recorder, interval_s=1.0, sample_s=1.0).run(4.0)
    stages = [stage for stage, _ in recorder.timings]
    assert set(stages) == set(STAGES)
    assert stages.count("observe") == 5  # the failed observe is timed too
    assert stages.count("loop") == 5  # one per sample
    assert all(seconds >= 0 for _, seconds in recorder.timings)


class NotesRecorder(ListRecorder):
    """Also keeps when the policy wrote notes (MOM writes one every decision)."""

    def __init__(self):
        super().__init__()
        self.noted_at = []

    def record_notes(self, time_s, notes, left_alone):
        self.noted_at.append(time_s)


class StillBackend(FlakyBackend):
    """A backend that always shows the same VMs and host, and keeps what it was sent."""

    def __init__(self, *vms, available=100 * MIB):
        super().__init__()
        self.vms, self.available = vms, available

    def observe(self):
        host = HostSample(2048 * MIB, self.available)
        return Observation(self.time_s, host, self.vms)

    def apply(self, decision):
        self.applied.append(decision)


def test_mom_decides_at_its_own_10_s_cadence_whatever_the_schedule_interval():
    recorder = NotesRecorder()
    mom = POLICIES["mom"]
    manager = Manager(
        StillBackend(_vm()), mom, mom.make_params(), recorder, interval_s=2.0, sample_s=1.0
    )
    manager.run(30.0)
    assert recorder.noted_at == [0.0, 10.0, 20.0, 30.0]
    assert manager.state.interval_s == 10.0
    assert manager.cadence_meta() == {
        "decide_interval_s": 10.0,
        "busy_interval_s": None,
        "guard_extras": False,
    }
    # juggler's own policy decides at the schedule's interval, with the guard extras
    juggler = Manager(
        StillBackend(_vm()), POLICIES["juggler"], None, ListRecorder(), interval_s=2.0
    )
    assert juggler.cadence_meta()["decide_interval_s"] == 2.0
    assert juggler.cadence_meta()["guard_extras"] is True


def test_a_large_mom_step_is_sent_whole_while_one_of_ours_is_step_limited():
    # host free 1948 / 2048 = 95%: MOM grows. cur 4096 of 8192 MiB with nothing free:
    # used 4096, floor 4096 + 20% of 4096 = 4915.2 MiB: a step of 819.2 MiB at once
    vm = _vm(
        configured_bytes=8192 * MIB,
        balloon_target_bytes=4096 * MIB,
        balloon_actual_bytes=4096 * MIB,
        guest_free_bytes=0,
        guest_total_bytes=4096 * MIB,
    )
    mom = POLICIES["mom"]
    backend = StillBackend(vm, available=1948 * MIB)
    Manager(backend, mom, mom.make_params(), ListRecorder(), interval_s=10.0).run(0.0)
    sent = backend.applied[0].targets["v"]
    assert sent.balloon_bytes == 8192 * MIB - round(4915.2 * MIB)
    assert sent.guard == ()

    def wish(obs, params, state):
        return Decision({"v": VmTarget(8192 * MIB - round(4915.2 * MIB), "same wish")})

    ours = dataclasses.replace(POLICIES["juggler"], decide=wish)
    backend = StillBackend(vm, available=1948 * MIB)
    Manager(backend, ours, None, ListRecorder(), interval_s=10.0).run(0.0)
    capped = backend.applied[0].targets["v"]
    assert capped.balloon_bytes == (4096 - 256) * MIB
    assert capped.guard == (GuardChange.STEP_LIMITED,)


def test_mom_gets_no_oom_rescue_and_no_dead_band():
    # host free 100 / 2048 = 4.9% <= 5%: critical, guest free target 4.88% - 5% < 0.
    # cur 424 MiB, free 200: used 224, floor < 224; 5% step: 0.95 * 424 = 402.8 MiB.
    # The guest has 4 MiB available: our guard would deflate it (rescue), MOM's does not.
    near_oom = _vm(
        balloon_target_bytes=600 * MIB,
        balloon_actual_bytes=600 * MIB,
        guest_total_bytes=424 * MIB,
        guest_free_bytes=200 * MIB,
        guest_available_bytes=4 * MIB,
    )
    mom = POLICIES["mom"]
    backend = StillBackend(near_oom)
    Manager(backend, mom, mom.make_params(), ListRecorder(), interval_s=10.0).run(0.0)
    sent = backend.applied[0].targets["v"]
    assert sent.balloon_bytes == 1024 * MIB - round(402.8 * MIB)
    assert GuardChange.OOM_RESCUE not in sent.guard
    wish = Decision({"v": sent})
    rescued = guard(wish, _obs(near_oom), Limits())["v"]
    assert rescued.balloon_bytes < 600 * MIB and rescued.guard == (GuardChange.OOM_RESCUE,)
    # a 2 MiB change: under the dead band for ours, sent for a baseline
    tiny = Decision({"v": VmTarget(2 * MIB, "tiny")})
    assert guard(tiny, _obs(_vm()), Limits()) == {}
    assert guard(tiny, _obs(_vm()), Limits().for_policy(mom))["v"].balloon_bytes == 2 * MIB
    # the clamp to the reservation stays for every policy
    held = _obs(_vm(reservation_bytes=700 * MIB))
    big = Decision({"v": VmTarget(900 * MIB, "wish")})
    clamped = guard(big, held, Limits().for_policy(mom))["v"]
    assert clamped.balloon_bytes == 324 * MIB
    assert clamped.guard == (GuardChange.CLAMPED_RESERVATION,)


def test_a_busy_policy_decides_at_its_busy_interval_until_it_is_done():
    # squeezed's shape: a check every 10 s, one iteration a second while balancing
    def balancing(obs, params, state):
        state.seen.append(obs.time_s)
        return Decision(busy=len(state.seen) < 4)

    policy = Policy(
        "busy",
        POLICIES["static"].params_type,
        balancing,
        "test",
        Seen,
        native_interval_s=10.0,
        busy_interval_s=1.0,
        guard_extras=False,
    )
    manager = Manager(
        StillBackend(_vm()), policy, None, ListRecorder(), interval_s=2.0, sample_s=1.0
    )
    manager.run(25.0)
    # busy at 0, 1, 2; done at 3; the next check a full 10 s after that
    assert manager.state.seen == [0.0, 1.0, 2.0, 3.0, 13.0, 23.0]
    assert manager.state.interval_s == 1.0
    squeezed = POLICIES["squeezed"]
    assert (squeezed.native_interval_s, squeezed.busy_interval_s) == (10.0, 1.0)

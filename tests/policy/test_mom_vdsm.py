"""mom-vdsm: decisions worked out by hand from vdsm's mom.d/02-balloon.policy.

Sizes in MiB. cur = configured - balloon; used = cur - guest free;
guest free target = 0.20 * host free / 0.20 (= host free) above 5% host free,
host free - 5% at or below it; a target's balloon = configured - new guest memory.
"""

from __future__ import annotations

from juggler.observation import HostSample, Observation
from juggler.policy import POLICIES, mom, mom_vdsm
from juggler.units import MIB

P = mom_vdsm.Params()


def balloons(decision):
    return {name: t.balloon_bytes for name, t in decision.targets.items()}


def test_defaults_are_the_policy_files_constants_with_ballooning_enabled():
    assert (P.pressure_threshold, P.pressure_critical) == (0.20, 0.05)
    assert (P.min_guest_free_percent, P.max_balloon_change_percent) == (0.20, 0.05)
    assert (P.min_balloon_change_percent, P.sample_history_length) == (0.0025, 10)
    assert P.balloon_enabled is True


def test_it_runs_at_vdsms_cadence_without_the_guard_extras():
    policy = POLICIES["mom-vdsm"]
    assert (policy.native_interval_s, policy.guard_extras) == (15.0, False)
    assert policy.make_params({"balloon_enabled": False}).balloon_enabled is False


def test_growth_keeps_a_free_share_that_scales_with_host_free_memory(vm, obs, new_state):
    # host free 5000 / 10000 = 50% >= 20%: grow; guest free target 0.2 * 0.5 / 0.2 = 50%
    observation = obs(
        10000,
        5000,
        [
            # a: cur 3000, used 2000, floor 2000 + 0.5*3000 = 3500 > 1.05*3000 = 3150
            #    -> 3500: balloon 4000 - 3500 = 500 (balloon.rules' 20% gives 3150: 850)
            vm("a", 4000, balloon=1000, free=1000),
            # b: cur 3000, used 500, floor 500 + 1500 = 2000 < 3150 -> 3150: balloon 850
            vm("b", 4000, balloon=1000, free=2500),
            # c: cur 3900, 1.05*3900 = 4095 > max 4000 -> 4000: balloon 0
            vm("c", 4000, balloon=100, free=3000),
        ],
    )
    decision = mom_vdsm.decide(observation, P, new_state(mom_vdsm.State))
    assert balloons(decision) == {"a": 500 * MIB, "b": 850 * MIB, "c": 0}
    assert "to keep 50% free" in decision.targets["a"].reason
    assert "by 5%" in decision.targets["b"].reason
    assert "up to its maximum" in decision.targets["c"].reason
    assert "guest free target 50.0%" in decision.notes[0]
    example = mom.decide(observation, mom.Params(), new_state(mom.State))
    assert balloons(example)["a"] == 850 * MIB


def test_pressure_shrinks_as_balloon_rules_do(vm, obs, new_state):
    # host free 10%: guest free target 10%
    # a: cur 4000, used 2000, floor 2400; 5% step 3800 -> balloon 200
    # c: cur 2000, used 1000, floor max(1950, 1200) = 1950 > step 1900 -> 1950: balloon 50
    observation = obs(
        10000, 1000, [vm("a", 4000, free=2000), vm("c", 2000, free=1000, reservation=1950)]
    )
    decision = mom_vdsm.decide(observation, P, new_state(mom_vdsm.State))
    assert balloons(decision) == {"a": 200 * MIB, "c": 50 * MIB}
    assert "limited to 5% a step" in decision.targets["a"].reason
    # critical: host free 4%, guest free target -1%; a: used 3900, floor 3900 - 40 = 3860
    critical = mom_vdsm.decide(
        obs(10000, 400, [vm("a", 4000, free=100)]), P, new_state(mom_vdsm.State)
    )
    assert balloons(critical) == {"a": 140 * MIB}
    assert "<= critical 5%" in critical.notes[0]


def test_with_ballooning_disabled_it_only_grows_even_under_pressure(vm, obs, new_state):
    disabled = mom_vdsm.Params(balloon_enabled=False)
    # host free 10% < 20%, but balloonEnabled is 0: grow_guest, guest free target 10%
    # a: cur 3000, used 2000, floor 2000 + 300 = 2300 < 3150 -> 3150: balloon 850
    # b: not ballooned: nothing to grow (and nothing shrunk)
    observation = obs(
        10000, 1000, [vm("a", 4000, balloon=1000, free=1000), vm("b", 4000, free=2000)]
    )
    decision = mom_vdsm.decide(observation, disabled, new_state(mom_vdsm.State))
    assert balloons(decision) == {"a": 850 * MIB, "b": None}
    assert "ballooning disabled, grow only" in decision.notes[0]
    # critical (4%): guest free target -1%, a: floor 2000 - 30 = 1970; still grows 5%
    critical = mom_vdsm.decide(
        obs(10000, 400, [vm("a", 4000, balloon=1000, free=1000)]),
        disabled,
        new_state(mom_vdsm.State),
    )
    assert balloons(critical) == {"a": 850 * MIB}


def test_guest_qos_raises_a_guest_below_its_guaranteed_memory(vm, obs, new_state):
    # host free 10%: pressure
    observation = obs(
        10000,
        1000,
        [
            # a: cur 2000 < min 3000; shrink: floor max(3000, 500 + 200) = 3000 > cur: keep;
            #    guest_qos then sets 3000: balloon 1000
            vm("a", 4000, balloon=2000, free=1500, reservation=3000),
            # b: mem_unused missing: no balloon rules, but guest_qos still raises cur 1500
            #    to min 2000: balloon 2000
            vm("b", 4000, balloon=2500, free=None, reservation=2000),
            # c: at its minimum (cur 2000 = min), stats missing: left alone
            vm("c", 4000, balloon=2000, free=None, reservation=2000),
        ],
    )
    decision = mom_vdsm.decide(observation, P, new_state(mom_vdsm.State))
    assert balloons(decision) == {"a": 1000 * MIB, "b": 2000 * MIB, "c": None}
    assert "guest_qos" in decision.targets["a"].reason
    assert "below its guaranteed" in decision.targets["b"].reason
    assert "incomplete data: missing mem_unused" in decision.targets["c"].reason


def test_host_free_is_memfree_buffers_cached_where_the_backend_reads_it(vm, new_state):
    # MemAvailable says 5% (critical), MemFree + Buffers + Cached 50%: MOM reads the latter
    # a: cur 3000, used 2000, floor 2000 + 0.5*3000 = 3500: balloon 500 (grow)
    host = HostSample(
        host_memory_bytes=10000 * MIB,
        host_available_bytes=500 * MIB,
        host_free_cached_bytes=5000 * MIB,
    )
    observation = Observation(0.0, host, (vm("a", 4000, balloon=1000, free=1000),))
    decision = mom_vdsm.decide(observation, P, new_state(mom_vdsm.State))
    assert balloons(decision) == {"a": 500 * MIB}
    assert "host free 50.0%" in decision.notes[0]


def test_vms_without_a_balloon_are_left_alone_and_the_host_size_must_be_known(vm, obs, new_state):
    observation = obs(
        10000,
        1000,
        [
            vm("no-driver", 4000, free=2000, balloon_present=False, reservation=4000),
            vm("no-balloon", 4000, balloon=None, free=2000, reservation=4000),
        ],
    )
    decision = mom_vdsm.decide(observation, P, new_state(mom_vdsm.State))
    assert balloons(decision) == {"no-driver": None, "no-balloon": None}
    assert "missing balloon driver" in decision.targets["no-driver"].reason
    unknown = mom_vdsm.decide(obs(0, 0, [vm("a", 4000, free=2000)]), P, new_state(mom_vdsm.State))
    assert unknown.targets == {}

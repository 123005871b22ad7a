"""mom: decisions worked out by hand from oVirt MOM's doc/balloon.rules.

Sizes in MiB. cur = configured - balloon; used = cur - guest free;
a target's balloon = configured - new guest memory.
"""

from __future__ import annotations

from juggler.observation import HostSample, Observation
from juggler.policy import mom
from juggler.units import MIB

P = mom.Params()


def balloons(decision):
    return {name: t.balloon_bytes for name, t in decision.targets.items()}


def test_defaults_are_the_rules_constants():
    assert (P.pressure_threshold, P.pressure_critical) == (0.20, 0.05)
    assert (P.min_guest_free_percent, P.max_balloon_change_percent) == (0.20, 0.05)
    assert (P.min_balloon_change_percent, P.sample_history_length) == (0.0025, 10)


def test_pressure_shrinks_each_guest_toward_its_floor_by_at_most_5_percent(vm, obs, new_state):
    # host free = 1000 / 10000 = 10% < 20%: pressure, not critical (> 5%)
    # guest free target = 0.20 * 0.10 / 0.20 = 10%
    observation = obs(
        10000,
        1000,
        [
            # a: cur 4000, used 4000-2000 = 2000, floor = max(0, 2000 + 0.1*4000) = 2400;
            #    5% step: 0.95*4000 = 3800 > 2400 -> 3800; balloon 4000-3800 = 200
            vm("a", 4000, free=2000),
            # b: cur 4000-1000 = 3000, used 3000-200 = 2800, floor 2800 + 300 = 3100 > cur:
            #    shrink_guest never grows -> no target
            vm("b", 4000, balloon=1000, free=200),
            # c: cur 2000, used 1000, floor max(min_guarantee 1950, 1000+200) = 1950;
            #    step 1900 < 1950 -> 1950; change 50 > 0.25% of 2000 = 5 -> balloon 50
            vm("c", 2000, free=1000, reservation=1950),
            # d: cur 2000, used 2000-204 = 1796, floor 1796 + 200 = 1996; step 1900 -> 1996;
            #    change 4 <= 5 (0.25% of 2000): too small -> no target
            vm("d", 2000, free=204),
        ],
    )
    decision = mom.decide(observation, P, new_state(mom.State))
    assert balloons(decision) == {"a": 200 * MIB, "b": None, "c": 50 * MIB, "d": None}
    assert "host free 10.0% < pressure 20%" in decision.targets["a"].reason
    assert "limited to 5% a step" in decision.targets["a"].reason
    assert "keep" in decision.targets["b"].reason
    assert "0.25%" in decision.targets["d"].reason


def test_critical_pressure_makes_the_guest_free_target_negative(vm, obs, new_state):
    # host free = 400 / 10000 = 4% <= 5% critical: guest free target = 0.04 - 0.05 = -1%
    # a: cur 4000, used 4000-100 = 3900, floor = 3900 - 0.01*4000 = 3860 > step 3800
    #    -> 3860; balloon 4000 - 3860 = 140
    observation = obs(10000, 400, [vm("a", 4000, free=100)])
    decision = mom.decide(observation, P, new_state(mom.State))
    assert balloons(decision) == {"a": 140 * MIB}
    assert "<= critical 5%" in decision.targets["a"].reason


def test_critical_is_inclusive_and_pressure_strict(vm, obs, new_state):
    # host free exactly 5%: critical, guest free target 0.05 - 0.05 = 0
    # a: cur 4000, used 3900, floor 3900 + 0 = 3900 > 3800 -> 3900: balloon 100
    decision = mom.decide(obs(10000, 500, [vm("a", 4000, free=100)]), P, new_state(mom.State))
    assert balloons(decision) == {"a": 100 * MIB}
    # host free exactly 20%: no pressure; a is not ballooned (cur = max): nothing to grow
    decision = mom.decide(obs(10000, 2000, [vm("a", 4000, free=100)]), P, new_state(mom.State))
    assert balloons(decision) == {"a": None}
    assert ">= pressure 20%" in decision.targets["a"].reason


def test_no_pressure_grows_guests_by_5_percent_or_to_their_free_target(vm, obs, new_state):
    # host free = 50% >= 20%: grow every ballooned guest
    observation = obs(
        10000,
        5000,
        [
            # a: cur 3000, used 2000, floor 2000 + 0.2*3000 = 2600; 1.05*3000 = 3150 -> 3150
            #    balloon 4000 - 3150 = 850
            vm("a", 4000, balloon=1000, free=1000),
            # b: cur 3000, used 2900, floor 2900 + 600 = 3500 > 3150 -> 3500: balloon 500
            vm("b", 4000, balloon=1000, free=100),
            # c: cur 3900, 1.05*3900 = 4095 > max 4000 -> 4000: balloon 0
            vm("c", 4000, balloon=100, free=3000),
            # d: cur 2000, used 1000, floor max(min_guarantee 3000, 1400) = 3000: balloon 1000
            vm("d", 4000, balloon=2000, free=1000, reservation=3000),
        ],
    )
    decision = mom.decide(observation, P, new_state(mom.State))
    assert balloons(decision) == {"a": 850 * MIB, "b": 500 * MIB, "c": 0, "d": 1000 * MIB}
    assert "by 5%" in decision.targets["a"].reason
    assert "to keep 20% free" in decision.targets["b"].reason
    assert "up to its maximum" in decision.targets["c"].reason


def test_statistics_are_averaged_over_the_recent_samples(vm, obs, new_state):
    state = new_state(mom.State)
    # 1st: host free 10%; a: cur 4000, used 2000, floor 2400 -> 5% step: balloon 200
    first = mom.decide(obs(10000, 1000, [vm("a", 4000, free=2000)]), P, state)
    assert balloons(first) == {"a": 200 * MIB}
    # 2nd: host free avg(1000, 600) / 10000 = 8% -> guest free target 8%
    # a now: cur 3800, free 100; averages: cur (4000+3800)/2 = 3900, free (2000+100)/2 = 1050
    # used 3900 - 1050 = 2850; floor 2850 + 0.08*3800 = 3154 < step 0.95*3800 = 3610
    # -> 3610: balloon 4000 - 3610 = 390 (the latest sample alone, used 3700, would keep it)
    second = mom.decide(obs(10000, 600, [vm("a", 4000, balloon=200, free=100)]), P, state)
    assert balloons(second) == {"a": 390 * MIB}
    alone = mom.decide(
        obs(10000, 800, [vm("a", 4000, balloon=200, free=100)]),
        mom.Params(sample_history_length=1),
        new_state(mom.State),
    )
    assert balloons(alone) == {"a": None}


def test_vms_with_missing_statistics_are_left_alone(vm, obs, new_state):
    observation = obs(
        10000,
        1000,
        [
            vm("no-free", 4000, free=None),
            vm("no-balloon", 4000, balloon=None, free=2000),
            vm("no-driver", 4000, free=2000, balloon_present=False),
            vm("ok", 4000, free=2000),
        ],
    )
    decision = mom.decide(observation, P, new_state(mom.State))
    assert balloons(decision) == {
        "no-free": None,
        "no-balloon": None,
        "no-driver": None,
        "ok": 200 * MIB,
    }
    assert "incomplete data: missing mem_unused" in decision.targets["no-free"].reason
    assert "missing balloon_cur" in decision.targets["no-balloon"].reason


def test_unknown_host_size_decides_nothing(vm, obs, new_state):
    decision = mom.decide(obs(0, 0, [vm("a", 4000, free=2000)]), P, new_state(mom.State))
    assert decision.targets == {}


def test_host_free_is_memfree_buffers_cached_else_the_available_memory(vm, new_state):
    # MemAvailable 5% (critical) but MemFree + Buffers + Cached 50%: MOM's mem_free is the
    # latter, so no pressure; a: cur 3000, used 2000, floor 2600 < 3150: balloon 850
    a = vm("a", 4000, balloon=1000, free=1000)
    both = HostSample(10000 * MIB, 500 * MIB, host_free_cached_bytes=5000 * MIB)
    decision = mom.decide(Observation(0.0, both, (a,)), P, new_state(mom.State))
    assert balloons(decision) == {"a": 850 * MIB}
    assert mom.host_free_bytes(both) == 5000 * MIB
    # a backend that cannot read it: the available memory, 5%: critical, shrink
    # a: used 2000, floor 2000 + 0 = 2000; step 0.95 * 3000 = 2850: balloon 1150
    only = HostSample(10000 * MIB, 500 * MIB)
    decision = mom.decide(Observation(0.0, only, (a,)), P, new_state(mom.State))
    assert balloons(decision) == {"a": 1150 * MIB}

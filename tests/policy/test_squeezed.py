"""squeezed: decisions worked out by hand from squeeze.ml's proportional policy.

squeezed counts in KiB. Sizes below in MiB unless marked KiB. For a VM:
actual = configured - balloon, dmin = reservation, dmax = limit or configured,
min_freeable = actual - dmin - 2 * 4 KiB; surplus = free + Σ min_freeable - 72 MiB;
γ = surplus / Σ (dmax - dmin); target = dmin + int(γ * (dmax - dmin)).
A target's balloon = configured - target.
"""

from __future__ import annotations

from juggler.policy import squeezed
from juggler.units import KIB, MIB

P = squeezed.Params()
K = 1 / 1024  # one KiB, in MiB


def balloons(decision):
    return {name: t.balloon_bytes for name, t in decision.targets.items()}


def test_defaults_are_squeezed_constants():
    assert P.host_free_target_bytes == 72 * MIB  # 64 MiB emergency pool + 8 MiB
    assert P.stuck_after_s == 5.0
    assert P.inaccuracy_bytes == 4 * KIB


def test_plenty_of_memory_leaves_everyone_at_dynamic_max(vm, obs, new_state):
    # free 1072: surplus = 1072 + (3072 - 8 KiB) + (1024 - 8 KiB) - 72 > Σ range 4096 -> γ = 1
    # targets = dmax = actual: reached, no change: balanced, nothing to set
    observation = obs(
        16384, 1072, [vm("a", 4096, reservation=1024), vm("b", 2048, reservation=1024)]
    )
    decision = squeezed.decide(observation, P, new_state(squeezed.State))
    assert balloons(decision) == {"a": None, "b": None}
    assert "γ = 1.000" in decision.targets["a"].reason
    assert "squeezed: balanced" in decision.notes


def test_every_vm_gets_the_same_fraction_of_its_range(vm, obs, new_state):
    # free 16 KiB; min_freeable a = 4096 - 1024 - 8 KiB, b = 2048 - 1024 - 8 KiB
    # surplus = 16 KiB + 4096 - 16 KiB - 72 = 4024; Σ range = 3072 + 1024 = 4096
    # γ = 4024 / 4096 = 0.982421875
    # a: 1024 + 0.982421875 * 3072 = 1024 + 3018 = 4042 -> balloon 54
    # b: 1024 + 0.982421875 * 1024 = 1024 + 1006 = 2030 -> balloon 18   (72 MiB freed)
    observation = obs(
        16384, 16 * K, [vm("a", 4096, reservation=1024), vm("b", 2048, reservation=1024)]
    )
    decision = squeezed.decide(observation, P, new_state(squeezed.State))
    assert balloons(decision) == {"a": 54 * MIB, "b": 18 * MIB}
    assert "γ = 0.982" in decision.targets["a"].reason
    assert "freeing phase" in decision.targets["a"].reason


def test_memory_is_freed_before_it_is_allocated(vm, obs, new_state):
    # a holds 4096, b was ballooned down to 1024 (balloon 3072); free 8 KiB
    # min_freeable a = 3072 - 8 KiB, b = max(0, 0 - 8 KiB) = 0
    # surplus = 8 KiB + 3072 - 8 KiB - 72 = 3000; Σ range 6144; γ = 3000/6144 = 0.48828125
    # targets: 1024 + 0.48828125 * 3072 = 1024 + 1500 = 2524 for both
    # a frees (2524 < 4096): freeing phase, only a is set: balloon 4096 - 2524 = 1572
    state = new_state(squeezed.State)
    first = obs(
        16384,
        8 * K,
        [vm("a", 4096, reservation=1024), vm("b", 4096, balloon=3072, reservation=1024)],
    )
    decision = squeezed.decide(first, P, state)
    assert balloons(decision) == {"a": 1572 * MIB, "b": None}
    assert "waits until memory is freed" in decision.targets["b"].reason
    # a got there: free 8 KiB + 1572; min_freeable a = 1500 - 8 KiB: surplus 3000 again,
    # same targets; nobody frees: allocation phase, b's target 2524: balloon 1572
    second = obs(
        16384,
        1572 + 8 * K,
        [
            vm("a", 4096, balloon=1572, reservation=1024),
            vm("b", 4096, balloon=3072, reservation=1024),
        ],
    )
    decision = squeezed.decide(second, P, state)
    assert balloons(decision) == {"a": 1572 * MIB, "b": 1572 * MIB}
    assert "allocation phase" in decision.targets["b"].reason


def test_untouched_guest_memory_is_reserved_as_xen_would(vm, obs, new_state):
    # as test_every_vm_gets_the_same_fraction_of_its_range, but a has touched only 4000 of
    # its 4096 and the host shows those 96 as available: free = (96 + 16 KiB) - 96 = 16 KiB
    vms = [vm("a", 4096, reservation=1024, resident=4000), vm("b", 2048, reservation=1024)]
    observation = obs(16384, 96 + 16 * K, vms)
    decision = squeezed.decide(observation, P, new_state(squeezed.State))
    assert balloons(decision) == {"a": 54 * MIB, "b": 18 * MIB}
    # counted as free instead: surplus 4120 > 4096 -> γ = 1: nothing to do
    decision = squeezed.decide(
        observation, squeezed.Params(reserve_untouched=False), new_state(squeezed.State)
    )
    assert balloons(decision) == {"a": None, "b": None}


def test_a_stuck_balloon_is_marked_uncooperative_and_its_memory_fixed(vm, obs, new_state):
    state = new_state(squeezed.State, interval_s=5.0)

    def observe(free, b_balloon):
        # a was asked for 4060 (balloon target 36) but never moves off 4096
        return obs(
            16384,
            free,
            [
                vm("a", 4096, balloon=0, target=36, reservation=1024),
                vm("b", 4096, balloon=b_balloon, reservation=1024),
            ],
        )

    # t = 0 and 5 s: free 36 + 16 KiB; min_freeable a = 3072 - 8 KiB, b = 3036 - 8 KiB
    # surplus = 36 + 16 KiB + 6108 - 16 KiB - 72 = 6072; γ = 6072/6144 = 0.98828125
    # targets 1024 + 3036 = 4060: a frees (target 4060, balloon 36), b already there
    for _ in range(2):
        decision = squeezed.decide(observe(36 + 16 * K, 36), P, state)
        assert balloons(decision) == {"a": 36 * MIB, "b": None}
    # t = 10 s: a has made no progress for 10 s > 5 s: uncooperative, left out.
    # free 36 + 8 KiB; active b: surplus = 36 + 8 KiB + (3036 - 8 KiB) - 72 = 3000
    # γ = 3000 / 3072 = 0.9765625 -> b: 1024 + 3000 = 4024: balloon 72
    # a is held at min(target 4060, actual 4096) = 4060: balloon 36
    decision = squeezed.decide(observe(36 + 8 * K, 36), P, state)
    assert balloons(decision) == {"a": 36 * MIB, "b": 72 * MIB}
    assert "uncooperative" in decision.targets["a"].reason
    assert state.vms["a"].stuck
    # t = 15 s: b reached 4024; free 72 + 8 KiB: surplus 3000 again, no change, all active
    # targets reached: the balancing is over, and a is forgiven for the next one
    decision = squeezed.decide(observe(72 + 8 * K, 72), P, state)
    assert balloons(decision) == {"a": None, "b": None}
    assert "treated as fixed" in decision.targets["a"].reason
    assert any("forgiven: a" in note for note in decision.notes)
    decision = squeezed.decide(observe(72 + 8 * K, 72), P, state)
    assert "uncooperative" not in decision.targets["a"].reason


def test_vms_with_unknown_balloon_are_left_out(vm, obs, new_state):
    # the two extra VMs change nothing: same numbers as the proportional test
    observation = obs(
        16384,
        16 * K,
        [
            vm("a", 4096, reservation=1024),
            vm("b", 2048, reservation=1024),
            vm("unknown", 4096, balloon=None, reservation=1024),
            vm("no-driver", 4096, balloon=None, reservation=1024, balloon_present=False),
        ],
    )
    decision = squeezed.decide(observation, P, new_state(squeezed.State))
    assert balloons(decision) == {"a": 54 * MIB, "b": 18 * MIB, "unknown": None, "no-driver": None}
    assert "balloon size unknown" in decision.targets["unknown"].reason
    assert "cannot balloon" in decision.targets["no-driver"].reason


def test_limit_is_dynamic_max(vm, obs, new_state):
    # a: configured 4096, limit 3072 -> dmax 3072; its actual 3072 (balloon 1024); free 16 KiB
    # surplus = 16 KiB + (2048 - 8 KiB) + (1024 - 8 KiB) - 72 = 3000; Σ range 3072
    # γ = 3000/3072 = 0.9765625: a 1024 + 2000 = 3024 -> balloon 1072; b 1024 + 1000 = 2024 -> 24
    observation = obs(
        16384,
        16 * K,
        [
            vm("a", 4096, balloon=1024, reservation=1024, limit=3072),
            vm("b", 2048, reservation=1024),
        ],
    )
    decision = squeezed.decide(observation, P, new_state(squeezed.State))
    assert balloons(decision) == {"a": 1072 * MIB, "b": 24 * MIB}

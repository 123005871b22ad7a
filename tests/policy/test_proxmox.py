"""proxmox: decisions worked out by hand from PVE::AutoBalloon::compute_alg1.

Sizes in MiB. A VM's memory ("balloon" in Proxmox) = configured - balloon size.
The host is 10000 MiB, so goal = 80% * 10000 - (10000 - available)
= available - 2000 MiB.
"""

from __future__ import annotations

import pytest

from juggler.observation import HostSample, Observation, VmSample
from juggler.policy import proxmox
from juggler.units import MIB

P = proxmox.Params()


def host_with_goal(obs, goal, vms):
    return obs(10000, 2000 + goal, vms)


def memory(decision, observation):
    """Each VM's new memory in MiB (None: no change wished)."""
    out = {}
    for vm in observation.vms:
        wish = decision.targets.get(vm.name)
        if wish is not None and wish.balloon_bytes is not None:
            out[vm.name] = (vm.configured_bytes - wish.balloon_bytes) / MIB
    return out


def test_defaults_are_pvestatd_constants():
    assert P.target_percent == 80
    assert P.max_change_bytes == 100 * MIB
    assert P.dead_zone_bytes == 10 * MIB
    assert P.pressure_fraction == 0.25


# Upstream's own vectors: pve-manager test/balloontest.pl. Its sizes are decimal
# (MB = 10**6 bytes, GB = 10**9) and it calls compute_alg1 with maxchange MB(100).
MB = 10**6
UPSTREAM_PARAMS = proxmox.Params(max_change_bytes=100 * MB)

# (maxmem, balloon = current memory, balloon_min, freemem, shares) per VM, in MB
STATUS = {
    1: {"100": (2000, 1000, 1000, 0, 2000), "101": (2000, 1000, 1000, 0, 1000)},
    2: {"100": (2000, 2000, 2000, 0, 2000), "101": (2000, 1000, 1000, 0, 1000)},
    3: {
        "100": (2000, 2000, 2000, 0, 2000),
        "101": (2000, 1007, 1000, 0, 1000),
        "102": (2000, 1000, 1000, 512, 1000),
    },
}


def pve_observation(status, goal_mb):
    """A 10000 MiB host whose goal is exactly ``goal_mb`` MB, and the VMs of ``status``."""
    vms = [
        VmSample(
            name=name,
            configured_bytes=maxmem * MB,
            reservation_bytes=low * MB,
            shares=shares,
            balloon_target_bytes=(maxmem - mem) * MB,
            balloon_actual_bytes=(maxmem - mem) * MB,
            guest_free_bytes=free * MB,
        )
        for name, (maxmem, mem, low, free, shares) in status.items()
    ]
    host = HostSample(10000 * MIB, 2000 * MIB + goal_mb * MB)
    return Observation(time_s=0.0, host=host, vms=tuple(vms))


def new_memory_mb(decision, observation):
    return {
        vm.name: (vm.configured_bytes - decision.targets[vm.name].balloon_bytes) / MB
        for vm in observation.vms
        if decision.targets[vm.name].balloon_bytes is not None
    }


# One round (`abtest`). By hand, status 1 (both VMs pressured: freemem 0):
#   goal 90: pool 0 + 90 over 3000 shares: 100 -> 1000 + 60, 101 -> 1000 + 30; rest 0
#   goal 270: desired +180 (moves only +100: maxchange) and +90: rest 80; 2nd round:
#             pool 190 + 80 = 270, same desires, nothing moves: stop -> 1100, 1090
# status 3, goal 11: 100 is at its max (done); 101 first *shrinks* to its share
#   1000 + int(18/3000*1000) = 1006 (rest 12), then alone gets 1000 + 18 = 1018
ROUNDS = [
    (1, 0, {}),
    (1, 90, {"100": 1060, "101": 1030}),
    (1, 150, {"100": 1100, "101": 1050}),
    (1, 270, {"100": 1100, "101": 1090}),
    (2, 0, {}),
    (2, 18, {"101": 1018}),
    (2, 500, {"101": 1100}),
    (3, 0, {}),
    (3, 11, {"101": 1018}),
    (3, 80, {"101": 1087}),
    (3, 200, {"101": 1107}),
]


@pytest.mark.parametrize(("status", "goal", "expected"), ROUNDS)
def test_upstream_abtest_vectors(new_state, status, goal, expected):
    observation = pve_observation(STATUS[status], goal)
    decision = proxmox.decide(observation, UPSTREAM_PARAMS, new_state())
    assert new_memory_mb(decision, observation) == expected


def _absim(status, goal, new_state):
    """balloontest.pl's `absim`: apply rounds until nothing moves; return the final
    status and the last value of every VM that moved."""
    status = {name: list(values) for name, values in status.items()}
    moved = {}
    while True:
        observation = pve_observation(status, goal)
        decision = proxmox.decide(observation, UPSTREAM_PARAMS, new_state())
        changes = abschanges = 0
        for name, new in new_memory_mb(decision, observation).items():
            diff = new - status[name][1]
            status[name][3] = max(0, status[name][3] + diff)  # freemem follows, as upstream
            status[name][1] = new
            moved[name] = new
            changes += diff
            abschanges += abs(diff)
        goal -= changes
        if not abschanges:
            return status, moved


def test_upstream_absim_vectors(new_state):
    # Rounds repeated until nothing moves (`absim`), with upstream's expected end values.
    cases = [(180, {"100": 1120, "101": 1060}), (270, {"100": 1180, "101": 1090})]
    cases += [(600, {"100": 1300, "101": 1300}), (900, {"100": 1600, "101": 1300})]
    for goal, expected in cases:
        assert _absim(STATUS[1], goal, new_state)[1] == expected
    status, moved = _absim(STATUS[3], 593, new_state)
    assert moved == {"101": 1300, "102": 1300}
    assert _absim(status, -200, new_state)[1] == {"101": 1200, "102": 1200}
    assert _absim(status, -400, new_state)[1] == {"101": 1200, "102": 1000}
    assert _absim(status, -593, new_state)[1] == {"101": 1007, "102": 1000}


def test_shrink_takes_from_comfortable_vms_first(vm, obs, new_state):
    # available 1500: used 8500, goal 8000 - 8500 = -500
    # comfortable: a (free 2000 > 25% of 1000); pressured: b (free 100 <= 250)
    # shrink among [a]: pool (4000-1000) - 500 = 2500, desired 1000 + 2500 = 3500,
    #   a moves at most 100: 3900; rest -400; 2nd round: same desire, a already moved
    #   its 100 -> no progress. rest -400 > goal -500: made progress, b is spared.
    observation = obs(
        10000,
        1500,
        [vm("a", 4000, reservation=1000, free=2000), vm("b", 4000, reservation=1000, free=100)],
    )
    decision = proxmox.decide(observation, P, new_state())
    assert memory(decision, observation) == {"a": 3900}
    assert decision.targets["a"].balloon_bytes == 100 * MIB
    assert "shrink 3.9 GiB -> 3.8 GiB" in decision.targets["a"].reason
    assert "under pressure" in decision.targets["b"].reason


def test_shrink_falls_back_to_all_vms_weighted_by_shares(vm, obs, new_state):
    # goal -500, no comfortable VM: the first pass cannot move anything, so all VMs are asked
    # pool (3000 + 3000) - 500 = 5500 over 4000 shares:
    #   b (1000 shares): desired 1000 + 5500*1000/4000 = 2375 -> 3900 (100 MiB step)
    #   c (3000 shares): desired 1000 + 4125 = 5125 > max 4000 -> 4000 = its memory: done
    # 2nd round: pool (2900 - 1000) + (-400) over b alone: desired 3500; b stays at 3900
    observation = obs(
        10000,
        1500,
        [
            vm("b", 4000, reservation=1000, free=100, shares=1000),
            vm("c", 4000, reservation=1000, free=0, shares=3000),
        ],
    )
    decision = proxmox.decide(observation, P, new_state())
    assert memory(decision, observation) == {"b": 3900}


def test_growth_goes_to_vms_under_pressure_first(vm, obs, new_state):
    # available 2500: goal +500. p: memory 3000, free 100 <= 250 -> pressured;
    # q: memory 3000, free 1000 -> comfortable. Grow among [p]: pool 2000 + 500 = 2500,
    # desired 3500 -> 3100 (100 MiB step); rest 400 < 500: progress, q gets nothing.
    observation = obs(
        10000,
        2500,
        [
            vm("p", 4000, balloon=1000, reservation=1000, free=100),
            vm("q", 4000, balloon=1000, reservation=1000, free=1000),
        ],
    )
    decision = proxmox.decide(observation, P, new_state())
    assert memory(decision, observation) == {"p": 3100}
    assert decision.targets["p"].balloon_bytes == 900 * MIB


def test_dead_zone_is_ten_mib(vm, obs, new_state):
    vms = [vm("p", 4000, balloon=1000, reservation=1000, free=100)]
    # goal exactly +10 MiB: nothing; +11 MiB: p grows by 11
    observation = host_with_goal(obs, 10, vms)
    assert memory(proxmox.decide(observation, P, new_state()), observation) == {}
    observation = host_with_goal(obs, 11, vms)
    assert memory(proxmox.decide(observation, P, new_state()), observation) == {"p": 3011}
    observation = host_with_goal(obs, -10, vms)
    assert memory(proxmox.decide(observation, P, new_state()), observation) == {}


def test_vms_proxmox_does_not_manage_are_left_alone(vm, obs, new_state):
    observation = host_with_goal(
        obs,
        50,
        [
            vm("no-minimum", 4000, balloon=1000, free=100),
            vm("no-shares", 4000, balloon=1000, reservation=1000, free=100, shares=0),
            vm("no-actual", 4000, balloon=None, reservation=1000, free=100),
            vm("no-driver", 4000, reservation=1000, free=100, balloon_present=False),
            # free unknown: Proxmox counts the VM as under memory pressure and grows it
            vm("no-free", 4000, balloon=1000, reservation=1000, free=None),
        ],
    )
    decision = proxmox.decide(observation, P, new_state())
    assert memory(decision, observation) == {"no-free": 3050}
    assert "reservation 0" in decision.targets["no-minimum"].reason
    assert "shares 0" in decision.targets["no-shares"].reason
    assert "balloon_actual_bytes is None" in decision.targets["no-actual"].reason
    assert "no balloon driver" in decision.targets["no-driver"].reason
    assert "guest free -" in decision.targets["no-free"].reason


def test_limit_is_the_maximum(vm, obs, new_state):
    # goal +500, p pressured, memory 3000, max = limit 3050: desired 1000 + 2500 = 3500
    # -> clamped to 3050 (+50)
    observation = host_with_goal(
        obs, 500, [vm("p", 4000, balloon=1000, reservation=1000, limit=3050, free=100)]
    )
    assert memory(proxmox.decide(observation, P, new_state()), observation) == {"p": 3050}

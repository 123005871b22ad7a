"""oracle: hand-worked sizes from the simulator's truth (sizes in MiB).

Every VM here is 2000 MiB, so its headroom is need_floor(2000 MiB) = 100 MiB, and
the host's reserve is 6% of its 4000 MiB = 240 MiB.
"""

from __future__ import annotations

from dataclasses import replace

from tests.policy.conftest import make_obs, make_state, make_vm, mib

from juggler.observation import VmTruth
from juggler.policy import POLICIES
from juggler.policy.oracle import Params, decide


def _truth(upcoming_mib: float | None) -> VmTruth:
    need = mib(upcoming_mib)
    return VmTruth(0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, upcoming_need_bytes=need)


def _obs(available: float, resident: dict[str, float], upcoming: dict[str, float | None]):
    vms = [make_vm(name, 2000, resident=size) for name, size in resident.items()]
    observation = make_obs(4000, available, vms)
    return replace(observation, truth={name: _truth(v) for name, v in upcoming.items()})


def test_each_vm_is_ballooned_down_to_its_need_plus_headroom():
    # budget 1000 + 1200 + 1000 - 240 = 2960 MiB holds the needs 600 + 1000
    obs = _obs(1000, {"a": 1200, "b": 1000}, {"a": 500, "b": 900})
    decision = decide(obs, Params(), make_state())
    assert decision.targets["a"].balloon_bytes == mib(2000 - 600)
    assert decision.targets["b"].balloon_bytes == mib(2000 - 1000)
    assert "needs 600 MiB" in decision.targets["a"].reason


def test_a_need_beyond_the_vm_deflates_it_fully():
    obs = _obs(1000, {"a": 1200}, {"a": 1990})
    assert decide(obs, Params(), make_state()).targets["a"].balloon_bytes == 0


def test_a_shortfall_is_shared_by_need_when_asked():
    # needs 1000 + 1200 = 2200 MiB; budget 90 + 1000 + 800 - 240 = 1650: 550 short,
    # a gives 550 x 1000 / 2200 = 250, b 550 x 1200 / 2200 = 300
    obs = _obs(90, {"a": 1000, "b": 800}, {"a": 900, "b": 1100})
    decision = decide(obs, Params(share_shortfall=True), make_state())
    assert decision.targets["a"].balloon_bytes == mib(2000 - 750)
    assert decision.targets["b"].balloon_bytes == mib(2000 - 900)
    assert "550 MiB short, shared by need" in decision.targets["a"].reason


def test_by_default_a_shortfall_is_left_to_the_host_and_the_needs_held():
    obs = _obs(90, {"a": 1000, "b": 800}, {"a": 900, "b": 1100})
    decision = decide(obs, Params(), make_state())
    assert decision.targets["a"].balloon_bytes == mib(2000 - 1000)
    assert decision.targets["b"].balloon_bytes == mib(2000 - 1200)
    assert "the host's reclaim takes the 550 MiB short" in decision.notes[0]


def test_a_vm_without_truth_is_left_alone_saying_why_and_one_without_a_balloon_ignored():
    obs = _obs(1000, {"a": 1200, "b": 1000}, {"a": None})
    vms = (*obs.vms, make_vm("c", 2000, resident=500, balloon_present=False))
    obs = replace(obs, vms=vms, truth={**obs.truth, "c": _truth(100)})
    decision = decide(obs, Params(), make_state())
    assert decision.targets["a"].balloon_bytes is None
    assert "no simulator truth" in decision.targets["a"].reason
    assert decision.targets["b"].balloon_bytes is None
    assert "c" not in decision.targets


def test_it_is_registered_as_needing_the_truth():
    assert POLICIES["oracle"].needs_truth
    assert not any(p.needs_truth for name, p in POLICIES.items() if name != "oracle")

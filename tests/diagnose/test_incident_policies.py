"""The test-only policies of the incident suite (tests/incidents/policies.py) make their
mistake, and only it, on hand-made observations."""

from __future__ import annotations

from juggler.policy import get_policy
from juggler.units import MIB
from tests.incidents.policies import Params, asks_too_much, decide
from tests.policy.conftest import make_obs, make_state, make_vm

SPEC = "tests.incidents.policies:asks_too_much"


def _u(**over):
    """U of the uncooperative incidents: 768 MiB, 648 MiB resident (kernel and working
    set), 120 MiB it never touched."""
    fields = dict(resident=648, free=120, shares=1000)
    fields.update(over)
    return make_vm("U", 768, **fields)


def test_the_incidents_spec_names_it():
    assert get_policy(SPEC) is asks_too_much


def test_nothing_is_asked_while_the_host_has_room():
    # 1024 MiB host, 7% free: above HIGH_FREE (6%)
    obs = make_obs(1024, 72, [_u(), make_vm("V", 512, resident=452, free=20)])
    assert decide(obs, Params(), make_state()).targets == {}


def test_the_lowest_claim_is_asked_for_the_shortfall_out_of_what_the_host_holds():
    # 30 MiB free of 1024 (2.9%): the reserve (10%) is 102.4 MiB, so 72.4 MiB are wanted; U
    # holds 648 MiB resident for 1000 shares, V 452: U's claim is the lower
    obs = make_obs(1024, 30, [_u(), make_vm("V", 512, resident=452, free=20)])
    targets = decide(obs, Params(), make_state()).targets
    assert list(targets) == ["U"]
    want = int(0.10 * 1024 * MIB) - 30 * MIB
    # guest memory resident - want: the 120 MiB it never touched, and want more
    assert targets["U"].balloon_bytes == (768 - 648) * MIB + want
    assert "lowest claim" in targets["U"].reason


def test_shares_decide_the_donor():
    obs = make_obs(1024, 30, [_u(shares=4000), make_vm("V", 512, resident=452, free=20)])
    assert list(decide(obs, Params(), make_state()).targets) == ["V"]


def test_a_balloon_short_of_its_target_is_left_with_the_request_standing():
    stalled = _u(balloon=116, target=191)
    obs = make_obs(1024, 30, [stalled, make_vm("V", 512, resident=452, free=20)])
    target = decide(obs, Params(), make_state()).targets["U"]
    assert target.balloon_bytes is None and "the request stands" in target.reason


def test_only_a_vm_with_a_balloon_and_statistics_is_asked():
    no_driver = make_vm("L", 768, resident=100, balloon_present=False)
    unseen = make_vm("M", 768, resident=None)
    obs = make_obs(1024, 30, [no_driver, unseen, make_vm("V", 512, resident=452, free=20)])
    assert list(decide(obs, Params(), make_state()).targets) == ["V"]

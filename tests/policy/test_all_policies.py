"""What every registered policy must do, whatever its rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from juggler.policy import POLICIES


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_targets_stay_within_the_vm_and_nothing_raises(name, data, random_observations):
    """Any observation, even with unknown fields: targets between 0 and the VM's size,
    each with a reason, and no exception."""
    policy = POLICIES[name]
    params = policy.make_params()
    state = policy.new_state(np.random.default_rng(0), 5.0)
    for observation in data.draw(st.lists(random_observations, min_size=1, max_size=4)):
        decision = policy.decide(observation, params, state)
        for vm in observation.vms:
            wish = decision.targets.get(vm.name)
            if wish is None:
                continue
            assert wish.reason
            assert wish.balloon_bytes is None or 0 <= wish.balloon_bytes <= vm.configured_bytes

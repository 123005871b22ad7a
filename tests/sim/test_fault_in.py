"""A sampled workload faults its working set in at its own rate, not the sampling's.

A workload touching R pages/s, page i with probability p_i, has touched page i by
time t with probability 1 - exp(-R p_i t); the share of its working set it holds is
the mean of that over the pages. Uniform over W pages: 1 - exp(-R t / W).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from juggler.scenario import validate_scenario
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost

PAGE = 4096
WS_MIB = 850
W = WS_MIB * 2**20 // PAGE  # 217,600 pages
RATE = 200_000  # pages/s: 10 real accesses per sampled one (20,000 a tick)


def _host(pattern: str) -> SimulatedHost:
    """One 1 GiB guest, plenty of host memory, its workload touching 850 MiB."""
    phase = {"working_set": f"{WS_MIB}MiB", "pattern": pattern, "rate": RATE}
    if pattern == "zipf":
        phase["zipf_exponent"] = 0.8
    scenario = validate_scenario(
        {
            "name": "fault-in",
            "host": {"memory": "4GiB", "swap": "1GiB"},
            "run": {"duration": "20s"},
            "vm": [{"name": "a", "memory": "1GiB", "workload": [phase]}],
        },
        "<test>",
    )
    return SimulatedHost(scenario)


def _held(sim: SimulatedHost) -> float:
    """The share of the working set the guest holds (mapped and host-resident)."""
    base = int(sim.vm_i[0, L.ANON_BASE])
    return float(((sim.page_flags[base : base + W] & L.PF_HIT) != 0).mean())


def test_a_uniform_working_set_is_held_within_seconds():
    # 95% held at t = (W / R) ln 20 = 3.26 s: after the fourth one-second tick
    assert W / RATE * math.log(20) == pytest.approx(3.26, abs=0.01)
    sim = _host("uniform")
    for t in range(1, 5):
        sim.advance(1)
        expected = 1 - math.exp(-RATE * t / W)
        # as fast as the law, and no faster
        assert _held(sim) == pytest.approx(expected, abs=0.01), t
    assert _held(sim) >= 0.95
    sim.check_invariants()


def test_a_zipf_working_set_faults_in_as_its_law_says():
    ranks = np.arange(1, W + 1, dtype=np.float64) ** -0.8
    p = ranks / ranks.sum()
    sim = _host("zipf")
    for t in range(1, 11):
        sim.advance(1)
        expected = float((1 - np.exp(-RATE * p * t)).mean())
        assert _held(sim) == pytest.approx(expected, abs=0.015), t
    # the tail is cold: after 10 s the law holds 95.5%, not all of it
    assert 0.94 <= _held(sim) <= 0.97
    sim.check_invariants()

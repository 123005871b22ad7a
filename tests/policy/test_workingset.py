"""The working-set estimator: fast to rise, slow to fall, one update per sample."""

from __future__ import annotations

import pytest

from juggler.observation import VmSample
from juggler.policy.workingset import EstimatorParams, WorkingSetEstimator
from juggler.units import MIB


def _sampled(touched: int, at: float, n: int = 200) -> VmSample:
    return VmSample(
        "v",
        configured_bytes=1000 * MIB,
        sampled_pages=n,
        sampled_touched_pages=touched,
        sampled_at_s=at,
    )


def test_first_sample_is_the_estimate():
    est = WorkingSetEstimator()
    assert est.update(_sampled(50, 20.0)) == 250 * MIB
    assert est.source == "sampling"


def test_rises_at_once_and_falls_slowly():
    est = WorkingSetEstimator(EstimatorParams(fast_weight=0.5, slow_weight=0.1))
    est.update(_sampled(20, 20.0))  # 10% active
    assert est.update(_sampled(160, 40.0)) == 800 * MIB  # the newest sample wins at once
    # it goes quiet: fast = 0.45 + 0.5 (0.0 - 0.45) = 0.225 ...
    low = est.update(_sampled(0, 60.0))
    assert low == pytest.approx(0.225 * 1000 * MIB, rel=1e-9)
    # ... and keeps falling, never below the slow average
    lower = est.update(_sampled(0, 80.0))
    assert lower < low
    assert lower >= est.slow * 1000 * MIB - 1


def test_the_same_sample_is_taken_in_once():
    est = WorkingSetEstimator()
    est.update(_sampled(100, 20.0))
    est.update(_sampled(0, 40.0))
    again = est.update(_sampled(0, 40.0))
    assert again == est.update(_sampled(0, 40.0))
    assert est.fast == pytest.approx(0.25)


def test_without_sampling_it_reads_the_guest_statistics():
    vm = VmSample(
        "v",
        configured_bytes=1000 * MIB,
        guest_total_bytes=1000 * MIB,
        guest_available_bytes=700 * MIB,
    )
    est = WorkingSetEstimator()
    assert est.update(vm) == 300 * MIB
    assert est.source == "guest statistics"


def test_nothing_known_is_none():
    assert WorkingSetEstimator().update(VmSample("v", configured_bytes=MIB)) is None

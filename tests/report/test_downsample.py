"""Downsampling keeps what a chart must not hide: extremes, means, the worst state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from juggler.metrics.names import HOST_STATES
from juggler.report.downsample import Buckets


def test_short_series_are_drawn_sample_by_sample() -> None:
    t = np.arange(10.0)
    buckets = Buckets(t, max_points=10)
    assert not buckets.reduced
    assert list(buckets.t) == list(t)
    values = np.arange(10.0) * 3
    assert list(buckets.mean(values)) == list(values)


def test_long_series_have_at_most_max_points_and_keep_each_spike() -> None:
    t = np.arange(100_000.0)
    values = np.zeros_like(t)
    values[12_345] = 7.0  # a one-sample spike
    values[99_000] = -3.0
    buckets = Buckets(t, max_points=600)
    assert buckets.reduced and len(buckets) <= 600
    assert buckets.max(values).max() == 7.0
    assert buckets.min(values).min() == -3.0
    # the mean flattens the spike, which is why charts draw the envelope too
    assert buckets.mean(values).max() < 1.0
    assert buckets.counts.sum() == len(t)


@given(st.lists(st.floats(-1e12, 1e12), min_size=1, max_size=3000), st.integers(1, 700))
def test_min_max_and_mean_are_those_of_the_samples(values: list[float], n: int) -> None:
    v = np.array(values)
    t = np.arange(len(v), dtype=float)
    buckets = Buckets(t, max_points=n)
    assert len(buckets) <= max(n, 1)
    assert buckets.max(v).max() == v.max()
    assert buckets.min(v).min() == v.min()
    assert np.all(buckets.min(v) <= buckets.mean(v) + 1e-3 * np.abs(buckets.mean(v)) + 1e-6)
    assert np.isclose((buckets.mean(v) * buckets.counts).sum(), v.sum(), rtol=1e-9, atol=1e-3)


def test_nan_is_ignored_and_an_unmeasured_bucket_stays_nan() -> None:
    t = np.arange(8.0)
    v = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan, np.nan])
    buckets = Buckets(t, max_points=2)
    assert list(buckets.mean(v)[:1]) == [2.0]
    assert np.isnan(buckets.mean(v)[1]) and np.isnan(buckets.max(v)[1])


def test_a_bucket_shows_its_worst_host_state() -> None:
    t = np.arange(6.0)
    states = ["high", "high", "hard", "high", "soft", "high"]
    assert Buckets(t, max_points=2).worst(states, HOST_STATES) == ["hard", "soft"]


def test_max_points_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"max_points\(=0\) must be >= 1"):
        Buckets(np.arange(3.0), max_points=0)

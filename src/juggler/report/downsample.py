"""Fewer points for long runs, honestly: every bucket says its mean, min and max.

A chart has at most ``MAX_POINTS`` points across. A run with more samples is
cut into equal time buckets; stacked memory areas draw the bucket mean (so the
layers still add up to the configured memory), and rate and slowdown lines
draw the min–max envelope with the mean through it, so a short spike stays
visible however long the run.
"""

from __future__ import annotations

import numpy as np

#: most points a chart draws across its width
MAX_POINTS = 600


class Buckets:
    """Equal-time buckets over sample times ``t`` (sorted), at most ``max_points`` of them.

    With no more samples than that, every sample is its own bucket and nothing
    is averaged: :attr:`reduced` is then False.
    """

    def __init__(self, t: np.ndarray, max_points: int = MAX_POINTS) -> None:
        if max_points < 1:
            raise ValueError(f"max_points(={max_points}) must be >= 1")
        t = np.asarray(t, dtype=float)
        n = len(t)
        if n <= max_points:
            starts = np.arange(n)
        else:
            edges = np.linspace(t[0], t[-1], max_points + 1)[:-1]
            starts = np.unique(np.searchsorted(t, edges, side="left"))
        self.starts = starts
        self.counts = np.diff(np.append(starts, n))
        self.reduced = n > len(starts)
        self.t = self.mean(t) if n else t

    def __len__(self) -> int:
        return len(self.starts)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Mean per bucket, ignoring NaN (NaN where a bucket has no value)."""
        values = np.asarray(values, dtype=float)
        if not len(values):
            return values
        known = ~np.isnan(values)
        sums = np.add.reduceat(np.where(known, values, 0.0), self.starts)
        counts = np.add.reduceat(known.astype(float), self.starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def min(self, values: np.ndarray) -> np.ndarray:
        """Smallest value per bucket (NaN ignored)."""
        values = np.asarray(values, dtype=float)
        return np.fmin.reduceat(values, self.starts) if len(values) else values

    def max(self, values: np.ndarray) -> np.ndarray:
        """Largest value per bucket (NaN ignored)."""
        values = np.asarray(values, dtype=float)
        return np.fmax.reduceat(values, self.starts) if len(values) else values

    def worst(self, states: list[str], order: tuple[str, ...]) -> list[str]:
        """Per bucket, the state latest in ``order`` (the least comfortable one seen)."""
        rank = {state: i for i, state in enumerate(order)}
        out = []
        for start, count in zip(self.starts, self.counts, strict=True):
            chunk = states[start : start + count]
            out.append(max(chunk, key=lambda s: rank.get(s, -1)) if chunk else "")
        return out

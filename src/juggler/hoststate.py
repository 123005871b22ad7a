"""The host's free-memory states (ESX's levels), shared by every world.

The simulated host acts on them (balloon below soft, swap below hard, block
allocations below low); a real host only reports available memory, so the
Manager classifies that with the same thresholds, and every run file, summary
and report speaks of the same four states.
"""

from __future__ import annotations

#: host free-memory thresholds, as fractions of host memory (ESX's levels)
HIGH_FREE = 0.06
SOFT_FREE = 0.04
HARD_FREE = 0.02
LOW_FREE = 0.01


def host_state(available_fraction: float) -> str:
    """The host's free-memory state: above soft nothing happens, below soft the
    host balloons, below hard it swaps, below low it also blocks allocations."""
    if available_fraction >= SOFT_FREE:
        return "high"
    if available_fraction >= HARD_FREE:
        return "soft"
    if available_fraction >= LOW_FREE:
        return "hard"
    return "low"

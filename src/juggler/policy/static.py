"""static: never balloon. The host swaps when it must.

The baseline every other policy must beat: it is what a host without a memory
manager does::

    every interval:
        leave every VM's balloon where it is (deflated)
"""

from __future__ import annotations

from dataclasses import dataclass

from juggler.observation import Decision, Observation
from juggler.policy.base import PolicyState


@dataclass(frozen=True)
class Params:
    """static has no parameters."""


def decide(observation: Observation, params: Params, state: PolicyState) -> Decision:
    """Leave every balloon alone."""
    return Decision(notes=("static: no ballooning; the host swaps when memory runs short",))

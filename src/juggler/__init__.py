"""juggler: memory management for over-committed virtual machines.

The public surface, most important first; errors from most generic to most explicit.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from juggler.errors import (
    AdmissionError,
    BackendError,
    CommandError,
    ConnectError,
    JugglerError,
    PolicyError,
    ScenarioError,
    SimulationError,
    StateError,
    StoreError,
)
from juggler.observation import Decision, HostSample, Observation, VmSample, VmTarget

__all__ = [
    "AdmissionError",
    "BackendError",
    "CommandError",
    "ConnectError",
    "Decision",
    "HostSample",
    "JugglerError",
    "Observation",
    "PolicyError",
    "ScenarioError",
    "SimulationError",
    "StateError",
    "StoreError",
    "VmSample",
    "VmTarget",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

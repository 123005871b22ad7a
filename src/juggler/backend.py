"""The Backend protocol: what the Manager needs from a world.

Three worlds implement it: the simulated host (``sim.host.SimulatedHost``),
QEMU VMs over QMP, and libvirt. A backend only reads (``observe``) and acts
(``apply``); it never decides.

A backend whose observations carry the simulator's truth says so with a
``provides_truth = True`` attribute (:func:`provides_truth`); it is not part of
the protocol, so a real backend need not define it to be one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from juggler.observation import Decision, Observation


@runtime_checkable
class Backend(Protocol):
    """A host whose VMs juggler manages."""

    def observe(self) -> Observation:
        """Sample the host and every VM now.

        A VM that cannot be read is listed in ``Observation.missing`` with the
        reason, not raised: one VM's failure never hides the others.

        :raise BackendError: Only when nothing at all can be observed.
        """
        raise NotImplementedError

    def apply(self, decision: Decision) -> None:
        """Send the decision's balloon targets to the VMs.

        :raise BackendError: When a target could not be sent; the error names the VM.
        """
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the simulator runs its ticks, a real host sleeps."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and resources."""
        raise NotImplementedError


def provides_truth(backend: object) -> bool:
    """True when ``backend``'s observations carry the simulator's truth (only the
    simulated host's do; a wrapper such as ``PacedBackend`` forwards the answer)."""
    return bool(getattr(backend, "provides_truth", False))


def backend_name(backend: object) -> str:
    """The class name of the backend under any wrappers (``QemuBackend``), for errors."""
    inner = getattr(backend, "backend", None)
    while inner is not None:
        backend, inner = inner, getattr(inner, "backend", None)
    return type(backend).__name__

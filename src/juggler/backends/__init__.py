"""Backends for real hosts: QEMU over QMP (lab and production).

The simulated host lives in ``juggler.sim``; every backend implements
:class:`juggler.backend.Backend`.
"""

from __future__ import annotations

import logging

from juggler.backends.qemu import AsyncQemuBackend, QemuBackend, QemuVm

__all__ = [
    "AsyncQemuBackend",
    "QemuBackend",
    "QemuVm",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

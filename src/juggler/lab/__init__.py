"""The lab: tiny real QEMU guests on this machine, ballooned for real.

``image`` builds the guest (Debian kernel + busybox initramfs + workload),
``vm`` boots and stops one VM. The QMP backend that manages them lives in
``juggler.backends.qemu``, since it serves production VMs too.
"""

from __future__ import annotations

import logging

from juggler.lab.image import GuestImage, build_image

__all__ = [
    "GuestImage",
    "build_image",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

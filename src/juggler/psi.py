"""Linux pressure stall information (PSI): how much time tasks waited on memory.

One reader for both places the kernel writes it in the same format: the whole
machine's ``/proc/pressure/memory`` and a cgroup v2's ``memory.pressure``::

    some avg10=1.23 avg60=0.50 avg300=0.10 total=12345
    full avg10=0.40 avg60=0.20 avg300=0.05 total=6789
"""

from __future__ import annotations

from pathlib import Path


def read_avg10(path: Path) -> tuple[float | None, float | None]:
    """``some`` and ``full`` avg10 (percent of the last 10 s stalled); ``(None, None)``
    when the file is absent (a kernel without ``CONFIG_PSI``, a cgroup v1)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None, None
    values: dict[str, float] = {}
    for line in lines:
        kind, *pairs = line.split()
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key == "avg10":
                values[kind] = float(value)
    return values.get("some"), values.get("full")

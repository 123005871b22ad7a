"""The lab workload's own reports, read from a VM's serial console log.

The workload program inside a lab guest (``lab/guest/workload.c``) prints one
line per second on the serial console, which QEMU writes to a file::

    JUGGLER t=12 phase=0 ws_mib=300 accesses=123456 p50_us=0.30 p99_us=4.10 max_us=97.00

That is the guest's own view of slowdown: how much work it got done and how
long its memory accesses took, whatever the cause. The hypervisor cannot see
it otherwise, so the QEMU backend tails the log (when told where it is) and
folds the lines since its previous observation into three numbers.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from juggler.units import MIB

_REPORT_RE = re.compile(
    r"JUGGLER t=(\d+) phase=(\d+) ws_mib=(\d+) accesses=(\d+) "
    r"p50_us=([\d.]+) p99_us=([\d.]+) max_us=([\d.]+)"
)


@dataclass(frozen=True)
class WorkloadReport:
    """One second of the guest workload, as it printed it on the serial console."""

    t_s: int
    phase: int
    working_set_bytes: int
    accesses: int
    p50_us: float
    p99_us: float
    max_us: float


def parse_reports(text: str) -> list[WorkloadReport]:
    """Every complete report line in ``text``, in order."""
    return [
        WorkloadReport(
            int(m[1]),
            int(m[2]),
            int(m[3]) * MIB,
            int(m[4]),
            float(m[5]),
            float(m[6]),
            float(m[7]),
        )
        for m in _REPORT_RE.finditer(text)
    ]


def summarize_reports(reports: list[WorkloadReport]) -> dict[str, float]:
    """The ``workload_*`` observation fields for the reports of one period.

    Accesses are the mean per second; p50 is the median of the seconds' medians;
    p99 is the worst second's p99, so one bad second in a period is not averaged
    away. A second without accesses (an idle phase) timed nothing, so it has no
    latency. Empty when there are no reports.
    """
    if not reports:
        return {}
    fields = {"workload_accesses_per_s": statistics.fmean(r.accesses for r in reports)}
    timed = [r for r in reports if r.accesses > 0]
    if timed:
        fields["workload_latency_p50_seconds"] = statistics.median(r.p50_us for r in timed) / 1e6
        fields["workload_latency_p99_seconds"] = max(r.p99_us for r in timed) / 1e6
    return fields


class ConsoleTail:
    """Reads the report lines a console log gained since the last call.

    Only complete lines are consumed, so a line QEMU is still writing is read
    whole next time. A log that does not exist (yet) reads as no reports.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0

    def new_reports(self) -> list[WorkloadReport]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        return parse_reports(data[: end + 1].decode(errors="replace"))

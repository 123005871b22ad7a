"""``juggler diagnose``'s findings, live: re-diagnosed from the run file as it grows.

Why from the run file: diagnose needs a VM's history (its baseline, the lag
between a neighbour's growth and its stall), which the exporter's latest
observation does not have, and the run file, committed every second, does. So
a watcher thread re-runs diagnose every ``period_s`` on a read-only connection
and exports, per VM and cause, the seconds of suffering attributed to it so far
(``juggler_finding_seconds``): it only grows, so ``increase()`` over a panel's
range shows when and why a VM suffered, and ``cause="none"`` never appears.

Why diagnose is passed in: metrics/ sits below diagnose (diagnose reads run
files through :mod:`juggler.metrics.store`), so the watcher is given the
function to call (:data:`Diagnose`; ``juggler.diagnose.diagnose`` in the CLI)
rather than importing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from juggler.errors import JugglerError
from juggler.metrics.store import RunStore

log = logging.getLogger(__name__)


class Finding(Protocol):
    """What the watcher reads of one of diagnose's findings."""

    @property
    def vm(self) -> str: ...
    @property
    def cause(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


#: diagnose's findings on a run file open for reading
Diagnose = Callable[[RunStore], Iterable[Finding]]

NAME = "juggler_finding_seconds"  # metrics/names.py EXPORTER_METRICS


class FindingsWatcher:
    """Diagnoses ``run`` every ``period_s`` and exports the result on ``registry``.

    :param run: the run file being written.
    :param registry: the exporter's registry.
    :param diagnose: how to diagnose the run (``juggler.diagnose.diagnose``).
    :param period_s: seconds between diagnoses (a diagnosis reads the whole run).
    """

    def __init__(
        self,
        run: Path,
        registry: CollectorRegistry,
        diagnose: Diagnose,
        period_s: float = 30.0,
    ) -> None:
        self.run = Path(run)
        self.diagnose = diagnose
        self.period_s = period_s
        self._seconds: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return [self._family({})]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            seconds = dict(self._seconds)
        return [self._family(seconds)] if seconds else []

    def refresh(self) -> None:
        """Diagnose the run as it is now; a run file not readable yet is skipped."""
        try:
            with RunStore.open(self.run) as store:
                findings = list(self.diagnose(store))
        except (JugglerError, OSError, ValueError) as err:
            log.debug("findings: %s not diagnosable yet: %s", self.run, err)
            return
        except Exception as err:  # a half-written file must not kill the watcher
            log.warning("findings: diagnosing %s failed: %s", self.run, err)
            return
        self.update(findings)

    def update(self, findings: Iterable[Finding]) -> None:
        """Export these findings (all of the run so far) in place of the last ones."""
        seconds: dict[tuple[str, str], float] = {}
        for finding in findings:
            if finding.cause != "none":
                key = (finding.vm, finding.cause)
                seconds[key] = seconds.get(key, 0.0) + finding.end_s - finding.start_s
        with self._lock:
            self._seconds = seconds

    def start(self) -> FindingsWatcher:
        self._thread = threading.Thread(target=self._loop, name="juggler-findings", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period_s + 30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.refresh()

    @staticmethod
    def _family(seconds: dict[tuple[str, str], float]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            NAME,
            "Seconds of suffering diagnose attributes to each cause so far, per VM.",
            labels=["vm", "cause"],
        )
        for (vm, cause), value in sorted(seconds.items()):
            family.add_metric([vm, cause], value)
        return family

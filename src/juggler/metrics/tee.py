"""Record one run to several places at once: the run file and a live exporter.

The Manager takes one recorder on purpose (it should not know who listens);
:class:`TeeRecorder` is how a run writes its SQLite file and feeds Prometheus
without the Manager caring.
"""

from __future__ import annotations

from collections.abc import Mapping

from juggler.manager import Recorder
from juggler.observation import Observation, VmTarget


class TeeRecorder(Recorder):
    """Pass everything the Manager records on to each recorder, in order.

    ``record_timing`` goes only to the recorders that define it (the run file has
    no use for wall-clock timings).

    :param recorders: where to record, such as a ``RunStore`` and a ``MetricsExporter``.
    """

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders
        self._timed = [r for r in recorders if callable(getattr(r, "record_timing", None))]

    def record_observation(self, obs: Observation) -> None:
        for recorder in self.recorders:
            recorder.record_observation(obs)

    def record_decision(
        self,
        time_s: float,
        vm: str,
        balloon_bytes: int,
        previous_bytes: int,
        reason: str,
        guard: tuple[str, ...] = (),
    ) -> None:
        for recorder in self.recorders:
            recorder.record_decision(time_s, vm, balloon_bytes, previous_bytes, reason, guard)

    def record_notes(
        self, time_s: float, notes: tuple[str, ...], left_alone: Mapping[str, VmTarget]
    ) -> None:
        for recorder in self.recorders:
            record = getattr(recorder, "record_notes", None)
            if record is not None:
                record(time_s, notes, left_alone)

    def record_event(self, time_s: float, vm: str | None, kind: str, message: str) -> None:
        for recorder in self.recorders:
            recorder.record_event(time_s, vm, kind, message)

    def record_timing(self, stage: str, seconds: float) -> None:
        for recorder in self._timed:
            recorder.record_timing(stage, seconds)  # type: ignore[attr-defined]


def tee(first: Recorder, extra: Recorder | None) -> Recorder:
    """``first`` alone when there is no ``extra`` recorder (no cost per call), else both."""
    return first if extra is None else TeeRecorder(first, extra)

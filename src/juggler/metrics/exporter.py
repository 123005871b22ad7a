"""Live metrics for Prometheus: a recorder that serves what the Manager sees.

:class:`MetricsExporter` is a :class:`~juggler.manager.Recorder` (give it to the
Manager beside the run file with :class:`~juggler.metrics.tee.TeeRecorder`), and
:func:`serve_metrics` puts its registry on ``http://HOST:PORT/metrics``.
:func:`exporting` does both for a command such as ``juggler run``::

    with exporting(addr, info={"backend": "qemu"}) as exporter, RunStore.create(out, meta) as store:
        Manager(backend, policy, params, TeeRecorder(store, exporter), ...).run(duration_s)

Every series is ``juggler_<name>`` with a name from :mod:`juggler.metrics.names`;
docs/metrics.md lists them with type, labels, unit and meaning.

Why a collector that reads the latest observation rather than one ``Gauge`` per
name: a value the backend cannot measure is ``None`` and must be absent, not 0,
and a VM that is missing this interval must drop out of every per-VM series at
once. Both fall out of building the samples at scrape time. Counters and
histograms (decisions, errors, timings) are ordinary prometheus_client metrics.

Everything lives on the exporter's own :class:`CollectorRegistry`, never the
global one, so several runs (and tests) in one process do not collide.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server

from juggler.errors import MetricsAddressError
from juggler.manager import ERROR_KINDS, STAGES, Recorder
from juggler.metrics.findings import Diagnose, FindingsWatcher
from juggler.metrics.names import (
    HOST_METRICS,
    HOST_STATES,
    METRIC_HELP,
    PROMETHEUS_PREFIX,
    TRUTH_METRICS,
    VM_METRICS,
)
from juggler.observation import GuardChange, Observation

#: where ``--metrics-addr`` points when it is not given
DEFAULT_METRICS_ADDR = "127.0.0.1:9177"

#: the ``reason`` label of ``juggler_decisions_total``: a fixed vocabulary, so the
#: label stays bounded whatever the policies write (the full text is in the run file)
REASON_KINDS: tuple[str, ...] = ("oom_rescue", "reservation", "limit", "inflate", "deflate", "hold")

#: the guard's changes that override a policy's wish (manager.guard), in order of
#: precedence, with their label
_GUARD_LABELS: tuple[tuple[GuardChange, str], ...] = (
    (GuardChange.OOM_RESCUE, "oom_rescue"),
    (GuardChange.CLAMPED_RESERVATION, "reservation"),
    (GuardChange.CLAMPED_LIMIT, "limit"),
)

#: histogram buckets for the Manager's stages: a simulated observe takes well under
#: a millisecond, a QMP round trip to a busy guest can take seconds
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def reason_kind(guard: tuple[str, ...], balloon_bytes: int, previous_bytes: int) -> str:
    """The bounded label for a decision (one of :data:`REASON_KINDS`), from what the
    guard changed (``GuardChange`` values), never from the reason's prose.

    The guard's overrides win, because then the guard, not the policy, chose the
    target: ``oom_rescue`` (a guest about to run out of memory was deflated),
    ``reservation`` (clamped at the reservation), ``limit`` (held at the limit).
    Otherwise the direction says what the policy did: ``inflate`` (took memory from
    the guest), ``deflate`` (gave it back), ``hold`` (same target).
    """
    for change, label in _GUARD_LABELS:
        if change in guard:
            return label
    if balloon_bytes > previous_bytes:
        return "inflate"
    if balloon_bytes < previous_bytes:
        return "deflate"
    return "hold"


def _name(metric: str) -> str:
    return f"{PROMETHEUS_PREFIX}{metric}"


class _LatestCollector:
    """Builds the gauges from the latest observation at scrape time (see the module)."""

    def __init__(self, info: Mapping[str, str]) -> None:
        self.info = dict(info)
        self.observation: Observation | None = None
        #: wall clock of the last observation of each VM that was not missing
        self.last_seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        # lets the registry refuse a clash with the counters, without a scrape
        yield from self._families(None, {})

    def collect(self) -> Iterable[Metric]:
        with self.lock:
            obs, last_seen = self.observation, dict(self.last_seen)
        for family in self._families(obs, last_seen):
            if family.samples:
                yield family

    def _families(self, obs: Observation | None, last_seen: dict[str, float]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            _name("run_info"),
            "The run: scenario, policy, backend (always 1).",
            labels=sorted(self.info),
        )
        if self.info:
            info.add_metric([self.info[key] for key in sorted(self.info)], 1)
        yield info
        clock = GaugeMetricFamily(
            _name("backend_time_seconds"),
            "The backend's clock at the last observation (simulated seconds in a simulation).",
        )
        if obs is not None:
            clock.add_metric([], obs.time_s)
        yield clock
        for metric in HOST_METRICS:
            family = GaugeMetricFamily(_name(metric), METRIC_HELP.get(metric, metric))
            value = getattr(obs.host, metric) if obs is not None else None
            if value is not None:
                family.add_metric([], float(value))
            yield family
        state = GaugeMetricFamily(
            _name("host_state"),
            "1 for the host's free-memory state now, 0 for the others.",
            labels=["state"],
        )
        if obs is not None and obs.host_state is not None:
            for name in dict.fromkeys((*HOST_STATES, obs.host_state)):
                state.add_metric([name], 1.0 if name == obs.host_state else 0.0)
        yield state
        present = [vm for vm in obs.vms if vm.name not in obs.missing] if obs is not None else []
        for metric in VM_METRICS:
            family = GaugeMetricFamily(
                _name(metric), METRIC_HELP.get(metric, metric), labels=["vm"]
            )
            for vm in present:
                value = getattr(vm, metric)
                if value is not None:
                    family.add_metric([vm.name], float(value))
            yield family
        truth = obs.truth.items() if obs is not None else ()
        for metric in TRUTH_METRICS:
            family = GaugeMetricFamily(
                _name(metric), METRIC_HELP.get(metric, metric), labels=["vm"]
            )
            for vm_name, vm_truth in truth:
                family.add_metric([vm_name], float(getattr(vm_truth, metric)))
            yield family
        seen = GaugeMetricFamily(
            _name("last_observe_timestamp_seconds"),
            "Wall clock (Unix seconds) of the last successful observation of the VM.",
            labels=["vm"],
        )
        for vm_name, when in last_seen.items():
            seen.add_metric([vm_name], when)
        yield seen


class MetricsExporter(Recorder):
    """A recorder that keeps the latest state as Prometheus metrics on its own registry.

    Safe to scrape from the HTTP server's threads while the Manager records.

    :param info: labels of ``juggler_run_info`` (such as scenario, policy, backend).
    :param clock: the wall clock stamped on ``juggler_last_observe_timestamp_seconds``.
    """

    def __init__(
        self, *, info: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = CollectorRegistry()
        #: the running endpoint while :func:`exporting` serves this exporter
        self.server: MetricsServer | None = None
        self._clock = clock
        self._latest = _LatestCollector(info or {})
        self.registry.register(self._latest)
        self.decisions = Counter(
            _name("decisions_total"),
            "Balloon targets sent, by VM and kind of reason.",
            ["vm", "reason"],
            registry=self.registry,
        )
        self.errors = Counter(
            _name("manager_errors_total"),
            "Failures the Manager met and carried on after.",
            ["kind"],
            registry=self.registry,
        )
        for kind in ERROR_KINDS:
            self.errors.labels(kind)  # present at 0 from the start, so rate() works
        self.stages = {
            stage: Histogram(
                _name(f"manager_{stage}_seconds"),
                f"Wall time of the Manager's {stage} stage.",
                buckets=_STAGE_BUCKETS,
                registry=self.registry,
            )
            for stage in STAGES
        }

    def record_observation(self, obs: Observation) -> None:
        now = self._clock()
        with self._latest.lock:
            self._latest.observation = obs
            for vm in obs.vms:
                if vm.name not in obs.missing:
                    self._latest.last_seen[vm.name] = now

    def record_decision(
        self,
        time_s: float,
        vm: str,
        balloon_bytes: int,
        previous_bytes: int,
        reason: str,
        guard: tuple[str, ...] = (),
    ) -> None:
        self.decisions.labels(vm, reason_kind(guard, balloon_bytes, previous_bytes)).inc()

    def record_event(self, time_s: float, vm: str | None, kind: str, message: str) -> None:
        self.errors.labels(kind).inc()

    def record_timing(self, stage: str, seconds: float) -> None:
        histogram = self.stages.get(stage)
        if histogram is not None:
            histogram.observe(seconds)

    def watch_findings(
        self, run: Path, diagnose: Diagnose, period_s: float = 30.0
    ) -> FindingsWatcher:
        """Also export ``diagnose``'s findings on ``run`` as it is written
        (:mod:`juggler.metrics.findings`); stop the returned watcher at the end."""
        return FindingsWatcher(run, self.registry, diagnose, period_s).start()

    def text(self) -> str:
        """The metrics in the Prometheus text format (what a scrape gets)."""
        return generate_latest(self.registry).decode()


def parse_metrics_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``:PORT`` for every interface) as a pair.

    :raise MetricsAddressError: When it is not of that form or the port is not 0..65535.
    """
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text:
        raise MetricsAddressError(addr, "expected HOST:PORT, such as 127.0.0.1:9177")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise MetricsAddressError(addr, "write an IPv6 address in brackets, such as [::1]:9177")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise MetricsAddressError(addr, f"port {port_text!r} must be a number from 0 to 65535")
    return host or "0.0.0.0", port


class MetricsServer:
    """A running ``/metrics`` endpoint; ``close()`` (or leaving the ``with``) stops it."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        #: where it listens (the real port when 0 was asked for)
        host, port = httpd.server_address[:2]
        self.host = host.decode() if isinstance(host, bytes) else str(host)
        self.port = int(port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(addr: str, registry: CollectorRegistry) -> MetricsServer:
    """Serve ``registry`` at ``http://HOST:PORT/metrics`` from a daemon thread.

    :param addr: ``HOST:PORT``; port 0 picks a free port (see ``MetricsServer.port``).
    :raise MetricsAddressError: When ``addr`` is malformed, its host unknown, or the
        port in use or not allowed.
    """
    host, port = parse_metrics_addr(addr)
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except socket.gaierror as err:
        raise MetricsAddressError(addr, f"unknown host {host!r} ({err.strerror})") from err
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            problem = (
                f"port {port} is already in use on {host}; pick another (port 0 picks a free one)"
            )
        elif err.errno == errno.EADDRNOTAVAIL:
            problem = f"{host} is not an address of this machine"
        elif err.errno == errno.EACCES:
            problem = f"not allowed to listen on port {port} (ports below 1024 need root)"
        else:
            problem = f"cannot listen there: {err.strerror or err}"
        raise MetricsAddressError(addr, problem) from err
    return MetricsServer(httpd, thread)


@contextlib.contextmanager
def exporting(
    addr: str = DEFAULT_METRICS_ADDR,
    *,
    info: Mapping[str, str] | None = None,
    run: Path | None = None,
    diagnose: Diagnose | None = None,
) -> Iterator[MetricsExporter]:
    """A :class:`MetricsExporter` served at ``addr`` for the duration of the ``with``.

    The port is bound before the block runs, so a busy port fails before anything
    is booted or started. The exporter's ``server`` attribute is the running server.
    With ``run`` (the run file being written) and ``diagnose`` (the CLI passes
    ``juggler.diagnose.diagnose``), the findings on it are exported too
    (:meth:`MetricsExporter.watch_findings`).

    :raise MetricsAddressError: As :func:`serve_metrics`.
    :raise ValueError: When ``run`` is given without ``diagnose``.
    """
    if run is not None and diagnose is None:
        raise ValueError("exporting(run=...) needs diagnose= to export the run's findings")
    exporter = MetricsExporter(info=info)
    with serve_metrics(addr, exporter.registry) as server:
        exporter.server = server
        watcher = (
            None if run is None or diagnose is None else exporter.watch_findings(run, diagnose)
        )
        try:
            yield exporter
        finally:
            if watcher is not None:
                watcher.stop()
            exporter.server = None

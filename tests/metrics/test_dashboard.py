"""The Grafana dashboard in contrib/grafana/ asks only for series the exporter exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.scrape import Scrape

from juggler.diagnose import Finding, diagnose
from juggler.manager import ERROR_KINDS, STAGES
from juggler.metrics.exporter import MetricsExporter
from juggler.metrics.names import HOST_METRICS, TRUTH_METRICS, VM_METRICS
from juggler.observation import HostSample, Observation, VmSample, VmTruth

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "juggler.json"
METRIC = re.compile(r"\bjuggler_[A-Za-z0-9_]+")


def _everything_exported() -> set[str]:
    """Every sample name the exporter can expose: fed one of everything, then scraped."""
    fields: dict[str, Any] = {name: 1 for name in VM_METRICS}
    vm = VmSample(name="A", **fields)
    host = HostSample(**{name: 1 for name in HOST_METRICS})
    exporter = MetricsExporter(info={"scenario": "s", "policy": "p", "backend": "sim"})
    exporter.record_observation(
        Observation(
            1.0,
            host,
            (vm,),
            host_state="soft",
            truth={"A": VmTruth(1, 0, 0, 0, 0, 1, 1)},
        )
    )
    exporter.record_decision(1.0, "A", 2, 1, "more")
    for kind in ERROR_KINDS:
        exporter.record_event(1.0, None, kind, "x")
    for stage in STAGES:
        exporter.record_timing(stage, 0.01)
    watcher = exporter.watch_findings(Path("no-such-run.sqlite"), diagnose, period_s=3600)
    watcher.update([Finding("A", 10.0, 20.0, "host_swap")])
    watcher.stop()
    names = Scrape(exporter.text()).names()
    expected = {f"juggler_{m}" for m in HOST_METRICS + VM_METRICS + TRUTH_METRICS}
    assert expected <= names, expected - names
    return names


def _expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and templating query."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield f"${variable['name']}", query["query"]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_every_expression_uses_only_names_the_exporter_exports(dashboard: dict[str, Any]) -> None:
    exported = _everything_exported()
    expressions = list(_expressions(dashboard))
    assert len(expressions) >= 20
    for where, expr in expressions:
        used = set(METRIC.findall(expr))
        assert used, f"{where}: {expr!r} uses no juggler series"
        assert used <= exported, f"{where}: {sorted(used - exported)} are not exported"


def test_the_dashboard_has_the_panels_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in _expressions(dashboard) for name in METRIC.findall(expr)}
    for metric in (
        "host_available_bytes",
        "host_memory_bytes",
        "host_state",
        "host_swap_in_bytes_per_s",
        "host_swap_out_bytes_per_s",
        "host_psi_some_avg10",
        "balloon_actual_bytes",
        "resident_bytes",
        "host_swapped_bytes",
        "working_set_estimate_bytes",
        "guest_swap_in_bytes_per_s",
        "guest_swap_out_bytes_per_s",
        "slowdown",
        "decisions_total",
        "manager_errors_total",
        "last_observe_timestamp_seconds",
        "finding_seconds",
    ):
        assert f"juggler_{metric}" in used, metric


def test_the_dashboard_is_grafana_10_with_datasource_and_vm_variables(
    dashboard: dict[str, Any],
) -> None:
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["vm"]["type"] == "query" and variables["vm"]["multi"]
    ids = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            ids.append(panel["id"])
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] == "${datasource}", panel["title"]
                per_vm = any('vm=~"$vm"' in t["expr"] for t in panel["targets"])
                uses_vm_label = any(
                    name.removeprefix("juggler_") in VM_METRICS + TRUTH_METRICS
                    for t in panel["targets"]
                    for name in METRIC.findall(t["expr"])
                )
                assert per_vm or not uses_vm_label, f"{panel['title']}: not filtered by $vm"
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    assert len(ids) == len(set(ids)), "panel ids repeat"

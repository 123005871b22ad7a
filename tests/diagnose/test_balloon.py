"""A VM slowed by its balloon's own moves, in hand-made run files."""

from __future__ import annotations

import json

import pytest

from juggler.diagnose import diagnose
from juggler.diagnose.balloon import cost_model
from juggler.diagnose.data import load_run
from juggler.metrics.store import RunStore
from juggler.profile import load_profile
from juggler.units import MIB
from tests.diagnose.runs import vm_quiet, write_run

GIB = 2**30


def _churning(t: int) -> dict:
    """From 20 s to 40 s the balloon takes 256 MiB of page cache every other second and
    gives it back in between; nothing is ever read back from swap."""
    balloon = 256 * MIB if 20 <= t <= 40 and t % 2 == 0 else 0
    return vm_quiet(
        "A",
        configured=1024 * MIB,
        balloon_target_bytes=balloon,
        balloon_actual_bytes=balloon,
        guest_cache_bytes=300 * MIB - balloon,
    )


def _run(tmp_path, profile: str | None = None):
    meta = {}
    if profile is not None:
        scenario = {"host": {"profile": profile}, "vm": [{"name": "A", "vcpus": 1}]}
        meta["scenario_json"] = json.dumps(scenario)
    vms = {"A": _churning, "B": lambda t: vm_quiet("B")}
    return write_run(tmp_path / "r.sqlite", 60, vms, meta=meta)


def test_the_balloons_cost_is_estimated_from_what_it_took_and_the_profile(tmp_path):
    with RunStore.open(_run(tmp_path)) as store:
        run = load_run(store)
    model = cost_model(run)
    kvm = load_profile("kvm").balloon
    assert model.profile == "kvm" and model.costs == kvm
    seconds = model.seconds(run.vms["A"])
    # an inflation of 256 MiB the page cache gave; a deflation of 256 MiB
    assert seconds[20] == pytest.approx(0.25 * kvm.inflate_cpu_cache)
    assert seconds[21] == pytest.approx(0.25 * kvm.deflate_cpu)
    assert seconds[:20].sum() == 0.0 and seconds[42:].sum() == 0.0


def test_a_vm_slowed_by_its_balloon_is_diagnosed_balloon(tmp_path):
    with RunStore.open(_run(tmp_path)) as store:
        findings = diagnose(store)
    (a,) = [f for f in findings if f.vm == "A"]
    assert a.cause == "balloon"
    assert 19 <= a.start_s <= 20 and 39 <= a.end_s <= 41
    moved = [e for e in a.evidence if e["metric"] == "|d balloon_actual_bytes|"]
    assert moved and moved[0]["value"] >= 20 * 256 - 256
    assert "'kvm'" in moved[0]["unit"]
    assert a.recommendation.startswith("move A's balloon less")
    assert [f.cause for f in findings if f.vm == "B"] == ["none"]


def test_a_host_whose_balloon_costs_nothing_sees_no_balloon_window(tmp_path):
    with RunStore.open(_run(tmp_path, profile="free")) as store:
        findings = diagnose(store)
    assert [f.cause for f in findings if f.vm == "A"] == ["none"]

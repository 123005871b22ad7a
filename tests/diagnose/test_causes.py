"""Attributing windows to causes in hand-made run files, and the diagnose command."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from juggler.cli import app
from juggler.diagnose import diagnose
from juggler.metrics.store import RunStore
from juggler.observation import VmTruth
from juggler.units import MIB
from tests.diagnose.runs import vm_quiet, write_run

runner = CliRunner()


def _diagnose(path, **kw):
    with RunStore.open(path) as store:
        return diagnose(store, **kw)


def _suffering(findings, vm):
    return [f for f in findings if f.vm == vm and f.cause != "none"]


def _short(t):
    return (30 * MIB, "hard") if t >= 30 else (800 * MIB, "high")


def test_host_swap_of_a_vm_that_grew_itself(tmp_path):
    def a(t):
        grown = min(max(t - 20, 0), 10) * 40 * MIB
        return vm_quiet(
            "A",
            configured=1024 * MIB,
            resident_bytes=300 * MIB + grown,
            guest_available_bytes=600 * MIB,
            host_swapped_bytes=100 * MIB if t >= 30 else 0,
            vm_host_swap_in_bytes_per_s=6 * MIB if t >= 30 else 0.0,
        )

    vms = {"A": a, "B": lambda t: vm_quiet("B")}
    findings = _diagnose(write_run(tmp_path / "r.sqlite", 60, vms, host=_short))
    (f,) = _suffering(findings, "A")
    assert f.cause == "host_swap" and f.neighbours == []
    # A held 300 MiB + 400 MiB resident and 100 MiB in host swap in the window
    assert "reserve 800 MiB for A" in f.recommendation
    assert [x.cause for x in findings if x.vm == "B"] == ["none"]


def test_host_contention_names_the_neighbour_that_grew(tmp_path):
    def n(t):
        grown = min(max(t - 20, 0), 10) * 40 * MIB
        return vm_quiet("N", configured=1024 * MIB, resident_bytes=200 * MIB + grown)

    def v(t):
        return vm_quiet(
            "V",
            host_swapped_bytes=64 * MIB if t >= 30 else 0,
            vm_host_swap_in_bytes_per_s=5 * MIB if t >= 32 else 0.0,
        )

    findings = _diagnose(write_run(tmp_path / "r.sqlite", 60, {"N": n, "V": v}, host=_short))
    (f,) = _suffering(findings, "V")
    assert f.cause == "host_contention"
    assert "host_swap" in f.secondary
    assert f.neighbours == [{"vm": "N", "grew_bytes": 400 * MIB}]
    grew = next(e for e in f.evidence if e["metric"] == "resident_bytes+host_swapped_bytes[N]")
    assert grew["lag_s"] == 11.0  # N began growing at 20 s, V's window opens at 31 s
    assert "limit N to" in f.recommendation


def test_balloon_inflation_then_guest_swap(tmp_path):
    def v(t):
        balloon = min(max(t - 20, 0), 4) * 64 * MIB
        return vm_quiet(
            "V",
            balloon_target_bytes=balloon,
            balloon_actual_bytes=balloon,
            guest_cache_bytes=max(100 * MIB - balloon, 10 * MIB),
            guest_swap_in_bytes_per_s=8 * MIB if t >= 25 else 0.0,
        )

    (f,) = _suffering(_diagnose(write_run(tmp_path / "r.sqlite", 60, {"V": v})), "V")
    assert f.cause == "balloon"
    inflated = next(e for e in f.evidence if e["metric"] == "balloon_actual_bytes")
    assert inflated["value"] == 256.0 and inflated["lag_s"] == 5.0
    assert any(e["metric"] == "guest_cache_bytes" for e in f.evidence)
    assert f.recommendation.startswith("reserve ")


def test_own_working_set_on_a_comfortable_host(tmp_path):
    def v(t):
        return vm_quiet(
            "V",
            guest_swap_in_bytes_per_s=4 * MIB if t >= 10 else 0.0,
            guest_swap_out_bytes_per_s=6 * MIB if t >= 10 else 0.0,
        )

    (f,) = _suffering(_diagnose(write_run(tmp_path / "r.sqlite", 40, {"V": v})), "V")
    assert f.cause == "own_working_set" and f.secondary == []
    # the guest pushed (6 - 4) MiB/s × 30 s = 60 MiB more into swap than it read back
    assert f.recommendation.startswith("give V 80 MiB more memory")


def test_a_balloon_stuck_short_of_its_target_while_the_host_swaps_the_vm(tmp_path):
    def u(t):
        return vm_quiet(
            "U",
            balloon_target_bytes=200 * MIB if t >= 10 else 0,
            balloon_actual_bytes=min(t, 10) * 10 * MIB,
            host_swapped_bytes=50 * MIB if t >= 20 else 0,
            vm_host_swap_in_bytes_per_s=3 * MIB if t >= 20 else 0.0,
        )

    (f,) = _suffering(
        _diagnose(
            write_run(tmp_path / "r.sqlite", 60, {"U": u}, host=lambda t: (40 * MIB, "hard"))
        ),
        "U",
    )
    assert f.cause == "uncooperative_balloon" and "host_swap" in f.secondary
    assert "balloon driver" in f.recommendation and "112 MiB short" in f.recommendation


def test_diagnose_never_reads_the_truth(tmp_path):
    def v(t):
        return vm_quiet("V", guest_swap_in_bytes_per_s=4 * MIB if 10 <= t < 20 else 0.0)

    def lie(t, name):
        return VmTruth(0, 5.0, 5.0, 5.0, 0.0, 100.0, 1.0)

    plain = _diagnose(write_run(tmp_path / "a.sqlite", 40, {"V": v}))
    lying = _diagnose(write_run(tmp_path / "b.sqlite", 40, {"V": v}, truth=lie))
    assert [f.to_dict() for f in plain] == [f.to_dict() for f in lying]


def test_the_diagnose_command(tmp_path):
    def v(t):
        return vm_quiet("V", guest_swap_in_bytes_per_s=4 * MIB if 10 <= t < 20 else 0.0)

    path = write_run(tmp_path / "r.sqlite", 40, {"V": v, "W": lambda t: vm_quiet("W")})
    result = runner.invoke(app, ["diagnose", str(path), "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)["findings"]
    assert [(f["vm"], f["cause"]) for f in findings] == [("V", "own_working_set"), ("W", "none")]
    assert set(findings[0]) == {
        "vm",
        "start_s",
        "end_s",
        "cause",
        "secondary",
        "neighbours",
        "evidence",
        "recommendation",
        "policy_notes",
        "guard_changes",
    }
    text = runner.invoke(app, ["diagnose", str(path), "--vm", "V", "--from", "5s", "--to", "30s"])
    assert text.exit_code == 0 and "own_working_set" in text.output and "VM W" not in text.output
    for args, message in (
        (["--vm", "X"], "no VM called 'X'"),
        (["--from", "soon"], "--from"),
        (["--from", "30s", "--to", "10s"], "must be later"),
    ):
        bad = runner.invoke(app, ["diagnose", str(path), *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output
    missing = runner.invoke(app, ["diagnose", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "no such run file" in missing.output

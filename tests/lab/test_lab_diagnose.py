"""Real guests, seen from both sides: a guest that outgrows its own memory swaps
(its balloon statistics and QEMU's block statistics both show it), and
``diagnose`` names its own working set as the cause."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from lab_helpers import lab
from tests.runfile import run_sql

from juggler.diagnose import diagnose
from juggler.lab.run import run_lab
from juggler.metrics.store import RunStore
from juggler.scenario import load_scenario
from juggler.units import MIB

OUTGROW = Path(__file__).parent / "data" / "outgrow.toml"


def _lab_run(factory: pytest.TempPathFactory, scenario: Path) -> Path:
    """Run ``scenario`` in the lab at scale 0.25 and return its run file."""
    if os.geteuid() != 0:
        pytest.skip("needs root for the cgroup (and the host swap file)")
    out = factory.mktemp(scenario.stem) / "run.sqlite"
    run_lab(load_scenario(scenario), out, scale=0.25)
    return out


@pytest.fixture(scope="module")
def outgrow_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _lab_run(tmp_path_factory, OUTGROW)


def _series(run: Path, vm: str, column: str) -> np.ndarray:
    with RunStore.open(run) as store:
        rows = run_sql(
            store, f"SELECT {column} FROM vm_samples WHERE vm = ? ORDER BY time_s", (vm,)
        )
    return np.array([np.nan if v is None else v for (v,) in rows], dtype=float)


@lab
def test_a_guest_that_outgrows_its_memory_swaps_in_its_stats_and_its_disk_io(
    outgrow_run: Path,
) -> None:
    swap_out = np.nansum(_series(outgrow_run, "big", "guest_swap_out_bytes_per_s"))
    swap_in = np.nansum(_series(outgrow_run, "big", "guest_swap_in_bytes_per_s"))
    written = np.nansum(_series(outgrow_run, "big", "vm_disk_write_bytes_per_s"))
    read = np.nansum(_series(outgrow_run, "big", "vm_disk_read_bytes_per_s"))
    # the guest's own statistics (virtio-balloon) and the hypervisor's block
    # statistics both see the swapping; per-sample rates summed (~2 s periods)
    assert swap_out > 16 * MIB and swap_in > 4 * MIB, (swap_out, swap_in)
    assert written > 16 * MIB and read > 4 * MIB, (written, read)
    idle_io = np.nansum(_series(outgrow_run, "idle", "guest_swap_out_bytes_per_s"))
    assert idle_io == 0
    host_swapped = np.nanmax(_series(outgrow_run, "big", "host_swapped_bytes"))
    assert host_swapped < 8 * MIB  # the host had room: this is the guest's own doing


@lab
def test_diagnose_names_the_guests_own_working_set(outgrow_run: Path) -> None:
    with RunStore.open(outgrow_run) as store:
        findings = diagnose(store)
    big = [f for f in findings if f.vm == "big"]
    idle = [f for f in findings if f.vm == "idle"]
    assert big and all(f.cause == "own_working_set" for f in big), [
        (f.cause, f.start_s, f.end_s) for f in big
    ]
    assert [f.cause for f in idle] == ["none"]
    assert "memory" in big[0].recommendation


HOSTSWAP = Path(__file__).parent / "data" / "hostswap.toml"


@pytest.fixture(scope="module")
def hostswap_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _lab_run(tmp_path_factory, HOSTSWAP)


@lab
def test_diagnose_names_the_host_swapping_that_the_guests_cannot_see(hostswap_run: Path) -> None:
    # B, growing into a host that has no room: QEMU's major faults say the host read
    # its memory back from swap, while the guest itself never swapped (no swap disk)
    assert np.nansum(_series(hostswap_run, "B", "vm_host_swap_in_bytes_per_s")) > 16 * MIB
    assert np.nansum(_series(hostswap_run, "B", "guest_swap_in_bytes_per_s")) == 0
    with RunStore.open(hostswap_run) as store:
        findings = diagnose(store)
    causes = {(f.vm, f.cause) for f in findings}
    assert {c for c in causes if c[0] == "B"} & {("B", "host_swap"), ("B", "host_contention")}, (
        causes
    )
    # A may be OOM-killed by the thrashing cgroup (see the scenario); whatever it
    # suffered before is the host's doing too, never the guest's or a balloon's
    assert not {c for c in causes if c[1] in ("own_working_set", "balloon")}, causes

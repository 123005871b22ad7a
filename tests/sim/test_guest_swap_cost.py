"""A profile's measured cost of a guest swap-in replaces the device's latency."""

from __future__ import annotations

from pathlib import Path

from juggler.profile import dump_profile, load_profile
from juggler.sim.host import SimulatedHost
from tests.sim.conftest import TOY_PROFILE, tiny, vm


def _profile_with_swap_in(tmp_path: Path, seconds: float | None) -> str:
    base = load_profile(TOY_PROFILE)
    guest = base.guest.model_copy(update={"swap_in_s": seconds})
    path = tmp_path / f"swap-in-{seconds}.toml"
    path.write_text(dump_profile(base.model_copy(update={"guest": guest})), "utf-8")
    return str(path)


def _stall_per_swap_in(profile: str) -> float:
    scenario = tiny(
        [vm(workload=[{"working_set": "6MiB", "pattern": "uniform", "rate": 4000}])],
        host={"profile": profile},
        run={"duration": "20s"},
    )
    sim = SimulatedHost(scenario)
    swap_ins = stall = 0.0
    for _ in range(20):
        sim.advance(1.0)
        obs = sim.observe()
        swap_ins += obs.vms[0].guest_swap_in_bytes_per_s / 4096  # 1 s periods
        stall += obs.truth["v"].stall_seconds_guest_swap
    assert swap_ins > 100  # the working set does not fit: the guest swaps
    return stall / swap_ins


def test_each_guest_swap_in_stalls_the_profiles_figure(tmp_path: Path) -> None:
    measured = _stall_per_swap_in(_profile_with_swap_in(tmp_path, 7.87e-4))
    assert abs(measured - 7.87e-4) < 1e-9


def test_without_one_a_swap_in_costs_the_devices_read_latency(tmp_path: Path) -> None:
    measured = _stall_per_swap_in(_profile_with_swap_in(tmp_path, None))
    assert abs(measured - 250e-6) < 1e-12  # the default guest_swap_device, ssd

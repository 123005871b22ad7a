"""Invariants of the simulated host and of the manager, over random scenarios."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from juggler.manager import Manager
from juggler.policy import POLICIES
from juggler.scenario import Scenario, validate_scenario
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost
from juggler.units import MIB
from tests.sim.conftest import TOY_PROFILE, toy_profile

PAGE = 4096
#: the hosts the properties must hold on: the default's (guests reserving nothing at
#: boot), and a memory cgroup whose guests reserve 1/16 of their memory and touched
#: a third of it while booting
PROFILES = (
    TOY_PROFILE,
    toy_profile("toy-cgroup", boot_reserved_per_gib=64 * MIB, boot_touched=0.3, keeps_free=False),
)


@st.composite
def scenarios(draw, reclaim: str = "random") -> Scenario:
    """2-4 small VMs on an over-committed host, with phases whose working sets fit
    in their guests (so any guest OOM would be the manager's doing). The first VM
    always reserves memory below the working set it starts with, so the host and
    the balloons are tempted to take it below. ``reclaim``: the host's order."""
    n_vms = draw(st.integers(2, 4))
    vms = []
    for i in range(n_vms):
        memory = draw(st.sampled_from([4, 6, 8])) * MIB
        kernel = MIB // 2
        usable = memory - kernel - MIB
        phases = []
        for _ in range(draw(st.integers(1, 3))):
            pattern = draw(st.sampled_from(["uniform", "zipf", "scan", "idle"]))
            phase = {
                "duration": draw(st.integers(2, 6)),
                "pattern": pattern,
                "rate": draw(st.sampled_from([0, 2000, 8000])),
            }
            if pattern != "idle":
                phase["working_set"] = draw(st.integers(MIB // 4, usable))
            phase["cache_rate"] = draw(st.sampled_from([0, 256 * 1024]))
            phases.append(phase)
        if i == 0:
            phases[0].update(pattern="uniform", working_set=usable, rate=8000)
        phases[-1].pop("duration")
        vms.append(
            {
                "name": f"vm{i}",
                "memory": memory,
                "guest_kernel": kernel,
                "reservation": (
                    usable - MIB // 2 if i == 0 else draw(st.sampled_from([0, MIB, 2 * MIB]))
                ),
                "guest_swap": draw(st.sampled_from([0, 2 * MIB, 8 * MIB])),
                "balloon": draw(st.booleans()) or i == 0,
                "shares": draw(st.sampled_from([500, 1000, 2000])),
                "file_size": 2 * MIB,
                "workload": phases,
            }
        )
    total = sum(v["memory"] for v in vms)
    host = max(
        sum(v["reservation"] + v["guest_kernel"] for v in vms) + 2 * MIB,
        int(total / draw(st.sampled_from([1.25, 1.5, 2.0]))),
    )
    return validate_scenario(
        {
            "host": {
                "memory": host,
                "swap": total,
                "vm_overhead": 0,
                "reclaim": reclaim,
                "profile": draw(st.sampled_from(PROFILES)),
            },
            "manager": {"policy": draw(st.sampled_from(sorted(POLICIES))), "interval": 2},
            "run": {"duration": 24, "accesses_per_tick": 2000, "seed": draw(st.integers(0, 99))},
            "vm": vms,
        },
        "<hypothesis>",
    )


class CheckingRecorder:
    """Checks the invariants at every sample while the manager runs."""

    def __init__(self, sim: SimulatedHost, scenario: Scenario) -> None:
        self.sim = sim
        self.reservation = {vm.name: vm.reservation for vm in scenario.vm}
        self.reached: set[str] = set()
        self.decisions: list[tuple[str, int]] = []
        self.rescues: list[tuple[float, str]] = []

    def record_observation(self, obs) -> None:
        self.sim.check_invariants()
        for vm in obs.vms:
            if vm.resident_bytes >= self.reservation[vm.name]:
                self.reached.add(vm.name)
            if vm.name in self.reached:
                assert vm.resident_bytes >= self.reservation[vm.name], vm.name
            assert 0 <= (vm.balloon_actual_bytes or 0) <= vm.configured_bytes
        for name, truth in obs.truth.items():
            assert truth.guest_oom_events == 0, f"{name} went out of memory"

    def record_decision(self, time_s, vm, balloon_bytes, previous_bytes, reason, guard=()) -> None:
        self.decisions.append((vm, balloon_bytes))
        assert reason
        if "oom_rescue" in guard:
            self.rescues.append((time_s, vm))

    def record_event(self, time_s, vm, kind, message) -> None:
        raise AssertionError(f"unexpected event {kind}: {message}")


def _run_checked(scenario: Scenario) -> CheckingRecorder:
    """Run the scenario's manager on the simulator, checking at every sample."""
    sim = SimulatedHost(scenario)
    recorder = CheckingRecorder(sim, scenario)
    policy = POLICIES[scenario.manager.policy]
    manager = Manager(
        sim,
        policy,
        policy.make_params(),
        recorder,
        interval_s=scenario.manager.interval,
        sample_s=1.0,
    )
    manager.run(scenario.run.duration)
    assert sim.host_i[L.HOST_FREE] >= 0
    return recorder


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_never_below_a_reservation_never_into_a_guest_oom(scenario):
    recorder = _run_checked(scenario)
    for name, balloon in recorder.decisions:
        vm = next(v for v in scenario.vm if v.name == name)
        assert balloon <= vm.memory - vm.reservation


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(reclaim="lru"))
def test_an_lru_host_never_takes_a_vm_below_its_reservation(scenario):
    """The recorder fails a VM that, once at its reservation, falls below it."""
    _run_checked(scenario)


@st.composite
def juggler_scenarios(draw, reclaim: str) -> Scenario:
    """The random scenarios above, managed by juggler."""
    scenario = draw(scenarios(reclaim=reclaim))
    data = scenario.model_dump(exclude_unset=True)
    data["manager"]["policy"] = "juggler"
    return validate_scenario(data, "<hypothesis>")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["random", "lru"]).flatmap(lambda r: juggler_scenarios(reclaim=r)))
def test_juggler_never_needs_the_guards_oom_rescue(scenario):
    """A rescue undoes a target juggler set: a bug in the controller, not a safety net."""
    recorder = _run_checked(scenario)
    assert recorder.rescues == []

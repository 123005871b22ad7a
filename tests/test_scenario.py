"""Scenario loading: every mistake named by file, field and way out; defaults; overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from juggler.errors import AdmissionError, JugglerError, ScenarioError
from juggler.scenario import (
    PhaseSpan,
    Scenario,
    VmConfig,
    builtin_scenario,
    builtin_scenario_text,
    load_scenario,
    parse_scenario,
    phase_spans,
)
from juggler.units import GIB, MIB
from tests.scenario_cases import BAD_PARAMS, GOOD, Bad, edit

EXAMPLE_SEED = Path(__file__).resolve().parents[1] / "examples" / "seed.toml"


def _write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _header(path: Path | str) -> str:
    return rf"^{re.escape(str(path))}: invalid scenario:\n"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("case", BAD_PARAMS)
def test_bad_scenario_names_file_field_and_problem(case: Bad, tmp_path: Path) -> None:
    path = _write(tmp_path, case.text)
    expected_type = AdmissionError if case.admission else ScenarioError
    with pytest.raises(expected_type, match=_header(path) + "  " + case.expected) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert len(info.value.problems) == 1, info.value.problems
    if not case.admission:
        assert not isinstance(info.value, AdmissionError)


def test_the_good_scenario_the_cases_edit_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, GOOD, "good.toml"))
    assert [vm.name for vm in scenario.vm] == ["A", "B"]


def test_every_problem_is_reported_at_once() -> None:
    text = edit('memory = "4GiB"\n', 'memory = "lots"\nswapp = 1\n')
    text = edit('name = "B"\nmemory = "1GiB"\n', 'name = "B"\nmemory = "12 parsecs"\n', text)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "many.toml")
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert any(p.startswith("host.memory: 'lots' is not a size") for p in problems)
    assert "host.swapp: unknown key" in problems
    assert any(p.startswith("vm[1] 'B'.memory: '12 parsecs' is not a size") for p in problems)
    assert str(info.value).count("\n") == 3


def test_every_phase_problem_is_reported_at_once() -> None:
    text = edit(
        '  working_set = "512MiB"\n',
        '  until = "1m"\n  working_set = "512MiB"\n'
        '  [[vm.workload]]\n  pattern = "idle"\n'
        '  [[vm.workload]]\n  pattern = "idle"\n',
    )
    text = edit('name = "A"\n', 'name = "B"\n', text)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "phases.toml")
    assert info.value.problems == [
        "vm[1] 'B'.name: duplicate VM name 'B' (vm[0] has it too); give each VM its own name",
        "vm[1] 'B'.workload[1].until: until=1m is not after the phase's start at 2m (phase "
        "times go backwards); make until later than 2m or use duration",
        "vm[1] 'B'.workload[2]: needs a duration or an until (only the last phase may have "
        "neither)",
    ]


def test_vm_name_that_is_not_a_string_is_not_shown_as_its_name() -> None:
    with pytest.raises(ScenarioError, match=r"\n  vm\[0\]\.name: Input should be a valid string"):
        parse_scenario(edit('name = "A"\n', "name = 5\n"), "bad.toml")


def test_scenario_errors_are_juggler_errors() -> None:
    assert issubclass(ScenarioError, JugglerError)
    assert issubclass(AdmissionError, ScenarioError)


def test_invalid_toml_gives_the_line_number(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "t"\n[host]\nmemory = = 1\n')
    with pytest.raises(ScenarioError, match=_header(path) + r"  not valid TOML: .*\(at line 3, "):
        load_scenario(path)


def test_missing_file_says_what_to_give_instead(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(
        ScenarioError,
        match=_header(path) + r"  no such file \(give the path of a scenario TOML file, or one "
        r"of the built-in scenarios: seed\)$",
    ):
        load_scenario(path)


def test_directory_is_not_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=_header(tmp_path) + r"  cannot read: Is a directory"):
        load_scenario(tmp_path)


def test_file_that_is_not_utf8_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(
        ScenarioError, match=_header(path) + r"  not UTF-8 text \(byte 11\); save the file as UTF-8"
    ):
        load_scenario(path)


def test_unknown_builtin_scenario() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^<built-in nosuch>: invalid scenario:\n  no built-in scenario 'nosuch'$",
    ):
        builtin_scenario_text("nosuch")


# ---------------------------------------------------------- admission control


def _admission_text(host_memory: str, overhead: str | None = None) -> str:
    text = edit('memory = "4GiB"\n', f'memory = "{host_memory}"\n')
    if overhead is not None:
        text = edit("[host]\n", f'[host]\nvm_overhead = "{overhead}"\n', text)
    return text


def test_admission_refuses_reservations_plus_overheads_above_host_memory() -> None:
    # B reserves 512 MiB; each of the two VMs costs 32 MiB of overhead by default
    text = _admission_text("575MiB")
    text = edit(
        'name = "A"\nmemory = "1GiB"\n',
        'name = "A"\nmemory = "1GiB"\nreservation = "10MiB"\n',
        text,
    )
    with pytest.raises(
        AdmissionError,
        match=r"^adm\.toml: invalid scenario:\n  admission control: reservations plus overheads "
        r"need 586 MiB but host\.memory is 575 MiB; reserved VMs: A \(10 MiB\), B \(512 MiB\); "
        r"lower a reservation or raise host\.memory$",
    ) as info:
        parse_scenario(text, "adm.toml")
    assert info.value.source == "adm.toml"


def test_admission_admits_an_exact_fit() -> None:
    scenario = parse_scenario(_admission_text("576MiB"), "fit.toml")
    total = sum(vm.reservation + scenario.host.vm_overhead for vm in scenario.vm)
    assert total == scenario.host.memory == 576 * MIB


def test_admission_counts_the_host_overhead_of_unreserved_vms() -> None:
    # 512 MiB reserved fits in 520 MiB only if the overheads are left out
    with pytest.raises(AdmissionError, match=r"need 576 MiB but host\.memory is 520 MiB"):
        parse_scenario(_admission_text("520MiB"), "adm.toml")
    assert parse_scenario(_admission_text("520MiB", overhead="0"), "adm.toml")


def test_admission_with_no_reserved_vms_says_so() -> None:
    text = edit('reservation = "512MiB"\n', "", _admission_text("32MiB"))
    with pytest.raises(AdmissionError, match=r"reserved VMs: none; lower a reservation"):
        parse_scenario(text, "adm.toml")


# -------------------------------------------------------------- the seed story


def test_builtin_seed_is_the_seed_story() -> None:
    seed = builtin_scenario()
    assert seed.name == "seed"
    assert seed.host.memory == 2 * GIB
    assert [vm.name for vm in seed.vm] == ["A", "B", "C", "D"]
    assert seed.overcommit_ratio == pytest.approx(2.0)


@pytest.mark.skipif(not EXAMPLE_SEED.exists(), reason="examples/seed.toml is not there")
def test_builtin_seed_equals_examples_seed() -> None:
    assert builtin_scenario("seed") == load_scenario(EXAMPLE_SEED)
    assert builtin_scenario_text("seed") == EXAMPLE_SEED.read_text(encoding="utf-8")


# ------------------------------------------------------------------- defaults


def test_defaults_are_applied() -> None:
    scenario = parse_scenario(GOOD, "good.toml")
    a, b = scenario.vm
    assert a.limit is None
    assert a.limit_bytes == a.memory == GIB
    assert a.reservation == 0
    assert a.shares == 1000
    assert a.balloon is True
    assert a.vcpus == 1
    assert a.file_bytes == a.memory
    assert b.reservation == 512 * MIB
    assert scenario.manager.policy == "juggler"
    assert scenario.host.vm_overhead == 32 * MIB
    assert scenario.run.duration == 600.0


def test_the_last_phase_lasts_to_the_end_of_the_run() -> None:
    scenario = parse_scenario(GOOD, "good.toml")
    a, b = scenario.vm
    assert [(s.start_s, s.end_s) for s in scenario.spans(a)] == [(0.0, 600.0)]
    assert [(s.start_s, s.end_s) for s in scenario.spans(b)] == [(0.0, 120.0), (120.0, 600.0)]
    assert scenario.spans(b)[1].phase.working_set == 512 * MIB


def test_a_short_last_phase_is_stretched_and_a_long_one_kept() -> None:
    short = edit('  working_set = "512MiB"\n', '  duration = "1m"\n  working_set = "512MiB"\n')
    scenario = parse_scenario(short, "short.toml")
    assert scenario.spans(scenario.vm[1])[-1].end_s == 600.0
    long = edit('  working_set = "512MiB"\n', '  until = "20m"\n  working_set = "512MiB"\n')
    scenario = parse_scenario(long, "long.toml")
    assert scenario.spans(scenario.vm[1])[-1] == PhaseSpan(
        120.0, 1200.0, scenario.vm[1].workload[-1]
    )


def test_a_vm_without_workload_idles_for_the_whole_run() -> None:
    text = edit('  [[vm.workload]]\n  working_set = "256MiB"\n\n', "\n")
    scenario = parse_scenario(text, "idle.toml")
    (span,) = scenario.spans(scenario.vm[0])
    assert (span.start_s, span.end_s) == (0.0, 600.0)
    assert span.phase.pattern == "idle"
    assert span.phase.busy == 0.0
    assert span.phase.releases is False


def test_phase_spans_raises_with_the_phase_path() -> None:
    vm = VmConfig.model_validate(
        {
            "name": "X",
            "memory": "1GiB",
            "workload": [
                {"until": "5m", "working_set": "1MiB"},
                {"until": "4m", "pattern": "idle"},
            ],
        }
    )
    with pytest.raises(
        ValueError, match=r"^workload\[1\]\.until: until=4m is not after the phase's start at 5m"
    ):
        phase_spans(vm, 600.0)


# ------------------------------------------------------------------ overrides


def test_with_overrides_applies_and_keeps_the_original() -> None:
    scenario = parse_scenario(GOOD, "good.toml")
    changed = scenario.with_overrides(policy="static", duration_s=30.0, seed=7)
    assert isinstance(changed, Scenario)
    assert (changed.manager.policy, changed.run.duration, changed.run.seed) == ("static", 30.0, 7)
    assert (scenario.manager.policy, scenario.run.duration, scenario.run.seed) == (
        "juggler",
        600.0,
        1,
    )
    assert changed.vm == scenario.vm
    assert [(s.start_s, s.end_s) for s in changed.spans(changed.vm[0])] == [(0.0, 30.0)]


def test_with_overrides_of_nothing_is_an_equal_scenario() -> None:
    scenario = parse_scenario(GOOD, "good.toml")
    assert scenario.with_overrides() == scenario


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"duration_s": 0.0}, r"run\.duration: 0\.0: Input should be greater than 0"),
        ({"seed": -1}, r"run\.seed: -1: Input should be greater than or equal to 0"),
        ({"policy": "nosuch"}, r"manager\.policy: unknown policy 'nosuch' \(choose one of: "),
    ],
)
def test_with_overrides_validates_again(overrides: dict, expected: str) -> None:
    scenario = parse_scenario(GOOD, "good.toml")
    with pytest.raises(ScenarioError, match=r"^<command line>: invalid scenario:\n  " + expected):
        scenario.with_overrides(**overrides)
    with pytest.raises(ScenarioError, match=r"^good\.toml with --x: invalid scenario:\n  "):
        scenario.with_overrides(**overrides, source="good.toml with --x")


def test_with_overrides_that_break_a_phase_are_reported() -> None:
    # a phase ending at 5m is fine in a 10m run, and in a 1m run (the last one stretches)
    text = edit('  duration = "2m"\n', '  until = "5m"\n')
    scenario = parse_scenario(text, "good.toml")
    assert scenario.with_overrides(duration_s=60.0).spans(scenario.vm[1])[-1].end_s == 300.0

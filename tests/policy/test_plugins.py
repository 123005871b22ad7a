"""A user's own policy plugs in by spec or entry point, through ``get_policy``.

The example policy ``examples/policies/halfway.py`` (docs/policies.md) is the plug-in;
``compare`` must load it in its worker processes too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from juggler.cli import app
from juggler.errors import PolicyError
from juggler.policy import POLICIES, get_policy, is_known_policy, plugins, policy_names
from juggler.policy.base import Policy
from juggler.scenario import ManagerConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
SPEC = "halfway:policy"


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's directory on sys.path and PYTHONPATH (for worker processes)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    src = Path(__file__).resolve().parents[2] / "src"
    monkeypatch.setenv("PYTHONPATH", f"{src}:{EXAMPLES}")


def test_a_spec_loads_the_policy_object_it_names(on_path: None) -> None:
    policy = get_policy(SPEC)
    assert isinstance(policy, Policy) and policy.name == "halfway"
    assert is_known_policy(SPEC) and SPEC not in POLICIES
    state = policy.new_state(np.random.default_rng(0), 5.0)
    assert policy.decide.__module__ == "halfway" and state.interval_s == 5.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module_xyz:policy",
            r"^policy 'no_such_module_xyz:policy': no module 'no_such_module_xyz' .*"
            r"it must be importable: installed, or on PYTHONPATH",
        ),
        ("halfway:nope", r"^policy 'halfway:nope': module 'halfway' has no attribute 'nope'$"),
        (
            "halfway:Params",
            r"^policy 'halfway:Params': halfway\.Params is a type, not a "
            r"juggler\.policy\.base\.Policy",
        ),
    ],
)
def test_a_bad_spec_is_a_clear_error_naming_it(on_path: None, spec: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        get_policy(spec)


def test_an_unknown_plain_name_still_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match=r"^unknown policy 'nosuch' \(choose one of: freemem, "):
        get_policy("nosuch")


def test_an_entry_point_names_a_policy_like_ours(
    on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "mypolicies-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypolicies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[juggler.policies]\nhalf = halfway:policy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins._entry_points.cache_clear()
    try:
        assert "half" in policy_names()
        assert get_policy("half").name == "halfway"
    finally:
        plugins._entry_points.cache_clear()


def test_a_scenario_may_name_a_plug_in_and_a_bad_one_is_refused(on_path: None) -> None:
    assert ManagerConfig(policy=SPEC).policy == SPEC
    with pytest.raises(ValidationError, match=r"policy 'halfway:nope': module .* no attribute"):
        ManagerConfig(policy="halfway:nope")


TINY = """\
name = "tiny"
[host]
memory = "192MiB"
swap = "256MiB"
vm_overhead = "8MiB"
[run]
duration = "20s"
seed = 3
accesses_per_tick = 2000
[[vm]]
name = "A"
memory = "96MiB"
guest_kernel = "8MiB"
guest_swap = "64MiB"
  [[vm.workload]]
  working_set = "64MiB"
[[vm]]
name = "B"
memory = "96MiB"
guest_kernel = "8MiB"
  [[vm.workload]]
  working_set = "24MiB"
"""


@pytest.mark.parametrize("where", [[], ["--dask", "local"]], ids=["processes", "dask"])
def test_compare_runs_the_example_beside_ours_in_worker_processes(
    on_path: None, tmp_path: Path, where: list[str]
) -> None:
    if where:
        pytest.importorskip("distributed")
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, "utf-8")
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(scenario),
            "--policies",
            f"juggler,{SPEC}",
            "--seeds",
            "1",
            "--jobs",
            "2",
            "--out-dir",
            str(tmp_path / "runs"),
            "--json",
            *where,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert {row["policy"] for row in rows} == {"juggler", SPEC}
    assert all(row["error"] is None for row in rows), rows
    halfway = next(row for row in rows if row["policy"] == SPEC)
    assert halfway["balloon_moved_bytes"] > 0, "the example policy did balloon"


def test_compare_refuses_a_spec_that_does_not_load_before_anything_runs(
    on_path: None, tmp_path: Path
) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, "utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        app, ["compare", str(scenario), "--policies", "juggler,halfway:nope", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "--policies: policy 'halfway:nope': module 'halfway' has no attribute" in result.stderr
    assert not out.exists() or not any(out.iterdir())

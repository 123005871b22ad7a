"""Host profiles: the shipped ones load, a written one reads back, bad ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from juggler.errors import ScenarioError
from juggler.profile import SHIPPED_PROFILES, dump_profile, load_profile
from juggler.scenario import load_scenario


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_every_shipped_profile_loads_and_reads_back_from_its_dump(
    name: str, tmp_path: Path
) -> None:
    profile = load_profile(name)
    assert profile.name == name
    written = tmp_path / f"{name}.toml"
    written.write_text(dump_profile(profile), "utf-8")
    assert load_profile(str(written)) == profile


@pytest.mark.parametrize("name", ["kvm", "tcg"])
def test_the_kvm_and_tcg_profiles_give_a_source_for_every_figure(name: str) -> None:
    profile = load_profile(name)
    for section in ("host", "balloon", "guest"):
        for field, value in getattr(profile, section).model_dump().items():
            if value is not None:
                assert f"{section}.{field}" in profile.sources, f"{name}: {section}.{field}"


def test_free_costs_nothing_and_picks_at_random() -> None:
    free = load_profile("free")
    assert free.host.reclaim == "random"
    costs = free.balloon
    assert (
        costs.inflate_cpu_free,
        costs.inflate_cpu_cache,
        costs.inflate_cpu_anon,
        costs.deflate_cpu,
    ) == (0, 0, 0, 0)
    assert free.boot_reserved_bytes(2**30) == 0


def test_boot_reserved_grows_with_guest_memory() -> None:
    kvm = load_profile("kvm")
    small, large = kvm.boot_reserved_bytes(2**28), kvm.boot_reserved_bytes(2**32)
    assert kvm.guest.boot_reserved <= small < large


def test_a_scenario_follows_its_profile_unless_it_says_otherwise(tmp_path: Path) -> None:
    base = '[host]\nmemory = "1GiB"\n{extra}\n[[vm]]\nname = "A"\nmemory = "512MiB"\n'
    path = tmp_path / "s.toml"
    path.write_text(base.format(extra=""), "utf-8")
    default = load_scenario(path).host
    assert default.profile == "kvm" and default.effective_reclaim == "lru"
    assert default.inflate_rate == load_profile("kvm").balloon.inflate_rate
    path.write_text(base.format(extra='profile = "free"\nballoon_rate = "1MiB/s"'), "utf-8")
    own = load_scenario(path).host
    assert own.effective_reclaim == "random"
    assert own.inflate_rate == own.deflate_rate == 2**20
    path.write_text(base.format(extra='profile = "tcg"\nreclaim = "random"'), "utf-8")
    assert load_scenario(path).host.effective_reclaim == "random"


def test_a_profile_file_is_found_by_its_path(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(dump_profile(load_profile("tcg")).replace('"tcg"', '"mine"', 1), "utf-8")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'[host]\nmemory = "1GiB"\nprofile = "{mine}"\n[[vm]]\nname = "A"\nmemory = "512MiB"\n',
        "utf-8",
    )
    assert load_scenario(scenario).host.host_profile().name == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", r"not valid TOML"),
        ('name = "x"\n', r"host: Field required"),
    ],
)
def test_a_bad_profile_file_names_the_problem(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ScenarioError, match=message):
        load_profile(str(path))


def test_a_bad_figure_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        dump_profile(load_profile("kvm")).replace("boot_touched = 0\n", "boot_touched = -3\n"),
        "utf-8",
    )
    with pytest.raises(ScenarioError, match=r"guest\.boot_touched: size -3 must not be negative"):
        load_profile(str(path))


def test_a_missing_profile_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"cannot read the profile"):
        load_profile(str(tmp_path / "gone.toml"))

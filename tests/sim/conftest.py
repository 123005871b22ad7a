"""Small scenarios whose numbers can be checked by hand."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from juggler.profile import DEFAULT_PROFILE, GuestFacts, dump_profile, load_profile
from juggler.scenario import Scenario, validate_scenario

_PROFILE_DIR = Path(tempfile.mkdtemp(prefix="juggler-tests-"))


def toy_profile(
    name: str,
    base: str = DEFAULT_PROFILE,
    boot_reserved_per_gib: int = 0,
    #: share of each guest's memory touched at boot (written as boot_touched_per_gib)
    boot_touched: float = 0.0,
    keeps_free: bool | None = None,
) -> str:
    """The path of a profile file: ``base`` with guests that reserve and touch what is
    given at boot (nothing by default), and the host's ``keeps_free`` if given.

    A 4 MiB guest cannot hold the 16 MiB a real kernel reserves at boot, and the
    hand-checked counts assume every frame beyond ``guest_kernel`` starts free and
    unbacked; everything else (balloon costs, reclaim order) is the base's.
    """
    profile = load_profile(base)
    host = profile.host
    if keeps_free is not None:
        host = host.model_copy(update={"keeps_free": keeps_free})
    guest = GuestFacts(
        boot_reserved=0,
        boot_reserved_per_gib=boot_reserved_per_gib,
        boot_touched=0,
        boot_touched_per_gib=round(boot_touched * 2**30),
    )
    toy = profile.model_copy(update={"name": name, "guest": guest, "host": host})
    path = _PROFILE_DIR / f"{name}.toml"
    path.write_text(dump_profile(toy), encoding="utf-8")
    return str(path)


#: tiny()'s host profile: the default's costs, nothing reserved or touched at boot
TOY_PROFILE = toy_profile("toy")


def tiny(vms: list[dict[str, Any]], **sections: Any) -> Scenario:
    """A scenario of tiny VMs (4 KiB pages) with anything overridden, on TOY_PROFILE
    unless ``host`` names another profile."""
    data: dict[str, Any] = {
        "name": "tiny",
        "host": {
            "memory": "64MiB",
            "swap": "16MiB",
            "vm_overhead": 0,
            "balloon_rate": "1GiB/s",
            "profile": TOY_PROFILE,
        },
        "run": {"duration": "60s", "accesses_per_tick": 4000, "seed": 3},
        "vm": vms,
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return validate_scenario(data, "<test>")


def vm(name: str = "v", **fields: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "memory": "4MiB",
        "guest_kernel": "256KiB",
        "guest_swap": "4MiB",
        "workload": [{"working_set": "1MiB", "pattern": "uniform", "rate": 4000}],
    }
    base.update(fields)
    return base


@pytest.fixture
def make_tiny():
    return tiny

"""Small scenarios whose numbers can be checked by hand."""

from __future__ import annotations

from typing import Any

import pytest

from juggler.scenario import Scenario, validate_scenario


def tiny(vms: list[dict[str, Any]], **sections: Any) -> Scenario:
    """A scenario of tiny VMs (4 KiB pages) with anything overridden."""
    data: dict[str, Any] = {
        "name": "tiny",
        "host": {"memory": "64MiB", "swap": "16MiB", "vm_overhead": 0, "balloon_rate": "1GiB/s"},
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

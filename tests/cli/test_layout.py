"""The CLI package's layering: every ``juggler.cli`` module imports on its own, the
command modules never import the app that registers them (no circle), and the
packages below the CLI (lab, backends, sim) import neither typer, rich, textual nor
the CLI, so the API and the lab run without a terminal front end."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import juggler
import juggler.cli
from tests.source_imports import imports, module_name

SRC = Path(juggler.__file__).parent
CLI_FREE_PACKAGES = ("lab", "backends", "sim")


def _cli_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(juggler.cli.__path__, "juggler.cli."))


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function-local and
    ``TYPE_CHECKING`` imports too)."""
    return imports(module_name(path), path, runtime_only=False)


def _front_end(name: str) -> bool:
    return name.split(".")[0] in ("typer", "rich", "textual") or name.startswith("juggler.cli")


def test_the_package_has_the_modules_the_layout_names() -> None:
    assert {name.removeprefix("juggler.cli.") for name in _cli_modules()} >= {
        "app",
        "inspect",
        "lab",
        "options",
        "output",
        "run",
        "simulate",
    }


@pytest.mark.parametrize("name", [name for name in _cli_modules() if not name.endswith("__main__")])
def test_every_cli_module_imports(name: str) -> None:
    assert importlib.import_module(name).__doc__


@pytest.mark.parametrize(
    "module",
    [name.split(".")[-1] for name in _cli_modules() if not name.endswith(("__main__", ".app"))],
)
def test_no_command_module_imports_the_app(module: str) -> None:
    imported = _imports(SRC / "cli" / f"{module}.py")
    assert not imported & {"juggler.cli", "juggler.cli.app", "juggler.cli.app.app"}


def test_the_import_walk_sees_typer_where_it_is() -> None:
    imported = _imports(SRC / "cli" / "app.py")
    assert "typer" in imported and "rich.logging.RichHandler" in imported
    assert any(_front_end(name) for name in imported)


@pytest.mark.parametrize("package", CLI_FREE_PACKAGES)
def test_no_typer_rich_or_cli_import_below_the_cli(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    offenders = {
        str(path.relative_to(SRC)): sorted(name for name in _imports(path) if _front_end(name))
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}

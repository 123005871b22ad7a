"""What juggler's modules import, read from the source with ``ast`` (nothing is
imported), for the tests of the package's layout."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "juggler"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST, runtime_only: bool) -> Iterator[ast.AST]:
    """Every node, less what sits under ``if TYPE_CHECKING:`` (never imported at run
    time) when ``runtime_only``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports(
    name: str, path: Path, modules: set[str] | None = None, *, runtime_only: bool = True
) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved).

    ``from pkg import sub`` names ``pkg.sub`` alone when that is one of ``modules``,
    as ``import pkg.sub`` would: parent packages are not counted as imported (every
    import of a submodule runs its package's ``__init__``; that is no circle of ours).

    :param runtime_only: leave out what ``if TYPE_CHECKING:`` imports (a cycle
        through it never runs); False counts every import written.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(ast.parse(path.read_text(encoding="utf-8")), runtime_only):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            named = {f"{module}.{alias.name}" for alias in node.names}
            submodules = named & modules if modules is not None else set()
            found.update(submodules if submodules == named else {module, *named})
    return found

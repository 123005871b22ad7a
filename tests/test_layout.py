"""The package's layout rules, checked on the source: who may import whom.

- no import cycle among ``juggler`` modules (any import, also one inside a function:
  a lazy import that closes a circle is still a circle a reader must untangle);
- only ``metrics/store.py`` opens run files (``sqlite3``);
- production code does not import the lab: ``juggler.lab`` is imported only under
  ``lab/`` and ``cli/``.

That no terminal front end sits under ``lab/``, ``backends/``, ``sim/`` is
``tests/cli/test_layout.py``'s to check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "juggler"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_runtime(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, less what sits under ``if TYPE_CHECKING:`` (never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(name: str, path: Path, modules: set[str] | None = None) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved).

    ``from pkg import sub`` names ``pkg.sub`` alone when that is one of ``modules``,
    as ``import pkg.sub`` would: parent packages are not counted as imported (every
    import of a submodule runs its package's ``__init__``; that is no circle of ours).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk_runtime(ast.parse(path.read_text(encoding="utf-8"))):
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


def _graph() -> dict[str, set[str]]:
    """Module -> the juggler modules it imports."""
    sources = _sources()
    modules = set(sources)
    return {
        name: {
            other for other in _imports(name, path, modules) if other in modules and other != name
        }
        for name, path in sources.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _importers(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> what it imports that starts with one of ``prefixes``."""
    sources = _sources()
    hits = {}
    for name, path in sources.items():
        matched = {
            other
            for other in _imports(name, path)
            if any(other == p or other.startswith(p + ".") for p in prefixes)
        }
        if matched:
            hits[name] = matched
    return hits


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_juggler_modules() -> None:
    assert _cycles(_graph()) == []


def test_only_the_store_opens_run_files() -> None:
    users = sorted(_importers(("sqlite3",)))
    assert users == ["juggler.metrics.store"]


def test_production_code_does_not_import_the_lab() -> None:
    leaks = {
        name: sorted(imported)
        for name, imported in _importers(("juggler.lab",)).items()
        if not _under(name, "juggler.lab", "juggler.cli")
    }
    assert leaks == {}

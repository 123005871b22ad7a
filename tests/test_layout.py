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

from tests.source_imports import imports, source_files


def _graph() -> dict[str, set[str]]:
    """Module -> the juggler modules it imports."""
    sources = source_files()
    modules = set(sources)
    return {
        name: {
            other for other in imports(name, path, modules) if other in modules and other != name
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
    sources = source_files()
    hits = {}
    for name, path in sources.items():
        matched = {
            other
            for other in imports(name, path)
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

"""The shape of the source tree: no import cycle among app's modules, no module over
600 lines, and no module reaching for another module's private names.

The import graph comes from grimp (what import-linter builds on): it reads every import
statement of every module, those inside functions and under ``TYPE_CHECKING`` included:
a cycle closed by a lazy import, or by an import made only for a type hint, still makes
the modules one tangle that cannot be understood, tested or moved apart.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

import app

APP = Path(app.__file__).resolve().parent
MAX_LINES = 600


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    assert Path(__file__).resolve().parents[1] / "app" == APP, "app is not this source tree"
    return grimp.build_graph("app", cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of the import graph with more than one module
    (Tarjan). A module importing itself is no cycle between modules: it is how an entry
    point run with ``-m`` re-imports itself under its real name for spawned workers."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def _one_cycle(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component``, as module names."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & members):
            if imported == start and module != start:
                return [*paths[module], start]
            if imported not in paths:
                paths[imported] = [*paths[module], imported]
                queue.append(imported)
    raise AssertionError(f"no cycle through {start} in {component}")


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """``a (line 3: from b import x) -> b (line 9: import a) -> a``."""
    steps = []
    for importer, imported in itertools.pairwise(cycle):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = f"line {details[0]['line_number']}: {details[0]['line_contents']}"
        steps.append(f"{importer} ({where})")
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycle_among_the_modules(graph: grimp.ImportGraph) -> None:
    cycles = [_describe(graph, _one_cycle(graph, c)) for c in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _sources() -> Iterator[tuple[str, Path]]:
    """Every module of app, with its dotted name."""
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def test_no_module_is_over_600_lines() -> None:
    counts = {path: len(path.read_text().splitlines()) for _, path in _sources()}
    long = [
        f"{path.relative_to(APP.parent)}: {count} lines"
        for path, count in counts.items()
        if count > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imported_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of what ``from ... import`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _private_uses(module: str, source: str, modules: set[str]) -> Iterator[str]:
    """Where ``module`` (its ``source``) imports or reads a private name of another of
    ``modules``: ``from m import _name``, or ``m._name`` with ``m`` bound to a module."""
    tree = ast.parse(source)
    is_package = any(m.startswith(f"{module}.") for m in modules)
    package = module if is_package else module.rpartition(".")[0]
    bound: dict[str, str] = {}  # a name in this module -> the app module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _imported_module(node, package)
            if origin.partition(".")[0] != "app":
                continue
            for alias in node.names:
                if f"{origin}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{origin}.{alias.name}"
                if _is_private(alias.name) and origin != module:
                    yield f"line {node.lineno}: from {origin} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] == "app":
                    bound[alias.asname or "app"] = alias.name if alias.asname else "app"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        dotted = _dotted(node.value)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        if head not in bound:
            continue
        target = ".".join(filter(None, [bound[head], rest]))
        if target in modules and target != module:
            yield f"line {node.lineno}: {dotted}.{node.attr}"


def test_no_module_uses_another_modules_private_names() -> None:
    sources = dict(_sources())
    modules = set(sources)
    uses = [
        f"{path.relative_to(APP.parent)}, {use}"
        for name, path in sources.items()
        for use in _private_uses(name, path.read_text(), modules)
    ]
    assert not uses, "private names used outside their module:\n" + "\n".join(uses)


# -- the checks themselves, on made-up modules: they must see what they are for --------------


def test_a_cycle_closed_by_an_import_inside_a_function_is_found() -> None:
    graph = grimp.ImportGraph()
    for name in ("app", "app.a", "app.b", "app.c", "app.main"):
        graph.add_module(name)
    graph.add_import(importer="app.a", imported="app.b", line_number=3, line_contents="import b")
    graph.add_import(importer="app.b", imported="app.c", line_number=5, line_contents="import c")
    graph.add_import(
        importer="app.c", imported="app.a", line_number=9, line_contents="    from app import a"
    )
    graph.add_import(importer="app.main", imported="app.main", line_number=1, line_contents="")
    [component] = _cycles(graph)
    assert component == ["app.a", "app.b", "app.c"]
    assert _one_cycle(graph, component) == ["app.a", "app.b", "app.c", "app.a"]
    assert "app.c (line 9:     from app import a) -> app.a" in _describe(
        graph, _one_cycle(graph, component)
    )


def test_private_names_of_other_modules_are_found_however_they_are_reached() -> None:
    modules = {"app", "app.core", "app.core.engine", "app.core.facade", "app.gui"}
    source = """
from app.core.engine import _KILL, Engine
from .engine import _relative
from app.core import engine
import app.core.engine
import app.core.engine as eng

def f():
    engine._lazy = 1
    return app.core.engine._dotted, eng._aliased, engine.public, Engine._class_attribute
"""
    uses = list(_private_uses("app.core.facade", source, modules))
    assert uses == [
        "line 2: from app.core.engine import _KILL",
        "line 3: from app.core.engine import _relative",
        "line 9: engine._lazy",
        "line 10: app.core.engine._dotted",
        "line 10: eng._aliased",
    ]
    assert not list(_private_uses("app.core.engine", "import app.core.engine\n", modules))
    own = "from app.core import _own\n"
    assert list(_private_uses("app.core", own, modules)) == []
    assert list(_private_uses("app.core.facade", "from app.gui import __all__\n", modules)) == []

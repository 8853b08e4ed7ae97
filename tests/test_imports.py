"""The import graph of ``ntm``, ``curricula`` and ``search``, read from the source (``ast``,
nothing imported): no cycle between modules or between packages, and the edge rule of
README's "Architecture" section (``ntm`` and ``curricula`` import no ray, optuna or mlflow).
With ``benchmarks`` and ``tests`` read too: the tests own their machinery (STYLE.md 16,
``tests/harness``), so neither the library nor the benchmarks import ``tests``, and neither
the library nor the tests import ``benchmarks``.

Every import counts, wherever it stands (top level, inside a function, under
``TYPE_CHECKING``): a cycle of types is a cycle of meaning too. A package node is a
subpackage directory (``search.launch``, ``ntm.tasks``) with everything under it; a module
directly in a top-level package (``ntm/metrics.py``, ``search/run.py``) is a node of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ntm", "curricula", "search")
EVERYTHING = (*PACKAGES, "benchmarks", "tests")  # every tree of Python source in the checkout
EDGE_LIBRARIES = ("ray", "optuna", "mlflow")  # only search/ may import these


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(tops: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    return {_module_name(path): path for top in tops for path in sorted((ROOT / top).rglob("*.py"))}


def _imported(
    tree: ast.Module, name: str, is_package: bool, modules: Container[str]
) -> Iterator[str]:
    """Every absolute name an import in ``tree`` names: ``from a import b`` names ``a.b`` when
    that is a module, else ``a`` (the package a submodule is taken from is not counted)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                package = name.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules else base


def _graph(
    tops: tuple[str, ...] = PACKAGES,
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> modules under ``tops`` it imports; module -> top-level outside names it
    imports (every module under ``tops``)."""
    modules = _modules(tops)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    outside: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for target in _imported(tree, name, path.name == "__init__.py", modules):
            if target in modules and target != name:
                edges[name].add(target)
            elif target.split(".")[0] not in tops:
                outside[name].add(target.split(".")[0])
    return edges, outside


def _package(module: str) -> str:
    """The node of ``module`` at package level (see the module docstring)."""
    parts = module.split(".")
    is_subpackage_dir = len(parts) >= 2 and (ROOT / parts[0] / parts[1]).is_dir()
    return ".".join(parts[:2]) if is_subpackage_dir else module


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    # the graph sees the imports it is meant to check (a parser that finds nothing passes all)
    edges, outside = _graph()
    assert "ntm.tasks" in edges["ntm.trainer"] or "ntm.tasks.base" in edges["ntm.trainer"]
    assert "search.trial.ranking" in edges["search.launch.results"]
    assert "ray" in outside["search.launch.tuner"]
    everything, _ = _graph(EVERYTHING)
    assert "tests.harness.local_cluster" in everything["tests.search.test_multinode"]
    assert "search.space.load" in everything["benchmarks.tasks"]


def test_no_module_cycle() -> None:
    # rule: imports between modules point one way (no module reaches itself again)
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_package_cycle() -> None:
    # rule: imports between packages point one way (README, "Architecture")
    edges, _ = _graph()
    packages: dict[str, set[str]] = {}
    for module, targets in edges.items():
        node = _package(module)
        packages.setdefault(node, set()).update(_package(t) for t in targets)
        packages[node].discard(node)
    assert _cycles(packages) == []


def test_ntm_and_curricula_import_no_search_libraries() -> None:
    # rule: ntm/ and curricula/ import no ray, optuna or mlflow, and nothing of search/
    edges, outside = _graph()
    for module in edges:
        if module.split(".")[0] == "search":
            continue
        assert not outside[module] & set(EDGE_LIBRARIES), (module, outside[module])
        assert all(not t.startswith("search") for t in edges[module]), (module, edges[module])


def test_curricula_import_no_torch() -> None:
    # rule: curricula are pure Python (STYLE.md 7): no torch, and nothing of ntm/ or search/
    edges, outside = _graph()
    for module in (m for m in edges if m.split(".")[0] == "curricula"):
        assert "torch" not in outside[module], module
        assert all(t.split(".")[0] == "curricula" for t in edges[module]), (module, edges[module])


def _imports_of(
    top: str, edges: Mapping[str, set[str]], outside: Mapping[str, set[str]]
) -> Iterator[tuple[str, str]]:
    """(module, top-level name) for every import of every module under ``top``."""
    for module in (m for m in edges if m.split(".")[0] == top):
        for target in edges[module] | outside[module]:
            yield module, target.split(".")[0]


@pytest.mark.parametrize("top", [*PACKAGES, "benchmarks"])
def test_the_library_and_the_benchmarks_import_no_tests(top: str) -> None:
    # rule (STYLE.md 16): test machinery lives under tests/ (tests/harness): nothing of the
    # library or the benchmarks imports it
    edges, outside = _graph(EVERYTHING)
    assert [(m, t) for m, t in _imports_of(top, edges, outside) if t == "tests"] == []


@pytest.mark.parametrize("top", [*PACKAGES, "tests"])
def test_the_library_and_the_tests_import_no_benchmarks(top: str) -> None:
    # rule: benchmarks are measurements run from the command line: the library does not import
    # them, and the tests depend on none (what both need lives in the library or tests/harness)
    edges, outside = _graph(EVERYTHING)
    assert [(m, t) for m, t in _imports_of(top, edges, outside) if t == "benchmarks"] == []


def test_no_module_cycle_in_the_benchmarks_and_tests() -> None:
    # rule: imports point one way in the benchmarks and the tests' harness too
    edges, _ = _graph(EVERYTHING)
    assert _cycles(edges) == []

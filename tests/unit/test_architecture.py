"""The import graph of `qwill/` says the architecture (ARCHITECTURE.md): every import
points down a layer, nothing imports in a cycle, and logic never sees a protocol type.

Read from the source with `ast` (imports under `if TYPE_CHECKING:` are annotations,
not dependencies, and are left out); a module added at the top level of `qwill/` must
be given its layer here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "qwill"

# Lower numbers are lower layers. A package may import only from layers below its own
# (engine/ and context/ share the bottom and so never import each other).
LAYERS: dict[str, int] = {
    # shared leaves: the version, the settings schema, log redaction, the local state directory
    "qwill": 0, "config": 0, "log_redaction": 0, "local_state": 0,
    "engine": 1, "context": 1,
    "completion": 2, "actions": 2, "agent": 2, "nextedit": 2,
    "session": 3,
    # surfaces, and the tools beside them
    "lsp": 4, "acp": 4, "doctor": 4, "schema": 4, "examples": 4,
    # the demo and `qwill eval`: LSP clients of `qwill serve`
    "demo": 5, "evaluation": 5,
    "cli": 6,
    "__main__": 7,
}
# Packages that hold logic: no protocol library (lsp/ and acp/ translate to our types).
LOGIC = ("engine", "context", "completion", "actions", "agent", "nextedit", "session", "config")
PROTOCOL_LIBRARIES = ("pygls", "lsprotocol", "acp")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything `module` imports (at any depth, TYPE_CHECKING aside)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import x` and `from .pkg import mod` may name modules
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@cache
def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> qwill modules it imports, module -> third-party top-level names).

    A module's own ancestor packages are not counted: Python loads them before it in
    any case, and a package's __init__ importing its modules is not a cycle."""
    sources = {_module_name(p): p for p in ROOT.rglob("*.py")}
    internal: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    for module, path in sources.items():
        for name in _imports(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            if name == "qwill" or name.startswith("qwill."):
                if name in sources and name != module and not module.startswith(name + "."):
                    internal[module].add(name)
            else:
                external[module].add(name.split(".")[0])
    for module in sources:
        internal.setdefault(module, set())
    return internal, external


def _layer_key(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "qwill"


def test_every_top_level_module_has_a_layer() -> None:
    internal, _ = _graph()
    unplaced = sorted({_layer_key(m) for m in internal} - set(LAYERS))
    assert not unplaced, f"give these a layer in {__name__}.LAYERS (and in ARCHITECTURE.md): {unplaced}"


def test_imports_only_point_down_the_layers() -> None:
    internal, _ = _graph()
    upward = []
    for module, targets in internal.items():
        here = _layer_key(module)
        for target in targets:
            there = _layer_key(target)
            if there != here and LAYERS.get(there, 99) >= LAYERS.get(here, -1):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that do not point down a layer:\n" + "\n".join(sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_no_import_cycles_between_modules() -> None:
    internal, _ = _graph()
    assert not _cycles(internal), f"modules that import each other: {_cycles(internal)}"


def test_no_import_cycles_between_packages() -> None:
    internal, _ = _graph()
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in internal.items():
        packages[_layer_key(module)].update(_layer_key(t) for t in targets if _layer_key(t) != _layer_key(module))
    assert not _cycles(packages), f"packages that import each other: {_cycles(packages)}"


@pytest.mark.parametrize("package", LOGIC)
def test_logic_never_imports_a_protocol_library(package: str) -> None:
    _, external = _graph()
    offenders = sorted(f"{m} imports {lib}" for m, libs in external.items()
                       if _layer_key(m) == package for lib in libs & set(PROTOCOL_LIBRARIES))
    assert not offenders, offenders


def test_the_checks_see_a_violation() -> None:
    assert _cycles({"context": {"completion"}, "completion": {"context"}, "engine": set()}) == [
        ["completion", "context"]]
    # the reader on a module that imports upward and a protocol type
    tree = ast.parse("from ..session import Session\nfrom lsprotocol import types\n"
                     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..lsp import server\n")
    found = _imports(tree, "qwill.engine.base", False)
    assert "qwill.session" in found and "lsprotocol" in found
    assert not any(name.startswith("qwill.lsp") for name in found)

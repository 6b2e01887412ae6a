"""Imports a Python file the model wrote uses and never made.

Small models write `pytest.raises(...)` in a test, or `json.dumps(...)` in a module, and leave
out the import; the run then spends its steps on a NameError the model often cannot place (it
says "add `import pytest`" in prose, or edits the wrong file). When a file the agent writes
uses a name as a module (`name.attr`) that nothing in the file binds, and that name is a
module the project can import (the standard library, a module another file of the workspace
imports, pytest in a project tested with pytest), the import is added, as an editor's
auto-import would, and the tool's answer says so. The file would fail with a NameError
without it; nothing that runs today changes meaning.
"""

from __future__ import annotations

import ast
import builtins
import symtable
import sys
from collections.abc import Callable, Iterable

_BUILTINS = frozenset(dir(builtins))


def _bound_at_module(top: symtable.SymbolTable, tables: Iterable[symtable.SymbolTable]) -> set[str]:
    bound = {s.get_name() for s in top.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace() or s.is_parameter()}
    for t in tables:  # `global x` then `x = ...` in a function binds x at module level
        bound |= {s.get_name() for s in t.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return bound


def _tables(t: symtable.SymbolTable) -> Iterable[symtable.SymbolTable]:
    yield t
    for child in t.get_children():
        yield from _tables(child)


def missing_modules(text: str, importable: Callable[[str], bool], path: str = "<file>") -> list[str]:
    """Names `text` uses as modules (`name.attr`) that nothing in it binds and `importable`
    accepts, in the order they first appear; [] when it does not parse or has a star import."""
    try:
        tree = ast.parse(text)
        top = symtable.symtable(text, path, "exec")
    except (SyntaxError, ValueError):
        return []
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)):
        return []  # the star brings names nobody can list
    tables = list(_tables(top))
    bound = _bound_at_module(top, tables)
    free: set[str] = set()
    for t in tables:
        for s in t.get_symbols():
            if s.is_referenced() and (t is top or s.is_global()) and not s.is_assigned():
                free.add(s.get_name())
    uses = sorted((node.lineno, node.col_offset, node.value.id) for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name))
    out: list[str] = []
    for _, _, name in uses:
        if name in free and name not in bound and name not in _BUILTINS and name not in out and importable(name):
            out.append(name)
    return out


def add_imports(text: str, names: list[str]) -> str:
    """`text` with `import name` for each of `names`, where imports go: before the first
    import (after the docstring and `from __future__` lines), else after the docstring."""
    if not names:
        return text
    tree = ast.parse(text)
    body = tree.body
    at = 0  # the statement the imports go before
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        at = 1
    while at < len(body) and isinstance(body[at], ast.ImportFrom) and body[at].module == "__future__":  # type: ignore[attr-defined]
        at += 1
    lines = text.splitlines(keepends=True)
    block = "".join(f"import {n}\n" for n in names)
    if at < len(body) and isinstance(body[at], (ast.Import, ast.ImportFrom)):
        line = body[at].lineno - 1
        return "".join(lines[:line]) + block + "".join(lines[line:])
    line = (body[at - 1].end_lineno or 0) if at > 0 else 0  # after the docstring / __future__ lines
    if at == 0:  # after a header of comments (shebang, licence, encoding)
        while line < len(lines) and lines[line].startswith("#"):
            line += 1
    head, rest = "".join(lines[:line]), "".join(lines[line:])
    if head and not head.endswith("\n"):
        head += "\n"
    sep = "\n" if head else ""
    # PEP 8: two blank lines before a function or class, one before other code
    nxt = body[at] if at < len(body) else None
    gap = "\n\n" if isinstance(nxt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else "\n"
    return head + sep + block + (gap if rest.strip() and not rest.startswith("\n") else "") + rest


def imported_modules(texts: Iterable[str]) -> set[str]:
    """The top-level modules `import` statements in `texts` name (the workspace's own habits)."""
    found: set[str] = set()
    for text in texts:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def stdlib_or(extra: set[str]) -> Callable[[str], bool]:
    """Importable: a module of the standard library, or one of `extra`."""
    std = sys.stdlib_module_names
    return lambda name: (name in std and not name.startswith("_")) or name in extra

"""The imports of a Python module that moves, rewritten as an editor's "move module" does.

When `rename_file` moves `pkg/strings.py` to `pkg/text.py` (or `pkg/strings/` to another
package's folder), every other Python file of the workspace that imports it would break. Each
reference is rewritten to the new module:

- the dotted name, as a whole dotted word in any text file (`import pkg.strings`,
  `from pkg.strings import x`, `pkg.strings.x`, `python -m pkg.strings` in a README);
- relative imports that resolve to it (`from .strings import x`, `from ..pkg.strings import x`),
  kept relative when the new module is in the same package, absolute otherwise;
- `from pkg import strings` becomes `from pkg import text as strings` (or `from other import
  text as strings` when the package changed), so the code below it keeps working unchanged.

Plain functions over plain data: the moved paths and the workspace's texts; callers stage the
result as one change.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import PurePosixPath


def module_name(path: str) -> str | None:
    """The dotted module a Python file (or package folder) is imported as from the workspace
    root; None when it is not one (not .py, or a part that is not an identifier)."""
    p = PurePosixPath(path)
    if p.suffix == ".py":
        parts = list(p.parent.parts) if p.stem == "__init__" else [*p.parent.parts, p.stem]
    elif not p.suffix:
        parts = list(p.parts)
    else:
        return None
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _package_of(path: str) -> list[str]:
    """The package a file's relative imports start from (its folder)."""
    return list(PurePosixPath(path).parent.parts)


def _resolve(path: str, level: int, module: str | None) -> str | None:
    base = _package_of(path)
    if level - 1 > len(base):
        return None
    base = base[:len(base) - (level - 1)]
    parts = base + (module.split(".") if module else [])
    return ".".join(parts) if parts else None


def _relative(path: str, target: str) -> str | None:
    """`target` written relative to the package of `path` when it is inside that package
    (`.text`, `.sub.text`), else None."""
    base = ".".join(_package_of(path))
    if base and target.startswith(base + "."):
        return "." + target[len(base) + 1:]
    return None


def _replace_line_span(lines: list[str], node: ast.ImportFrom, text: str) -> None:
    """Replace the source of the import statement `node` (one or more lines) with `text`."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    head = lines[first][:node.col_offset]
    tail = lines[last][node.end_col_offset or len(lines[last]):]
    lines[first:last + 1] = [head + text + tail]


def _apply(text: str, edits: list[tuple[ast.ImportFrom, str]]) -> str:
    """`text` with each import statement of `edits` replaced by its new source."""
    lines = text.splitlines(keepends=True)
    for node, source in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        _replace_line_span(lines, node, source)
    return "".join(lines)


def _names(node: ast.ImportFrom, rename: dict[str, str]) -> str:
    out = []
    for a in node.names:
        if a.name in rename:
            out.append(f"{rename[a.name]} as {a.asname or a.name}")
        else:
            out.append(f"{a.name} as {a.asname}" if a.asname else a.name)
    return ", ".join(out)


def rewrite_python(path: str, text: str, old: str, new: str) -> str:
    """The Python file `path` with its imports of module `old` (and its submodules) made
    imports of `new`; `text` unchanged when it has none or does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    old_parent, _, old_leaf = old.rpartition(".")
    new_parent, _, new_leaf = new.rpartition(".")
    edits: list[tuple[ast.ImportFrom, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _resolve(path, node.level, node.module) if node.level else node.module
        if target is None:
            continue
        if target == old or target.startswith(old + "."):
            moved = new + target[len(old):]
            module = _relative(path, moved) if node.level else moved
            edits.append((node, f"from {module or moved} import {_names(node, {})}"))
        elif target == old_parent and any(a.name == old_leaf for a in node.names):
            if new_parent == old_parent:
                edits.append((node, f"from {'.' * node.level + (node.module or '') if node.level else target} "
                                    f"import {_names(node, {old_leaf: new_leaf})}"))
            else:
                keep = [a for a in node.names if a.name != old_leaf]
                moved_alias = next(a for a in node.names if a.name == old_leaf)
                parts = []
                if keep:
                    rest = ast.ImportFrom(module=node.module, names=keep, level=node.level)
                    parts.append(f"from {'.' * node.level}{node.module or ''} import {_names(rest, {})}")
                parts.append(f"from {new_parent} import {new_leaf} as {moved_alias.asname or old_leaf}"
                             if new_parent else f"import {new_leaf} as {moved_alias.asname or old_leaf}")
                edits.append((node, "; ".join(parts)))
    return _apply(text, edits) if edits else text


def dotted(old: str, new: str, text: str) -> str:
    """`text` with the dotted module name `old` (as a whole dotted word) written `new`."""
    if "." not in old:  # a top-level module's bare name is a word like any other: imports only
        return text
    rx = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w])")
    return rx.sub(new, text)


def moved_references(old_path: str, new_path: str,
                     files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """For a module moved from `old_path` to `new_path`: {path: new text} of the files in
    `files` ((path, text) pairs, the moved one excluded by the caller) whose references to it
    change. {} when either path is not an importable module."""
    old, new = module_name(old_path), module_name(new_path)
    if old is None or new is None or old == new:
        return {}
    out: dict[str, str] = {}
    for path, text in files:
        updated = rewrite_python(path, text, old, new) if path.endswith(".py") else text
        updated = dotted(old, new, updated)
        if "." not in old and path.endswith(".py"):
            updated = _top_level_imports(updated, old, new)
        if updated != text:
            out[path] = updated
    return out


def absolute_imports(old_path: str, text: str) -> str:
    """The moved file's own relative imports written absolute, as resolved from where it was
    (`from .util import x` in pkg/strings.py: `from pkg.util import x`): moved into another
    package they would resolve elsewhere. `text` unchanged when it has none or does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    edits = [(n, f"from {target} import {_names(n, {})}") for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.level
             and (target := _resolve(old_path, n.level, n.module)) is not None]
    return _apply(text, edits) if edits else text


def _top_level_imports(text: str, old: str, new: str) -> str:
    """`import old` / `import old as x` of a top-level module: `import new as old` keeps the
    code below it working; `from old import x` is handled by rewrite_python."""
    return re.sub(rf"^(\s*)import {re.escape(old)}\s*$", rf"\1import {new} as {old}", text, flags=re.M)

"""The old name of a renamed Python function or class, kept as a deprecated alias.

"Rename it, but keep the old name working with a DeprecationWarning" is how a library renames
public API without breaking its users (IDEs offer it as "keep the original as a deprecated
delegate"). After `rename_symbol` has renamed `old` to `new` everywhere, the module that defines
`new` gets, right after that definition, an `old` that warns (`DeprecationWarning`, pointing
at the caller: `stacklevel=2`) and then does what `new` does:

- a function: `def old(*args, **kwargs)` returning `new(*args, **kwargs)` (`async def` with
  `await` for a coroutine function), so every signature keeps working;
- a class: `class old(new)` whose `__init__` warns and calls the parent's, so instances and
  `isinstance(x, new)` keep working.

Only a top-level definition can get one: a method, a variable or a name defined twice gets a
clear error instead, and nothing is changed.
"""

from __future__ import annotations

import ast

from .imports import add_imports


class AliasError(ValueError):
    """The alias cannot be written (said in words the model can act on)."""


def _definition(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef:
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             and n.name == name]
    if not found:
        raise AliasError(f"no top-level function or class {name} is defined there; a deprecated alias "
                         "can be kept for those only")
    if len(found) > 1:
        raise AliasError(f"{name} is defined {len(found)} times at the top level; keep one first")
    return found[0]


def _alias_source(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, old: str, indent: str) -> str:
    new = node.name
    warn = f'{indent}    warnings.warn("{old} is deprecated; use {new}", DeprecationWarning, stacklevel=2)\n'
    doc = f'{indent}    """Deprecated: use {new}."""\n'
    if isinstance(node, ast.ClassDef):
        return (f"{indent}class {old}({new}):\n{doc}\n"
                f"{indent}    def __init__(self, *args, **kwargs):\n"
                f'    {warn}'
                f"{indent}        super().__init__(*args, **kwargs)\n")
    if isinstance(node, ast.AsyncFunctionDef):
        return (f"{indent}async def {old}(*args, **kwargs):\n{doc}{warn}"
                f"{indent}    return await {new}(*args, **kwargs)\n")
    return f"{indent}def {old}(*args, **kwargs):\n{doc}{warn}{indent}    return {new}(*args, **kwargs)\n"


def with_deprecated_alias(text: str, old: str, new: str) -> str:
    """`text` (a module that defines `new` at the top level and no longer defines `old`) with
    `old` as a deprecated alias right after `new`'s definition, and `import warnings` when the
    module lacks it. AliasError when that cannot be done."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise AliasError(f"the file does not parse (line {exc.lineno}): {exc.msg}") from None
    node = _definition(tree, new)
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == old
           for n in tree.body):
        raise AliasError(f"{old} is still defined there")
    lines = text.splitlines(keepends=True)
    end = node.end_lineno or node.lineno
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    alias = _alias_source(node, old, "")
    lines[end:end] = ["\n", "\n", alias]
    out = "".join(lines)
    # two blank lines after the alias when code follows it, as around any top-level def
    rest = "".join(lines[end + 3:])
    if rest.strip():
        out = "".join(lines[:end + 3]) + "\n\n" + rest.lstrip("\n")
    if not _imports_warnings(tree):
        out = add_imports(out, ["warnings"])
    return out


def _imports_warnings(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.Import) and any(a.name == "warnings" and a.asname is None for a in n.names)
               for n in tree.body)

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

from .imports import add_imports, missing_modules


class AliasError(ValueError):
    """The alias cannot be written (said in words the model can act on)."""


DEFINITION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def top_level_definitions(tree: ast.Module, name: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """The functions and classes named `name` at the top level of `tree`."""
    return [n for n in tree.body if isinstance(n, DEFINITION_NODES) and n.name == name]


def _definition(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef:
    found = top_level_definitions(tree, name)
    if not found:
        raise AliasError(f"no top-level function or class {name} is defined there; a deprecated alias "
                         "can be kept for those only")
    if len(found) > 1:
        raise AliasError(f"{name} is defined {len(found)} times at the top level; keep one first")
    return found[0]


def _alias_source(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, old: str) -> str:
    new = node.name
    warn = f'    warnings.warn("{old} is deprecated; use {new}", DeprecationWarning, stacklevel=2)\n'
    doc = f'    """Deprecated: use {new}."""\n'
    if isinstance(node, ast.ClassDef):
        return (f"class {old}({new}):\n{doc}\n"
                "    def __init__(self, *args, **kwargs):\n"
                f"    {warn}"
                "        super().__init__(*args, **kwargs)\n")
    if isinstance(node, ast.AsyncFunctionDef):
        return f"async def {old}(*args, **kwargs):\n{doc}{warn}    return await {new}(*args, **kwargs)\n"
    return f"def {old}(*args, **kwargs):\n{doc}{warn}    return {new}(*args, **kwargs)\n"


def with_deprecated_alias(text: str, old: str, new: str) -> str:
    """`text` (a module that defines `new` at the top level and no longer defines `old`) with
    `old` as a deprecated alias right after `new`'s definition, and `import warnings` when the
    module lacks it. AliasError when that cannot be done."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise AliasError(f"the file does not parse (line {exc.lineno}): {exc.msg}") from None
    node = _definition(tree, new)
    if top_level_definitions(tree, old):
        raise AliasError(f"{old} is still defined there")
    lines = text.splitlines(keepends=True)
    end = node.end_lineno or node.lineno
    head, rest = "".join(lines[:end]), "".join(lines[end:])
    if not head.endswith("\n"):
        head += "\n"
    # two blank lines around the alias, as around any top-level def (after it: when code follows)
    out = head + "\n\n" + _alias_source(node, old) + ("\n\n" + rest.lstrip("\n") if rest.strip() else rest)
    return add_imports(out, missing_modules(out, lambda name: name == "warnings"))

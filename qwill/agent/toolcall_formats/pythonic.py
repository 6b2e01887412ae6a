"""Llama 3.2 / Gemma: Python call syntax, ``[name(a=1, b="x"), other(c=2)]``, as the
whole message (here) or in a ```tool_code block (fenced.py). Read with `ast`, never
evaluated: only keyword arguments with literal values, and only known tool names."""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs


def calls(src: str, specs: ToolSpecs) -> list[ToolCall] | None:
    """`[f(a=1), g(b="x")]` or `f(a=1)` where every f is a known tool."""
    s = src.strip()
    if not s or not specs:
        return None
    try:
        tree = ast.parse(s, mode="eval")
    except SyntaxError:
        return None
    node = tree.body
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    out: list[ToolCall] = []
    for item in items:
        if not (isinstance(item, ast.Call) and isinstance(item.func, ast.Name)):
            return None
        if item.func.id not in specs or item.args:
            return None
        args: dict[str, Any] = {}
        for kw in item.keywords:
            if kw.arg is None:
                return None
            try:
                args[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                return None
        out.append(ToolCall(item.func.id, args, Pythonic.name, s))
    return out or None


class Pythonic(ToolCallFormat):
    name: ClassVar[str] = "pythonic"

    def extract_unmarked(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        got = calls(text, specs)
        return ParseResult(calls=got) if got else None

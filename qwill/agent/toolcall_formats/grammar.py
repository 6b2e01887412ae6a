"""What the formats' grammars share: the grammar type and the JSON call object.

A format's `grammar(tools)` (see base.ToolCallFormat) describes, in llama.cpp's GBNF,
every call it can write to those tools: only a known tool name, only its parameters,
every required one, each value of its declared type. Decoding switches to it at the
format's trigger (lazily, so prose before the first call stays free); after the last
call the model can only open another call or end its turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...engine.grammar import GrammarError, json_schema_rules, literal, merge_rules

__all__ = ["GrammarError", "ToolGrammar", "arguments_rules", "functions", "json_object_calls", "literal",
           "merge_rules"]


@dataclass(frozen=True)
class ToolGrammar:
    format: str
    gbnf: str
    triggers: tuple[str, ...]
    # tools whose parameters could not be expressed exactly and accept any JSON object
    loose: tuple[str, ...] = ()


def functions(tools: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, parameters schema) of OpenAI-shaped tool definitions."""
    out = []
    for t in tools:
        fn = t.get("function", t)
        params = dict(fn.get("parameters") or {})
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        out.append((str(fn["name"]), params))
    return out


def arguments_rules(name: str, schema: Mapping[str, Any], loose: list[str], tool: str) -> str:
    """Rules for a value of `schema` named `name`; any JSON object (and `tool` noted in
    `loose`) when the converter cannot express the schema."""
    try:
        return json_schema_rules(schema, name)
    except GrammarError:
        loose.append(tool)
        return json_schema_rules({"type": "object"}, name)


def json_object_calls(tools: Sequence[Mapping[str, Any]], arguments_key: str) -> tuple[str, list[str]]:
    """Rules `call ::= {"name": "<tool>", "<arguments_key>": {...}}` over every tool, and
    the tools whose arguments are loose."""
    blocks: list[str] = []
    alts: list[str] = []
    loose: list[str] = []
    for i, (tool, params) in enumerate(functions(tools)):
        args = f"args-{i}"
        blocks.append(arguments_rules(args, params, loose, tool))
        one = f"call-{i}"
        head = literal('"name": ' + json.dumps(tool, ensure_ascii=False) + ", "
                       + json.dumps(arguments_key) + ": ")
        blocks.append(f'{one} ::= "{{" {head} {args} "}}" space')
        alts.append(one)
    if not alts:
        raise GrammarError("no tools")
    blocks.append("call ::= " + " | ".join(alts))
    return merge_rules(*blocks), loose

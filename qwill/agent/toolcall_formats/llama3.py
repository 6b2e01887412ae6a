"""Llama 3.1 / 3.3: ``<|python_tag|>{"name": …, "parameters": …}``, a bare JSON call
object (JSON tool calling), or the custom ``<function=NAME>{…}</function>`` form
(recognised by qwen3_xml.py, which shares the tag, and read here).

A bare JSON object counts as a call only when it names a tool (or its arguments fit
exactly one tool) and carries arguments, so JSON in prose stays prose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .. import lenient_json
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls, looks_like_call
from .grammar import ToolGrammar, json_object_calls, literal, merge_rules

_TAG = "<|python_tag|>"


def function_tag_json(name: str, body: str, raw: str) -> tuple[list[ToolCall], list[str]]:
    """`<function=NAME>` followed by a JSON object of arguments."""
    try:
        v: Any = lenient_json.loads(body.split("</function>")[0].strip())
    except lenient_json.LenientJSONError:
        v = None
    if not isinstance(v, dict):
        return [], [f"arguments of {name} are not a JSON object: {body[:120]}"]
    return [ToolCall(name, v, Llama3.name, raw)], []


def _first_json_call(text: str, specs: ToolSpecs) -> int | None:
    for m in re.finditer(r"[\[{]", text):
        i = m.start()
        try:
            value, _, _ = lenient_json.scan(text, i)
        except lenient_json.LenientJSONError:
            continue
        if looks_like_call(value, specs):
            return i
    return None


class Llama3(ToolCallFormat):
    name: ClassVar[str] = "llama3"
    markers = (_TAG,)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        if _TAG not in text:
            return None
        i = text.find(_TAG)
        body = text[i + len(_TAG):].replace("<|eom_id|>", "").replace("<|eot_id|>", "")
        calls, errors = json_calls(body.replace(";", "\n"), self.name)
        return ParseResult(text[:i].strip(), calls, errors)

    def extract_unmarked(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        start = _first_json_call(text, specs)
        if start is None:
            return None
        calls, errors = json_calls(text[start:], self.name)
        if not calls:
            return None
        return ParseResult(text[:start].strip(), calls, errors)

    def grammar(self, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
        """`<|python_tag|>{"name": …, "parameters": {…}}` (Llama 3.1's JSON tool calling)."""
        rules, loose = json_object_calls(tools, "parameters")
        root = f'root ::= {literal(_TAG)} space call ( ";" space call )*'
        return ToolGrammar(self.name, merge_rules(rules, root), (_TAG,), tuple(loose))

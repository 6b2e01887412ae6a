"""Hermes / Qwen2.5: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``.

Qwen3-Coder writes its XML calls inside the same wrapper; a block whose inside opens
with ``<function=`` is read by qwen3_xml.py. A block left open ends at the next
``<tool_call>`` or at the end of the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from . import qwen3_xml
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls
from .grammar import ToolGrammar, json_object_calls, merge_rules

_BLOCK = re.compile(r"<tool_call>(.*?)(</tool_call>|(?=<tool_call>)|\Z)", re.S)


def _block(inner: str, raw: str, specs: ToolSpecs) -> tuple[list[ToolCall], list[str]]:
    got = qwen3_xml.function_call(inner, raw, specs)
    return got if got is not None else json_calls(inner, Hermes.name)


class Hermes(ToolCallFormat):
    name: ClassVar[str] = "hermes"
    markers = ("<tool_call>",)
    closers = ("</tool_call>",)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        if "<tool_call>" not in text:
            return None
        res = ParseResult()
        prose: list[str] = []
        pos = 0
        for m in _BLOCK.finditer(text):
            prose.append(text[pos:m.start()])
            calls, errors = _block(m.group(1), m.group(0), specs)
            res.calls += calls
            res.errors += errors
            pos = m.end()
        prose.append(text[pos:])
        res.text = "".join(prose).replace("</tool_call>", "").strip()
        return res

    def grammar(self, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
        """`<tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>`, one or more.

        Small Qwen2.5 models often write the same call object in a ```json fence or bare
        at the start of a line instead; those openings are constrained the same way."""
        rules, loose = json_object_calls(tools, "arguments")
        gbnf = merge_rules(
            rules,
            'block ::= "<tool_call>" "\\n"? call "\\n"? "</tool_call>"',
            'fence ::= "```json" "\\n" call "\\n"? "```"',
            'root ::= block ( "\\n"* block )* | fence ( "\\n"* fence )* | call',
        )
        return ToolGrammar(self.name, gbnf, ("<tool_call>", "```json", '{"name"'), tuple(loose))

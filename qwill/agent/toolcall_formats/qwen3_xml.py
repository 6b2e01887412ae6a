"""Qwen3-Coder: ``<tool_call><function=NAME><parameter=P>value</parameter>…</function></tool_call>``.

The ``<tool_call>`` wrapper is Hermes' (see hermes.py, which hands a ``<function=``
body here); this module reads ``<function=NAME>`` bodies and bare ``<function=``
calls written without the wrapper. Closing tags are optional: a parameter ends at
the next ``<parameter=``, a call at ``</function>`` or the end of the text. A
``<function=NAME>`` followed by a JSON object is Llama 3.1's custom form (llama3.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ...engine.grammar import GrammarError, rule_name, text_without
from . import llama3
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls, schema_type, string_params
from .grammar import ToolGrammar, arguments_rules, functions, literal, merge_rules

_QWEN_PARAM = re.compile(r"<parameter=([^>\n]+)>")
_END_PARAM = "</parameter>"
FUNC_OPEN = re.compile(r"<function=([^>\n]+)>")


def _xml_body(body: str, name: str, raw: str, specs: ToolSpecs) -> ToolCall:
    """Parameters of a `<function=NAME>` body (closing tags optional)."""
    args: dict[str, Any] = {}
    strings = string_params(specs.get(name))
    matches = list(_QWEN_PARAM.finditer(body))
    for n, m in enumerate(matches):
        pname = m.group(1).strip()
        start = m.end()
        stop = matches[n + 1].start() if n + 1 < len(matches) else len(body)
        chunk = body[start:stop]
        end = chunk.find(_END_PARAM)
        if end >= 0:
            chunk = chunk[:end]
        else:
            f = chunk.find("</function>")
            if f >= 0:
                chunk = chunk[:f]
            chunk = chunk.rstrip(" \t")
        # The template writes "\n" after the opening and before the closing tag.
        if chunk.startswith("\n"):
            chunk = chunk[1:]
        if chunk.endswith("\n"):
            chunk = chunk[:-1]
        if pname in strings:
            args[pname] = chunk
        else:
            try:
                args[pname] = json.loads(chunk)
            except ValueError:
                args[pname] = chunk
    return ToolCall(name, args, Qwen3XML.name, raw)


def function_call(inner: str, raw: str, specs: ToolSpecs) -> tuple[list[ToolCall], list[str]] | None:
    """A call from text holding `<function=NAME>…`; None when there is no such tag."""
    m = FUNC_OPEN.search(inner)
    if m is None:
        return None
    name = m.group(1).strip()
    body = inner[m.end():]
    if body.lstrip().startswith("{"):
        return llama3.function_tag_json(name, body, raw)
    end = body.find("</function>")
    return [_xml_body(body if end < 0 else body[:end], name, raw, specs)], []


class Qwen3XML(ToolCallFormat):
    name: ClassVar[str] = "qwen3_xml"
    markers = ("<function=",)
    closers = ("</function>",)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        """Bare `<function=NAME>` calls (Qwen3-Coder without the wrapper, or Llama 3.1's form)."""
        opening = FUNC_OPEN.search(text)
        if opening is None:
            return None
        res = ParseResult(text=text[:opening.start()].strip())
        for piece in re.split(r"(?=<function=)", text[opening.start():]):
            if not piece.strip():
                continue
            # A tag cut before its ">" does not read as JSON either: told as unreadable.
            calls, errors = function_call(piece, piece, specs) or json_calls(piece, self.name)
            res.calls += calls
            res.errors += errors
        return res

    def grammar(self, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
        """`<tool_call>\\n<function=NAME>\\n<parameter=P>\\nvalue\\n</parameter>\\n…</function>\\n
        </tool_call>`. A string parameter's value is raw text that cannot contain
        `</parameter>`; other values are JSON of their schema. Required parameters come
        first, then any optional ones, each at most once, in the schema's order."""
        blocks = [text_without("xml-text", _END_PARAM)]
        fns: list[str] = []
        loose: list[str] = []
        for i, (tool, params) in enumerate(functions(tools)):
            props: Mapping[str, Any] = params.get("properties") or {}
            required = [p for p in params.get("required") or [] if p in props]
            optional = [p for p in props if p not in required]
            parts: list[str] = []
            for p in required + optional:
                value = "xml-text"
                if schema_type(props[p]) != "string":
                    value = rule_name("v", str(i), p)
                    blocks.append(arguments_rules(value, props[p], loose, tool))
                rule = rule_name("p", str(i), p)
                blocks.append(f'{rule} ::= {literal(f"<parameter={p}>")} "\\n"? {value} "\\n"? '
                              f'{literal(_END_PARAM)} "\\n"?')
                parts.append(rule if p in required else f"{rule}?")
            fn = f"fn-{i}"
            blocks.append(f'{fn} ::= {literal(f"<function={tool}>")} "\\n"? {" ".join(parts)} '
                          f'"</function>" "\\n"?')
            fns.append(fn)
        if not fns:
            raise GrammarError("no tools")
        blocks.append("function ::= " + " | ".join(fns))
        blocks.append('block ::= "<tool_call>" "\\n"? function "</tool_call>"')
        blocks.append('root ::= block ( "\\n"* block )*')
        return ToolGrammar(self.name, merge_rules(*blocks), ("<tool_call>",), tuple(loose))

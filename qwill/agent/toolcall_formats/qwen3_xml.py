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
from typing import Any, ClassVar

from . import llama3
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls, string_params

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

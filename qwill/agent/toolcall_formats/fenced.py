"""A fenced code block (```json, ```tool_call, ```tool …) holding call objects, or a
```tool_code / ```python block holding Python-style calls (pythonic.py). Code that is
not a call stays prose."""

from __future__ import annotations

import re
from typing import ClassVar

from .. import lenient_json
from . import pythonic
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls, looks_like_call

_FENCE = re.compile(r"```[ \t]*([A-Za-z_]*)[ \t]*\n(.*?)(```|\Z)", re.S)
_JSON_LANGS = ("json", "tool_call", "tool_calls", "tool", "function_call", "", "jsonc")
_PYTHON_LANGS = ("tool_code", "python", "py", "")


class Fenced(ToolCallFormat):
    name: ClassVar[str] = "fenced"
    markers = ("```",)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        res = ParseResult()
        prose: list[str] = []
        pos = 0
        for m in _FENCE.finditer(text):
            lang, body = m.group(1).lower(), m.group(2)
            got: list[ToolCall] = []
            if lang in _JSON_LANGS:
                stripped = body.strip()
                if stripped.startswith(("{", "[")):
                    try:
                        value = lenient_json.loads(stripped)
                    except lenient_json.LenientJSONError:
                        value = None
                    if value is not None and looks_like_call(value, specs):
                        got, errs = json_calls(stripped, self.name)
                        res.errors += errs
            if not got and lang in _PYTHON_LANGS:
                got = pythonic.calls(body, specs) or []
            if got:
                prose.append(text[pos:m.start()])
                pos = m.end()
                res.calls += got
        if not res.calls:
            # A call-shaped block that did not read is told to the model; plain code is prose.
            return ParseResult(text.strip(), [], res.errors) if res.errors else None
        prose.append(text[pos:])
        res.text = "".join(prose).strip()
        return res

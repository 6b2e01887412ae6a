"""DeepSeek V3 / V3.1 / R1: special tokens around each call.

V3: ``<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json {…}```<｜tool▁call▁end｜>``;
V3.1 and R1: ``<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>``.
Small models degrade the tokens to ASCII bars (``<tool▁call▁begin>``); both spellings
are read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import lenient_json
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs

CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
SEP = "<｜tool▁sep｜>"
_ASCII_BEGIN = "<tool▁call▁begin>"
_ASCII_END = "<tool▁call▁end>"


def _one(inner: str, raw: str) -> tuple[ToolCall | None, str | None]:
    sep = inner.find(SEP)
    if sep < 0:
        return None, f"deepseek tool call without a separator: {inner[:120]}"
    head, rest = inner[:sep].strip(), inner[sep + len(SEP):]
    if head in ("function", ""):  # V3: function<sep>NAME\n```json{…}```
        nl = rest.find("\n")
        name = (rest if nl < 0 else rest[:nl]).strip()
        body = "" if nl < 0 else rest[nl + 1:]
    else:  # V3.1 / R1: NAME<sep>{…}
        name, body = head, rest
    body = body.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0] if "```" in body else body
    try:
        args: Any = lenient_json.loads(body) if body.strip() else {}
    except lenient_json.LenientJSONError as exc:
        return None, f"deepseek arguments of {name} are not JSON ({exc})"
    if not isinstance(args, dict):
        return None, f"deepseek arguments of {name} must be an object"
    return ToolCall(name, args, DeepSeek.name, raw), None


class DeepSeek(ToolCallFormat):
    name: ClassVar[str] = "deepseek"
    markers = (CALLS_BEGIN, CALL_BEGIN, _ASCII_BEGIN)
    closers = (CALL_END,)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        if CALL_BEGIN not in text and _ASCII_BEGIN not in text:
            return None
        text = text.replace(_ASCII_BEGIN, CALL_BEGIN).replace(_ASCII_END, CALL_END)
        res = ParseResult()
        first = len(text)
        pos = 0
        while True:
            b = text.find(CALL_BEGIN, pos)
            if b < 0:
                break
            first = min(first, b)
            e = text.find(CALL_END, b)
            stop = e if e >= 0 else len(text)
            nxt = text.find(CALL_BEGIN, b + len(CALL_BEGIN))
            if 0 <= nxt < stop:
                stop = nxt
            end = stop + (len(CALL_END) if stop == e else 0)
            call, error = _one(text[b + len(CALL_BEGIN):stop], text[b:end])
            if call is not None:
                res.calls.append(call)
            if error is not None:
                res.errors.append(error)
            pos = stop
        res.text = text[:first].replace(CALLS_BEGIN, "").strip()
        return res

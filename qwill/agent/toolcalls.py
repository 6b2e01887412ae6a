"""Tool calls in every format open models write, parsed tolerantly and streamed.

The formats live in toolcall_formats/, one module each (qwen3_xml, hermes, mistral,
llama3, fenced, deepseek, pythonic; the name of each is what `ToolCall.format`
records). This module reads a message with them, coerces the arguments to the tools'
schemas and streams prose and calls as they are generated.

Broken output is read as far as it makes sense: unclosed tags and braces are
closed at the end of the text, JSON may have trailing commas or single quotes,
prose around calls is kept as text. Arguments are then coerced to the tool's
JSON schema, so a string parameter stays a string even if it looks like a
number or like JSON, and `"3"` becomes 3 for an integer parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import lenient_json, toolcall_formats
from .toolcall_formats import CLOSERS, MARKERS, ParseResult, ToolCall, ToolSpecs
from .toolcall_formats.base import resolve_tool_name, schema_type

__all__ = ["MARKERS", "ParseResult", "StreamEvent", "StreamingToolCallParser", "ToolCall", "ToolSpecs",
           "coerce_arguments", "coerce_value", "parse_tool_calls", "resolve_tool_name", "tool_specs"]


# -- schema-driven coercion ---------------------------------------------------------
def coerce_value(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Bring one argument to its declared type; unknown types pass through."""
    t = schema_type(schema)
    if t == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)
    if t in ("integer", "number"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, float)):
            return int(value) if t == "integer" and float(value).is_integer() else value
        if isinstance(value, str):
            s = value.strip()
            try:
                return int(s)
            except ValueError:
                try:
                    f = float(s)
                except ValueError:
                    return value  # left for validation to report
                return int(f) if t == "integer" and f.is_integer() else f
        return value
    if t == "boolean":
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "1"):
                return True
            if low in ("false", "no", "0"):
                return False
        if isinstance(value, int):
            return bool(value)
        return value
    if t in ("array", "object"):
        if isinstance(value, str):
            try:
                parsed = lenient_json.loads(value.strip())
            except lenient_json.LenientJSONError:
                return [value] if t == "array" else value
            if t == "array" and not isinstance(parsed, list):
                return [parsed]
            if t == "array" and isinstance(parsed, list):
                items = schema.get("items") if schema else None
                return [coerce_value(v, items) for v in parsed]
            return parsed
        if t == "array" and isinstance(value, list) and schema and schema.get("items"):
            return [coerce_value(v, schema["items"]) for v in value]
        return value
    return value


def coerce_arguments(args: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    props = (parameters or {}).get("properties", {}) or {}
    return {k: coerce_value(v, props.get(k)) for k, v in args.items()}


def parse_tool_calls(text: str, specs: ToolSpecs | None = None) -> ParseResult:
    """Every tool call in a complete assistant message, coerced to the tools' schemas."""
    specs = specs or {}
    # Reasoning is not part of the answer.
    result = toolcall_formats.extract(re.sub(r"<think>.*?(</think>|\Z)", "", text, flags=re.S), specs)
    calls = []
    for c in result.calls:
        name = resolve_tool_name(c.name, c.arguments, specs) or c.name
        calls.append(ToolCall(name, coerce_arguments(c.arguments, specs.get(name)), c.format, c.raw))
    result.calls = calls
    return result


# -- streaming ----------------------------------------------------------------------
@dataclass
class StreamEvent:
    text: str = ""  # prose that is safe to show
    call: ToolCall | None = None


class StreamingToolCallParser:
    """Feed pieces as they are generated; get prose deltas and calls as each one closes.

    Prose is released up to the first place a call could start; a call is
    reported once its closing marker arrives (or at `finish`, for unclosed ones).
    The calls reported are those `parse_tool_calls` finds on the whole text.
    """

    _CLOSERS = CLOSERS

    def __init__(self, specs: ToolSpecs | None = None) -> None:
        self.specs = specs or {}
        self.buffer = ""
        self._shown = 0
        self._held_from: int | None = None
        self._reported = 0

    def _hold_point(self) -> int | None:
        idx = [self.buffer.find(m) for m in MARKERS]
        found = [i for i in idx if i >= 0]
        # A bare JSON call: hold from a '{' or '[' at the start of a line.
        m = re.search(r"(^|\n)\s*[\[{]", self.buffer)
        if m is not None:
            found.append(m.end() - 1)
        return min(found) if found else None

    def feed(self, piece: str) -> list[StreamEvent]:
        self.buffer += piece
        events: list[StreamEvent] = []
        if self._held_from is None:
            self._held_from = self._hold_point()
        limit = self._held_from if self._held_from is not None else len(self.buffer)
        # keep back a possible partial marker at the end
        if self._held_from is None:
            for marker in MARKERS:
                for n in range(min(len(marker) - 1, len(self.buffer)), 0, -1):
                    if self.buffer.endswith(marker[:n]):
                        limit = min(limit, len(self.buffer) - n)
                        break
        if limit > self._shown:
            events.append(StreamEvent(text=self.buffer[self._shown:limit]))
            self._shown = limit
        if self._held_from is not None and any(c in piece or c in self.buffer[-len(c) - len(piece):]
                                               for c in self._CLOSERS):
            events += self._report(final=False)
        return events

    def _report(self, final: bool) -> list[StreamEvent]:
        text = self.buffer
        if not final:
            # Only calls whose closing marker has arrived.
            cut = max(text.rfind(c) + len(c) if text.rfind(c) >= 0 else -1 for c in self._CLOSERS)
            if cut < 0:
                return []
            text = text[:cut]
        calls = parse_tool_calls(text, self.specs).calls
        new = calls[self._reported:]
        self._reported = len(calls)
        return [StreamEvent(call=c) for c in new]

    def finish(self) -> tuple[list[StreamEvent], ParseResult]:
        """End of generation: remaining prose and calls, and the full parse."""
        result = parse_tool_calls(self.buffer, self.specs)
        events: list[StreamEvent] = []
        if self._held_from is None and len(self.buffer) > self._shown:
            events.append(StreamEvent(text=self.buffer[self._shown:]))
            self._shown = len(self.buffer)
        elif self._held_from is not None and not result.calls:
            # It was not a call after all: release the held text.
            events.append(StreamEvent(text=self.buffer[self._shown:]))
            self._shown = len(self.buffer)
        for c in result.calls[self._reported:]:
            events.append(StreamEvent(call=c))
        self._reported = len(result.calls)
        return events, result


def tool_specs(tools: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """name -> parameters schema, from OpenAI-shaped tool definitions."""
    out: dict[str, Mapping[str, Any]] = {}
    for t in tools:
        fn = t.get("function", t)
        out[str(fn["name"])] = fn.get("parameters", {}) or {}
    return out

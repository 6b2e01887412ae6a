"""Mistral: ``[TOOL_CALLS][{"name": …, "arguments": …}]`` (v3) and
``[TOOL_CALLS]NAME[ARGS]{…}`` (v11+, repeated for several calls)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .. import lenient_json
from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs, json_calls
from .grammar import ToolGrammar, json_object_calls, merge_rules

_TAG = "[TOOL_CALLS]"


def _calls(after: str) -> tuple[list[ToolCall], list[str]]:
    """The text after `[TOOL_CALLS]`: a JSON list, or NAME[ARGS]{…} (repeated)."""
    s = after.lstrip()
    if s.startswith(("[", "{")):
        return json_calls(s, Mistral.name)
    calls: list[ToolCall] = []
    errors: list[str] = []
    for part in s.split(_TAG):
        if "[ARGS]" not in part:
            if part.strip():
                errors.append(f"mistral tool call without [ARGS]: {part[:120]}")
            continue
        name, body = part.split("[ARGS]", 1)
        try:
            args = lenient_json.loads(body.strip()) if body.strip() else {}
        except lenient_json.LenientJSONError as exc:
            errors.append(f"mistral arguments of {name.strip()} are not JSON ({exc})")
            continue
        if isinstance(args, dict):
            calls.append(ToolCall(name.strip(), args, Mistral.name, part))
    return calls, errors


class Mistral(ToolCallFormat):
    name: ClassVar[str] = "mistral"
    markers = (_TAG,)

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        if _TAG not in text:
            return None
        i = text.find(_TAG)
        calls, errors = _calls(text[i + len(_TAG):])
        return ParseResult(text[:i].strip(), calls, errors)

    def grammar(self, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
        """`[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`."""
        rules, loose = json_object_calls(tools, "arguments")
        root = 'root ::= "[TOOL_CALLS]" space "[" space call ( "," space call )* "]" space'
        return ToolGrammar(self.name, merge_rules(rules, root), (_TAG,), tuple(loose))

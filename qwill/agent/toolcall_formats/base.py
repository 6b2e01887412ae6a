"""What every tool-call format shares: the call and result types, the format
interface, and the JSON call-object reading several formats use."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import lenient_json
from .grammar import ToolGrammar

ToolSpecs = Mapping[str, Mapping[str, Any]]  # tool name -> JSON schema of its parameters


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    format: str = ""
    raw: str = field(default="", compare=False)
    # the server's id of a call it parsed itself (OpenAI `tool_calls`), echoed with the result
    id: str = field(default="", compare=False)

    def key(self) -> str:
        """A canonical form for loop detection."""
        return self.name + json.dumps(self.arguments, sort_keys=True, ensure_ascii=False)


@dataclass
class ParseResult:
    text: str = ""  # prose outside the calls
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # malformed calls, told to the model

    @property
    def formats(self) -> list[str]:
        return sorted({c.format for c in self.calls})


class ToolCallFormat:
    """One way models write tool calls (the shape of vLLM's tool parsers).

    `markers` open a call of this format: a streaming parser holds text back from the
    first one, and a grammar-constrained decoder would switch to this format's grammar
    there. `closers` end one call, so a streaming parser can report it before the
    message ends. `extract` reads a whole message whose calls are opened by a marker;
    `extract_unmarked` reads calls recognised by their shape alone (a bare JSON object,
    a Python call), tried only when no format's markers matched.
    Both return None when the text holds no call of this format.
    """

    name: ClassVar[str]
    markers: ClassVar[tuple[str, ...]] = ()
    closers: ClassVar[tuple[str, ...]] = ()

    def extract(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        return None

    def extract_unmarked(self, text: str, specs: ToolSpecs) -> ParseResult | None:
        return None

    def grammar(self, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar | None:
        """A grammar every call of this format to `tools` satisfies (see grammar.py), or
        None when the format has none (its calls are then decoded unconstrained)."""
        return None


def string_params(parameters: Mapping[str, Any] | None) -> set[str]:
    props = (parameters or {}).get("properties", {}) or {}
    return {k for k, v in props.items() if schema_type(v) == "string"}


def schema_type(schema: Mapping[str, Any] | None) -> str:
    if not schema:
        return ""
    t = schema.get("type", "")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        return str(non_null[0]) if non_null else ""
    return str(t)


def normalise_obj(obj: Any, fmt: str, raw: str) -> ToolCall | str:
    """A call object ({"name", "arguments"|"parameters"}; OpenAI nesting) or an error."""
    if not isinstance(obj, dict):
        return f"a {fmt} tool call must be an object with a name, got: {raw.strip()[:120]}"
    if "function" in obj and isinstance(obj["function"], dict):
        obj = obj["function"]
    name = obj.get("name") or obj.get("tool") or obj.get("tool_name")
    if not isinstance(name, str) or not name:
        return f"tool call without a name: {raw.strip()[:120]}"
    args: Any = {}
    for key in ("arguments", "parameters", "args", "input", "params"):
        if key in obj:
            args = obj[key]
            break
    if isinstance(args, str):
        try:
            args = lenient_json.loads(args) if args.strip() else {}
        except lenient_json.LenientJSONError:
            return f"arguments of {name} are not JSON: {args[:120]}"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"arguments of {name} must be an object, got: {json.dumps(args)[:120]}"
    return ToolCall(name, dict(args), fmt, raw)


def json_calls(text: str, fmt: str) -> tuple[list[ToolCall], list[str]]:
    """Call objects from JSON text: one object, a list of them, or several objects."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    i = 0
    s = text.strip()
    if not s:
        return calls, [f"empty {fmt} tool call"]
    while i < len(s):
        while i < len(s) and s[i] in " \t\r\n,;":
            i += 1
        if i >= len(s):
            break
        if s[i] not in "{[":
            errors.append(f"unreadable {fmt} tool call: {s[i:i + 120]}")
            break
        try:
            value, end, _ = lenient_json.scan(s, i)
        except lenient_json.LenientJSONError as exc:
            errors.append(f"malformed {fmt} tool call ({exc}): {s[i:i + 120]}")
            break
        items = value if isinstance(value, list) else [value]
        for item in items:
            got = normalise_obj(item, fmt, s[i:end])
            (calls.append(got) if isinstance(got, ToolCall) else errors.append(got))
        i = end
    return calls, errors


def resolve_tool_name(name: str, args: Any, specs: ToolSpecs) -> str | None:
    """`name` when it is a tool; else the one tool whose parameters the arguments fit
    (every argument is one of its parameters and its required ones are all there), as
    when a model calls `rename_function` with rename_symbol's arguments; else None."""
    if not specs or name in specs:
        return name
    if not isinstance(args, Mapping) or not args:
        return None
    keys = set(args)
    fits = [tool for tool, schema in specs.items()
            if keys <= set(schema.get("properties") or {})
            and set(schema.get("required") or ()) <= keys]
    return fits[0] if len(fits) == 1 else None


def _call_arguments(it: Mapping[str, Any]) -> Any:
    for key in ("arguments", "parameters", "args", "input"):
        if key in it:
            value = it[key]
            if isinstance(value, str):
                try:
                    value = lenient_json.loads(value)
                except lenient_json.LenientJSONError:
                    return None
            return value
    return None


def looks_like_call(obj: Any, specs: ToolSpecs) -> bool:
    """Whether a JSON value is a call object (or a list of them) for one of the tools."""
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        return False
    for it in items:
        if not isinstance(it, dict):
            return False
        if "function" in it and isinstance(it["function"], dict):
            it = it["function"]
        name = it.get("name")
        if not isinstance(name, str):
            return False
        if specs and name not in specs and resolve_tool_name(name, _call_arguments(it), specs) is None:
            return False
        if not any(k in it for k in ("arguments", "parameters", "args", "input")):
            return False
    return True

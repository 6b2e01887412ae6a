"""Tool calls in every format open models write, parsed tolerantly and streamed.

Formats (the name of each is what `ToolCall.format` records):

- ``qwen3_xml``  Qwen3-Coder: ``<tool_call><function=NAME><parameter=P>v</parameter>…``
- ``hermes``     Hermes / Qwen2.5: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``
- ``mistral``    ``[TOOL_CALLS][{"name": …, "arguments": …}]`` and ``[TOOL_CALLS]NAME[ARGS]{…}``
- ``llama3``     ``<|python_tag|>{"name": …, "parameters": …}``, a bare JSON object,
                 or ``<function=NAME>{…}</function>``
- ``fenced``     a fenced code block (json / tool_call / tool) holding call objects
- ``deepseek``   ``<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME ```json {…}``` <｜tool▁call▁end｜>``
- ``pythonic``   Llama 3.2 / Gemma ``[name(a=1, b="x")]`` (also in a ```tool_code block)

Broken output is read as far as it makes sense: unclosed tags and braces are
closed at the end of the text, JSON may have trailing commas or single quotes,
prose around calls is kept as text. Arguments are then coerced to the tool's
JSON schema, so a string parameter stays a string even if it looks like a
number or like JSON, and `"3"` becomes 3 for an integer parameter.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import lenient_json


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    format: str = ""
    raw: str = field(default="", compare=False)

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


# -- schema-driven coercion ---------------------------------------------------------
def _schema_type(schema: Mapping[str, Any] | None) -> str:
    if not schema:
        return ""
    t = schema.get("type", "")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        return str(non_null[0]) if non_null else ""
    return str(t)


def coerce_value(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Bring one argument to its declared type; unknown types pass through."""
    t = _schema_type(schema)
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


def _string_params(parameters: Mapping[str, Any] | None) -> set[str]:
    props = (parameters or {}).get("properties", {}) or {}
    return {k for k, v in props.items() if _schema_type(v) == "string"}


# -- the formats ------------------------------------------------------------------------
ToolSpecs = Mapping[str, Mapping[str, Any]]  # tool name -> JSON schema of its parameters


def _normalise_obj(obj: Any, fmt: str, raw: str) -> ToolCall | str:
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


def _json_calls(text: str, fmt: str) -> tuple[list[ToolCall], list[str]]:
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
            got = _normalise_obj(item, fmt, s[i:end])
            (calls.append(got) if isinstance(got, ToolCall) else errors.append(got))
        i = end
    return calls, errors


_QWEN_PARAM = re.compile(r"<parameter=([^>\n]+)>")
_END_PARAM = "</parameter>"


def _qwen_xml_body(body: str, name: str, raw: str, specs: ToolSpecs) -> ToolCall:
    """Parameters of a Qwen3-Coder `<function=NAME>` body (closing tags optional)."""
    args: dict[str, Any] = {}
    strings = _string_params(specs.get(name))
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
    return ToolCall(name, args, "qwen3_xml", raw)


_FUNC_OPEN = re.compile(r"<function=([^>\n]+)>")


def _tool_call_block(inner: str, raw: str, specs: ToolSpecs) -> tuple[list[ToolCall], list[str]]:
    """The inside of `<tool_call>…</tool_call>`: Qwen3-Coder XML or Hermes JSON."""
    m = _FUNC_OPEN.search(inner)
    if m is not None:
        name = m.group(1).strip()
        body = inner[m.end():]
        if body.lstrip().startswith("{"):
            args = _args_only(body)
            if args is None:
                return [], [f"arguments of {name} are not a JSON object: {body[:120]}"]
            return [ToolCall(name, args, "llama3", raw)], []
        end = body.find("</function>")
        return [_qwen_xml_body(body if end < 0 else body[:end], name, raw, specs)], []
    return _json_calls(inner, "hermes")


def _args_only(body: str) -> dict[str, Any] | None:
    try:
        v = lenient_json.loads(body.split("</function>")[0].strip())
    except lenient_json.LenientJSONError:
        return None
    return v if isinstance(v, dict) else None


# Markers that open a call; a streaming parser holds text back from them on.
_DS_CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
_DS_CALL_BEGIN = "<｜tool▁call▁begin｜>"
_DS_CALL_END = "<｜tool▁call▁end｜>"
_DS_CALLS_END = "<｜tool▁calls▁end｜>"
_DS_SEP = "<｜tool▁sep｜>"
MARKERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "<function=", _DS_CALLS_BEGIN,
           _DS_CALL_BEGIN, "```", "<tool▁call▁begin>")

_FENCE = re.compile(r"```[ \t]*([A-Za-z_]*)[ \t]*\n(.*?)(```|\Z)", re.S)
_BLOCK = re.compile(r"<tool_call>(.*?)(</tool_call>|(?=<tool_call>)|\Z)", re.S)


def _deepseek(text: str, specs: ToolSpecs) -> tuple[list[ToolCall], list[str], list[tuple[int, int]]]:
    calls: list[ToolCall] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    # ASCII-degraded tokens are seen from small models; accept both spellings.
    norm = text.replace("<tool▁call▁begin>", _DS_CALL_BEGIN).replace("<tool▁call▁end>", _DS_CALL_END)
    if norm != text:
        text = norm
    pos = 0
    while True:
        b = text.find(_DS_CALL_BEGIN, pos)
        if b < 0:
            break
        e = text.find(_DS_CALL_END, b)
        stop = e if e >= 0 else len(text)
        nxt = text.find(_DS_CALL_BEGIN, b + len(_DS_CALL_BEGIN))
        if 0 <= nxt < stop:
            stop = nxt
        inner = text[b + len(_DS_CALL_BEGIN):stop]
        raw = text[b:stop + (len(_DS_CALL_END) if stop == e else 0)]
        sep = inner.find(_DS_SEP)
        if sep < 0:
            errors.append(f"deepseek tool call without a separator: {inner[:120]}")
        else:
            head, rest = inner[:sep].strip(), inner[sep + len(_DS_SEP):]
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
                args = lenient_json.loads(body) if body.strip() else {}
            except lenient_json.LenientJSONError as exc:
                errors.append(f"deepseek arguments of {name} are not JSON ({exc})")
                args = None
            if args is not None:
                if isinstance(args, dict):
                    calls.append(ToolCall(name, args, "deepseek", raw))
                else:
                    errors.append(f"deepseek arguments of {name} must be an object")
        spans.append((b, stop + (len(_DS_CALL_END) if stop == e else 0)))
        pos = stop
    return calls, errors, spans


def _pythonic(src: str, specs: ToolSpecs) -> list[ToolCall] | None:
    """`[f(a=1), g(b="x")]` or `f(a=1)` where every f is a known tool."""
    s = src.strip()
    if not s or not specs:
        return None
    try:
        tree = ast.parse(s, mode="eval")
    except SyntaxError:
        return None
    node = tree.body
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls: list[ToolCall] = []
    for item in items:
        if not (isinstance(item, ast.Call) and isinstance(item.func, ast.Name)):
            return None
        if item.func.id not in specs or item.args:
            return None
        args: dict[str, Any] = {}
        for kw in item.keywords:
            if kw.arg is None:
                return None
            try:
                args[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                return None
        calls.append(ToolCall(item.func.id, args, "pythonic", s))
    return calls or None


def _mistral(after: str) -> tuple[list[ToolCall], list[str]]:
    """The text after `[TOOL_CALLS]`: a JSON list, or NAME[ARGS]{…} (repeated)."""
    s = after.lstrip()
    if s.startswith(("[", "{")):
        return _json_calls(s, "mistral")
    calls: list[ToolCall] = []
    errors: list[str] = []
    for part in s.split("[TOOL_CALLS]"):
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
            calls.append(ToolCall(name.strip(), args, "mistral", part))
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


def _looks_like_call(obj: Any, specs: ToolSpecs) -> bool:
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


def parse_tool_calls(text: str, specs: ToolSpecs | None = None) -> ParseResult:
    """Every tool call in a complete assistant message, coerced to the tools' schemas."""
    specs = specs or {}
    result = _parse(text, specs)
    calls = []
    for c in result.calls:
        name = resolve_tool_name(c.name, c.arguments, specs) or c.name
        calls.append(ToolCall(name, coerce_arguments(c.arguments, specs.get(name)), c.format, c.raw))
    result.calls = calls
    return result


def _parse(text: str, specs: ToolSpecs) -> ParseResult:
    res = ParseResult()
    # Reasoning is not part of the answer.
    text = re.sub(r"<think>.*?(</think>|\Z)", "", text, flags=re.S)

    # DeepSeek special tokens
    if _DS_CALL_BEGIN in text or "<tool▁call▁begin>" in text:
        calls, errors, spans = _deepseek(text, specs)
        first = min((s for s, _ in spans), default=len(text))
        res.text = text[:first].replace(_DS_CALLS_BEGIN, "").strip()
        res.calls, res.errors = calls, errors
        return res

    # <tool_call> blocks: Hermes JSON or Qwen3-Coder XML inside
    if "<tool_call>" in text:
        prose: list[str] = []
        pos = 0
        for m in _BLOCK.finditer(text):
            prose.append(text[pos:m.start()])
            calls, errors = _tool_call_block(m.group(1), m.group(0), specs)
            res.calls += calls
            res.errors += errors
            pos = m.end()
        prose.append(text[pos:])
        res.text = "".join(prose).replace("</tool_call>", "").strip()
        return res

    # Bare <function=NAME> (Qwen3-Coder without the wrapper, or Llama 3.1's custom form)
    opening = _FUNC_OPEN.search(text)
    if opening is not None:
        res.text = text[:opening.start()].strip()
        pieces = re.split(r"(?=<function=)", text[opening.start():])
        for piece in pieces:
            if not piece.strip():
                continue
            calls, errors = _tool_call_block(piece, piece, specs)
            res.calls += calls
            res.errors += errors
        return res

    # Mistral
    if "[TOOL_CALLS]" in text:
        i = text.find("[TOOL_CALLS]")
        res.text = text[:i].strip()
        res.calls, res.errors = _mistral(text[i + len("[TOOL_CALLS]"):])
        return res

    # Llama 3 python tag
    if "<|python_tag|>" in text:
        i = text.find("<|python_tag|>")
        res.text = text[:i].strip()
        body = text[i + len("<|python_tag|>"):].replace("<|eom_id|>", "").replace("<|eot_id|>", "")
        calls, errors = _json_calls(body.replace(";", "\n"), "llama3")
        res.calls, res.errors = calls, errors
        return res

    # Fenced blocks holding call objects or pythonic calls
    fenced_calls: list[ToolCall] = []
    prose_parts: list[str] = []
    pos = 0
    for m in _FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        got: list[ToolCall] = []
        if lang in ("json", "tool_call", "tool_calls", "tool", "function_call", "", "jsonc"):
            stripped = body.strip()
            if stripped.startswith(("{", "[")):
                try:
                    value = lenient_json.loads(stripped)
                except lenient_json.LenientJSONError:
                    value = None
                if value is not None and _looks_like_call(value, specs):
                    got, errs = _json_calls(stripped, "fenced")
                    res.errors += errs
        if not got and lang in ("tool_code", "python", "py", ""):
            py = _pythonic(body, specs)
            if py:
                got = py
        if got:
            prose_parts.append(text[pos:m.start()])
            pos = m.end()
            fenced_calls += got
    if fenced_calls:
        prose_parts.append(text[pos:])
        res.text = "".join(prose_parts).strip()
        res.calls = fenced_calls
        return res

    # A bare JSON object or list that is a call (Llama 3 JSON tool calling)
    start = _first_json_call(text, specs)
    if start is not None:
        calls, errors = _json_calls(text[start:], "llama3")
        if calls:
            res.text = text[:start].strip()
            res.calls, res.errors = calls, errors
            return res

    # Pythonic calls as the whole message (Llama 3.2 / Gemma)
    py = _pythonic(text, specs)
    if py:
        res.calls = py
        return res
    res.text = text.strip()
    return res


def _first_json_call(text: str, specs: ToolSpecs) -> int | None:
    for m in re.finditer(r"[\[{]", text):
        i = m.start()
        try:
            value, _, _ = lenient_json.scan(text, i)
        except lenient_json.LenientJSONError:
            continue
        if _looks_like_call(value, specs):
            return i
    return None


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

    _CLOSERS = ("</tool_call>", _DS_CALL_END, "</function>")

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

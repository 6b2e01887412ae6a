"""Tool calls a server parsed itself (OpenAI `tools` / `tool_calls`), read as hostile input.

A remote engine (llama.cpp's server with `--jinja`, vLLM with a tool parser, Ollama)
templates the conversation and the tools itself and answers with structured calls.
This module turns those calls into our ToolCalls (names resolved, arguments read
tolerantly and coerced to the tools' schemas), keeps a clean copy for the history
(a server re-renders it on the next turn and rejects arguments that are not JSON),
answers every call id (OpenAI-compatible servers refuse a history where one is left
unanswered), and converts such a history to the text form when the agent falls back to
its own formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine.chat import ChatMessage
from . import lenient_json
from .toolcall_formats import ToolCall, ToolSpecs
from .toolcall_formats.base import resolve_tool_name
from .toolcalls import coerce_arguments

FORMAT = "server"  # ToolCall.format of calls the server parsed
_MAX_ID = 64


@dataclass
class ServerTurn:
    """The calls of one answer: those we can run, and why the others cannot."""

    calls: list[ToolCall] = field(default_factory=list)
    # call id -> the error told to the model for a call that could not be read
    errors: dict[str, str] = field(default_factory=dict)
    # the calls as the history keeps them (OpenAI shape, arguments as a JSON object text)
    history: tuple[dict[str, Any], ...] = ()

    @property
    def ids(self) -> list[str]:
        return [str(c["id"]) for c in self.history]


def read_server_calls(raw_calls: Sequence[Any], specs: ToolSpecs) -> ServerTurn:
    """The server's `tool_calls` as ToolCalls; nothing in them is trusted: ids are made
    unique, a name that is no tool stays as written (running it reports the error), and
    arguments that are not a JSON object become an error for that call."""
    turn = ServerTurn()
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for n, item in enumerate(raw_calls):
        fn = item.get("function") if isinstance(item, Mapping) else None
        fn = fn if isinstance(fn, Mapping) else {}
        call_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(call_id, str) or not call_id or len(call_id) > _MAX_ID or call_id in seen:
            call_id = f"call_{n}"
            while call_id in seen:
                call_id += "_"
        seen.add(call_id)
        name = fn.get("name")
        name = name.strip() if isinstance(name, str) else ""
        args, problem = _arguments(fn.get("arguments"))
        if not name:
            problem = "the call has no function name"
        if problem is None and args is not None:
            resolved = resolve_tool_name(name, args, specs) or name
            clean = coerce_arguments(args, specs.get(resolved))
            raw = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
            turn.calls.append(ToolCall(resolved, clean, FORMAT, raw, id=call_id))
            text_args = json.dumps(clean, ensure_ascii=False)
        else:
            turn.errors[call_id] = f"error: your call of {name or 'a tool'} could not be read: {problem}"
            text_args = "{}"
        kept.append({"id": call_id, "type": "function",
                     "function": {"name": name[:200] or "unknown", "arguments": text_args}})
    turn.history = tuple(kept)
    return turn


def _arguments(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if value is None or value == "":
        return {}, None
    if isinstance(value, Mapping):
        return dict(value), None
    if not isinstance(value, str):
        return None, f"arguments must be a JSON object, not {type(value).__name__}"
    try:
        parsed = lenient_json.loads(value)
    except lenient_json.LenientJSONError as exc:
        return None, f"its arguments are not JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, "its arguments must be a JSON object"
    return parsed, None


def result_messages(turn: ServerTurn, executed: Sequence[ToolCall], outputs: Sequence[tuple[str, str]],
                    finishing: ToolCall | None, skipped_note: str) -> list[ChatMessage]:
    """One `tool` message per call id of the turn, in the order the server sent them.

    `outputs` are the step's results: one per executed call, in order, then extras
    (checks, notes, the finish verdict); the finish verdict answers the finish call,
    the other extras go at the end of the last message. A call that did not run (over
    the per-turn cap) is answered with `skipped_note`."""
    by_id: dict[str, str] = dict(turn.errors)
    for call, (_, out) in zip(executed, outputs, strict=False):
        by_id[call.id] = out
    extras: list[str] = []
    for name, out in outputs[len(executed):]:
        if name == "finish" and finishing is not None and finishing.id:
            by_id[finishing.id] = out
        else:
            extras.append(f"[{name}] {out}")
    if finishing is not None and finishing.id and finishing.id not in by_id:
        by_id[finishing.id] = "finish was not run: another call of this turn came first"
    messages: list[ChatMessage] = []
    for sent in turn.history:
        call_id = str(sent["id"])
        messages.append(ChatMessage("tool", by_id.get(call_id, skipped_note), name=str(sent["function"]["name"]),
                                    tool_call_id=call_id))
    if extras:
        if messages:
            last = messages[-1]
            messages[-1] = ChatMessage("tool", last.content + "\n\n" + "\n\n".join(extras), name=last.name,
                                       tool_call_id=last.tool_call_id)
        else:
            messages.append(ChatMessage("user", "\n\n".join(extras)))
    return messages


def text_history(messages: Sequence[ChatMessage], *, tool_role: bool) -> list[ChatMessage]:
    """A history written with server-parsed calls, as the text formats write it: each
    assistant call as a `<tool_call>` block in its text, each result as a `tool` message
    (when the chat template has that role) or `<tool_response>` blocks in a user turn."""
    out: list[ChatMessage] = []
    responses: list[str] = []

    def flush() -> None:
        if responses:
            out.append(ChatMessage("user", "\n".join(responses)))
            responses.clear()

    for m in messages:
        if m.role == "tool" and not tool_role:
            responses.append(f"<tool_response>\n[{m.name or 'tool'}] {m.content}\n</tool_response>")
            continue
        flush()
        if m.role == "assistant" and m.tool_calls:
            blocks = []
            for call in m.tool_calls:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {}
                blocks.append("<tool_call>\n" + json.dumps({"name": fn.get("name", ""), "arguments": args},
                                                          ensure_ascii=False) + "\n</tool_call>")
            text = "\n".join(part for part in (m.content.strip(), *blocks) if part)
            out.append(ChatMessage("assistant", text))
        elif m.role == "tool":
            out.append(ChatMessage("tool", m.content, name=m.name))
        else:
            out.append(m)
    flush()
    return out

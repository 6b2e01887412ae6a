"""The wire formats of remote engines: request bodies and streamed events.

Pure functions, no I/O: each backend's body is built from a GenerationRequest
and each streamed event is turned into a `Delta` (text, finish, usage), so
the formats are tested without a server.

- OpenAI-compatible (`openai`: vLLM, SGLang, llama.cpp's `/v1`, llama-cpp-python's
  server, LM Studio...): `POST /v1/completions` with the raw prompt, SSE
  `data: {...}` events ending in `data: [DONE]`; chat at `/v1/chat/completions`.
- llama.cpp server (`llama-server`): `POST /completion` (raw prompt) or `/infill`
  (a request's FIM parts: prefix, suffix, middle and extra files, formatted by the server), with
  `cache_prompt` and `id_slot`; SSE events `{"content", "stop", "timings"}`.
- Ollama (`ollama`): `POST /api/generate` with `raw: true`; NDJSON lines
  `{"response", "done", "eval_count", ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..base import GenerationRequest, GenerationStats
from ..fim import FimParts, FimTemplate

BACKENDS = ("openai", "llama-server", "ollama")


class MalformedStream(ValueError):
    """An event that is not what the backend's format promises."""


@dataclass
class Delta:
    """One streamed event, normalised."""

    text: str = ""
    done: bool = False
    finish: str = ""  # "stop", "length", "eos" ("" while streaming)
    raw_finish: str = ""  # the server's own word, e.g. "tool_calls"
    # prompt_tokens, prompt_eval_tokens, generated_tokens, prompt_seconds, generate_seconds
    stats: dict[str, float] = field(default_factory=dict)
    # chat only: partial tool calls as the server sends them
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""


# -- events -------------------------------------------------------------------------------
def payloads(lines: Iterable[bytes]) -> Iterator[str]:
    """JSON payloads from SSE (`data: ...`) or NDJSON lines; `[DONE]` passes through."""
    for raw in lines:
        line = raw.decode("utf-8", "replace").strip()
        if not line or line.startswith(":"):
            continue
        if line.startswith("data:"):
            yield line[5:].strip()
        elif line.startswith("error:"):
            yield json.dumps({"error": line[6:].strip()})
        elif line.startswith("{"):
            yield line
        elif line.split(":", 1)[0] in ("event", "id", "retry"):
            continue
        else:
            raise MalformedStream(line[:200])


def decode(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        raise MalformedStream(payload[:200]) from None
    if not isinstance(data, dict):
        raise MalformedStream(payload[:200])
    return data


def error_message(data: dict[str, Any]) -> str | None:
    """The error a server reports inside a stream, if any."""
    err = data.get("error")
    if err is None:
        return None
    if isinstance(err, dict):
        err = err.get("message") or json.dumps(err)
    if isinstance(err, str):
        try:
            inner = json.loads(err)
        except ValueError:
            return err
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    return str(err)


_FINISH = {"stop": "stop", "length": "length", "eos": "eos", "word": "stop", "limit": "length",
           "tool_calls": "stop", "content_filter": "stop", "load": "stop", "unload": "stop"}


def _usage_stats(data: dict[str, Any]) -> dict[str, float]:
    """Token counts and timings from OpenAI `usage` and llama.cpp `timings`."""
    out: dict[str, float] = {}
    usage = data.get("usage")
    if isinstance(usage, dict):
        if isinstance(usage.get("prompt_tokens"), int):
            out["prompt_tokens"] = usage["prompt_tokens"]
            out["prompt_eval_tokens"] = usage["prompt_tokens"]
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
                out["prompt_eval_tokens"] = usage["prompt_tokens"] - details["cached_tokens"]
        if isinstance(usage.get("completion_tokens"), int):
            out["generated_tokens"] = usage["completion_tokens"]
    timings = data.get("timings")
    if isinstance(timings, dict):
        evaluated = timings.get("prompt_n")
        cached = timings.get("cache_n")
        if isinstance(evaluated, int):
            out["prompt_eval_tokens"] = evaluated
            out["prompt_tokens"] = evaluated + (cached if isinstance(cached, int) else 0)
        if isinstance(timings.get("predicted_n"), int):
            out["generated_tokens"] = timings["predicted_n"]
        if isinstance(timings.get("prompt_ms"), int | float):
            out["prompt_seconds"] = timings["prompt_ms"] / 1000
        if isinstance(timings.get("predicted_ms"), int | float):
            out["generate_seconds"] = timings["predicted_ms"] / 1000
    # llama.cpp's native /completion: the prompt's size in tokens
    if "prompt_tokens" not in out and isinstance(data.get("tokens_evaluated"), int):
        out["prompt_tokens"] = data["tokens_evaluated"]
    return out


def _openai_choice(data: dict[str, Any]) -> tuple[Delta, dict[str, Any] | None]:
    """The usage and the first choice of an OpenAI-shaped event (finish filled in)."""
    choices = data.get("choices")
    delta = Delta(stats=_usage_stats(data))
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedStream(json.dumps(data)[:200])
        finish = choice.get("finish_reason")
        if finish:
            delta.finish = _FINISH.get(str(finish), "stop")
            delta.raw_finish = str(finish)
        return delta, choice
    if choices is None and not delta.stats:
        raise MalformedStream(json.dumps(data)[:200])
    return delta, None  # a usage-only event


def openai_completion_delta(data: dict[str, Any]) -> Delta:
    delta, choice = _openai_choice(data)
    if choice is not None:
        text = choice.get("text")
        delta.text = text if isinstance(text, str) else ""
    return delta


def openai_chat_delta(data: dict[str, Any]) -> Delta:
    delta, choice = _openai_choice(data)
    if choice is None:
        return delta
    part = choice.get("delta") or choice.get("message") or {}
    if not isinstance(part, dict):
        raise MalformedStream(json.dumps(data)[:200])
    content = part.get("content")
    delta.text = content if isinstance(content, str) else ""
    reasoning = part.get("reasoning_content") or part.get("reasoning")
    delta.reasoning = reasoning if isinstance(reasoning, str) else ""
    calls = part.get("tool_calls")
    if isinstance(calls, list):
        delta.tool_calls = [c for c in calls if isinstance(c, dict)]
    return delta


def llama_server_delta(data: dict[str, Any]) -> Delta:
    if "content" not in data and "stop" not in data:
        raise MalformedStream(json.dumps(data)[:200])
    content = data.get("content")
    delta = Delta(text=content if isinstance(content, str) else "", stats=_usage_stats(data))
    if data.get("stop"):
        delta.done = True
        kind = data.get("stop_type") or ("eos" if data.get("stopped_eos") else
                                         "limit" if data.get("stopped_limit") else "word")
        delta.finish = _FINISH.get(str(kind), "stop")
    return delta


def ollama_delta(data: dict[str, Any]) -> Delta:
    if "response" not in data and "done" not in data:
        raise MalformedStream(json.dumps(data)[:200])
    text = data.get("response")
    delta = Delta(text=text if isinstance(text, str) else "")
    if data.get("done"):
        delta.done = True
        delta.finish = _FINISH.get(str(data.get("done_reason") or "stop"), "stop")
        stats: dict[str, float] = {}
        if isinstance(data.get("prompt_eval_count"), int):
            stats["prompt_tokens"] = stats["prompt_eval_tokens"] = data["prompt_eval_count"]
        if isinstance(data.get("eval_count"), int):
            stats["generated_tokens"] = data["eval_count"]
        if isinstance(data.get("prompt_eval_duration"), int | float):
            stats["prompt_seconds"] = data["prompt_eval_duration"] / 1e9
        if isinstance(data.get("eval_duration"), int | float):
            stats["generate_seconds"] = data["eval_duration"] / 1e9
        delta.stats = stats
    return delta


def apply_stats(stats: GenerationStats, values: dict[str, float]) -> None:
    """Copy server-reported numbers into `stats` (the server knows its cache hits)."""
    for key in ("prompt_tokens", "prompt_eval_tokens", "generated_tokens"):
        if key in values:
            setattr(stats, key, int(values[key]))
    for key in ("prompt_seconds", "generate_seconds"):
        if key in values:
            setattr(stats, key, float(values[key]))


# -- request bodies -------------------------------------------------------------------------
def openai_completion_body(req: GenerationRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "prompt": req.prompt,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if req.stop:
        body["stop"] = list(req.stop)
    return body


def llama_server_body(req: GenerationRequest, slot_id: int, infill: FimTemplate | None = None
                      ) -> dict[str, Any]:
    """`/completion`'s body for the rendered prompt, or `/infill`'s for `req.fim` when the
    template to send it in is given (see `infill_supported`)."""
    body: dict[str, Any] = {
        "n_predict": req.max_tokens,
        "temperature": req.temperature,
        "stream": True,
        "cache_prompt": True,
        "id_slot": slot_id,
        "stop": list(req.stop),
    }
    if infill is None or req.fim is None:
        body["prompt"] = req.prompt
    else:
        body.update(infill_fields(req.fim, infill))
    return body


def ollama_body(req: GenerationRequest, model: str) -> dict[str, Any]:
    options: dict[str, Any] = {"num_predict": req.max_tokens, "temperature": req.temperature}
    if req.stop:
        options["stop"] = list(req.stop)
    return {"model": model, "prompt": req.prompt, "raw": True, "stream": True, "options": options}


def chat_body(model: str, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
              max_tokens: int, temperature: float, stop: tuple[str, ...],
              tool_choice: str | dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if stop:
        body["stop"] = list(stop)
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    return body


# -- tool calls ------------------------------------------------------------------------------
class ToolCallAccumulator:
    """Joins streamed tool-call fragments (`index`, partial `arguments`) into whole calls."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragments: list[dict[str, Any]]) -> None:
        for pos, frag in enumerate(fragments):
            index = frag.get("index", pos)
            if not isinstance(index, int):
                index = pos
            call = self._calls.setdefault(index, {"id": "", "type": "function",
                                                  "function": {"name": "", "arguments": ""}})
            if isinstance(frag.get("id"), str) and frag["id"]:
                call["id"] = frag["id"]
            fn = frag.get("function")
            if isinstance(fn, dict):
                name = fn.get("name")
                if isinstance(name, str) and name:
                    have = call["function"]["name"]
                    # OpenAI sends a name once; llama-cpp-python repeats it in every
                    # fragment, others send it whole again: only new text is added
                    if not have or not (name == have or name.startswith(have)):
                        call["function"]["name"] = have + name
                    elif name.startswith(have):
                        call["function"]["name"] = name
                args = fn.get("arguments")
                if isinstance(args, str):
                    call["function"]["arguments"] += args
                elif isinstance(args, dict):  # some servers send parsed objects
                    call["function"]["arguments"] += json.dumps(args)

    def calls(self) -> list[dict[str, Any]]:
        out = []
        for n, index in enumerate(sorted(self._calls)):
            call = self._calls[index]
            if not call["id"]:
                call["id"] = f"call_{n}"
            out.append(call)
        return out


# -- /infill ---------------------------------------------------------------------------------
def infill_supported(template: FimTemplate | None) -> bool:
    """llama.cpp's `/infill` needs the model's prefix, suffix and middle tokens, in that order."""
    return template is not None and template.psm and bool(template.middle)


def infill_fields(parts: FimParts, template: FimTemplate) -> dict[str, Any]:
    """`/infill`'s fields for a FIM prompt: llama.cpp's server formats the prompt itself
    with the model's own FIM tokens. Context files go in `input_extra` when the model
    has a repository format, else ahead of the prefix as Qwill renders them."""
    prefix = parts.prefix
    extra: list[dict[str, str]] = []
    if template.file_sep:
        extra = [{"filename": c.path, "text": c.text.rstrip() + "\n"} for c in parts.context]
    else:
        prefix = template.render_context(parts.context, repo=parts.repo, path=parts.path) + prefix
    return {"input_prefix": prefix, "input_suffix": parts.suffix, "prompt": parts.middle,
            "input_extra": extra}

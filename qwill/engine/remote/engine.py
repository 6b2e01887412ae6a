"""RemoteEngine: the Engine protocol over an existing serving engine.

Qwill keeps its prompts, context, post-processing and agent; only decoding
runs on the server. `generate` streams a raw (already templated) prompt
through the backend's completion endpoint; `chat` talks to
`/v1/chat/completions` for the agent and actions and returns the server's
native tool calls when it parses them. Both run on the EngineWorker thread
(a blocking client is right there) and stop within milliseconds of a cancel:
the cancel token shuts the socket down.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import __version__
from ..base import (
    CancelToken,
    ChatResult,
    EngineError,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    ProblemListener,
)
from ..chat import ChatMessage
from ..fim import UnsupportedModel, detect_template, find_template
from ..stops import StopMatcher
from . import wire
from .transport import Cancelled, Endpoint, HttpOptions, RemoteError, Response, Transport

log = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "QWILL_API_KEY"


@dataclass(frozen=True)
class RemoteOptions:
    """Everything a RemoteEngine needs; built from EngineSettings by the loader."""

    backend: str  # "openai" | "llama-server" | "ollama"
    url: str
    model: str = "default"  # "default": the first model the server lists
    api_key: str | None = None
    http: HttpOptions = field(default_factory=HttpOptions)
    slot_id: int = -1
    infill: bool = False
    fim_template: str = "auto"


def resolve_api_key(api_key: str | None, api_key_env: str | None) -> str | None:
    """The bearer token: the setting if given, else the named environment variable."""
    if api_key:
        return api_key
    name = api_key_env or DEFAULT_API_KEY_ENV
    value = os.environ.get(name, "").strip()
    return value or None


class RemoteEngine:
    """A model served elsewhere, behind the same contract as the in-process one."""

    # the server keeps its own cache; evaluating ahead would spend a request on it
    local_kv_cache = False
    # the server decodes; tool calls use its own tool-call support (`chat` with `tools`)
    supports_grammar = False

    def __init__(self, options: RemoteOptions, *, probe: bool = True) -> None:
        if options.backend not in wire.BACKENDS:
            raise EngineError(f"unknown remote backend '{options.backend}' "
                              f"(known: {', '.join(wire.BACKENDS)})")
        self.options = options
        self.endpoint = Endpoint.parse(options.url)
        try:
            self.transport = Transport(self.endpoint, options.http, api_key=options.api_key,
                                       user_agent=f"qwill/{__version__}")
        except ssl.SSLError as exc:  # pragma: no cover - context creation itself failed
            raise EngineError(f"TLS set-up failed: {exc}") from None
        self.model = options.model
        self.served_models: list[str] = []
        self.context_length: int | None = None
        self._tokenize_path: str | bool | None = False  # False: not probed yet; None: none works
        # Told about failures of the server (a message) and the first success after one
        # (None); called on the engine thread. Session turns this into the model status.
        self.problem_listeners: list[ProblemListener] = []
        self.problem: str | None = None
        if probe:
            self.probe()
        self.info = self._make_info()
        self.fim = find_template(self.info.fim_template)

    # -- discovery -------------------------------------------------------------------------
    def probe(self) -> None:
        """Ask the server which models it serves; pick ours; raise a clear error if unusable."""
        if self.options.backend == "ollama":
            data = self.transport.get_json("/api/tags")
            models = data.get("models") if isinstance(data, dict) else None
            names = [m.get("name") or m.get("model") for m in models or [] if isinstance(m, dict)]
        else:
            data = self.transport.get_json("/v1/models")
            entries = data.get("data") if isinstance(data, dict) else None
            names = [m.get("id") for m in entries or [] if isinstance(m, dict)]
            for m in entries or []:
                if isinstance(m, dict):
                    ctx = m.get("max_model_len") or (m.get("meta") or {}).get("n_ctx_train")
                    if isinstance(ctx, int) and m.get("id") in (self.model, names[0] if names else None):
                        self.context_length = ctx
        self.served_models = [str(n) for n in names if n]
        if self.model in ("", "default"):
            if not self.served_models:
                raise RemoteError(f"{self.endpoint.display} serves no model; load one on the server "
                                  "or set engine.model")
            self.model = self.served_models[0]
        elif self.served_models and self.model not in self.served_models and (
                self.options.backend != "llama-server"):
            raise RemoteError(
                f"{self.endpoint.display} does not serve '{self.model}'; it serves: "
                f"{', '.join(self.served_models[:10])}. Set engine.model to one of them "
                "(or to `default` for the first)")

    def _make_info(self) -> ModelInfo:
        fim = self.options.fim_template
        if fim in ("", "auto"):
            try:
                fim = detect_template((), name=self.model).name
            except UnsupportedModel:
                fim = ""
        return ModelInfo(
            name=self.model,
            path=self.endpoint.display,
            architecture=f"remote:{self.options.backend}",
            file_size=0,
            context_length=self.context_length,
            parameters=0,
            fim_template=fim,
            extra={"backend": self.options.backend, "url": self.endpoint.display,
                   "served_models": ", ".join(self.served_models[:10])},
        )

    # -- generation ------------------------------------------------------------------------
    def _completion_call(self, request: GenerationRequest
                         ) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], wire.Delta]]:
        backend = self.options.backend
        if backend == "openai":
            return ("/v1/completions", wire.openai_completion_body(request, self.model),
                    wire.openai_completion_delta)
        if backend == "ollama":
            return "/api/generate", wire.ollama_body(request, self.model), wire.ollama_delta
        infill = (self.fim if self.options.infill and request.fim is not None
                  and wire.infill_supported(self.fim) else None)
        path = "/infill" if infill is not None else "/completion"
        return path, wire.llama_server_body(request, self.options.slot_id, infill), wire.llama_server_delta

    def _deltas(self, resp: Response, parse: Callable[[dict[str, Any]], wire.Delta],
                url: str) -> Iterator[wire.Delta]:
        """Parsed events of a stream; stream errors become clear RemoteErrors."""
        for payload in wire.payloads(resp.lines()):
            if payload == "[DONE]":
                return
            data = wire.decode(payload)
            problem = wire.error_message(data)
            if problem is not None:
                raise RemoteError(f"{url} reported an error mid-stream: "
                                  f"{self.transport.redact(problem)[:300]}")
            yield parse(data)

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> Iterator[str]:
        request = request.rendered(self.fim)
        path, body, parse = self._completion_call(request)
        matcher = StopMatcher(request.stop)
        first_at: list[float] = []
        server_stats: dict[str, float] = {}
        t0 = time.perf_counter()
        stats.stop_reason = "length"
        pending: list[str] = []  # what on_delta lets out, yielded after each event

        def on_delta(delta: wire.Delta) -> bool:
            server_stats.update(delta.stats)
            if delta.finish:
                stats.stop_reason = delta.finish
            if delta.text:
                stats.generated_tokens += 1
                piece = matcher.feed(delta.text)
                if piece:
                    if not first_at:
                        first_at.append(time.perf_counter())
                        stats.prompt_seconds = first_at[0] - t0
                    pending.append(piece)
                if matcher.stopped:
                    stats.stop_reason = "stop"
                    return False
                if request.time_budget and first_at and (
                        time.perf_counter() - first_at[0] > request.time_budget):
                    stats.stop_reason = "time"
                    return False
            return True

        answered: list[float] = []
        try:
            yield from self._pump(path, body, parse, cancel, on_delta, pending, answered)
        finally:
            # also when the consumer stops early (the generator is closed at a yield)
            stats.prompt_seconds = (first_at[0] - t0) if first_at else time.perf_counter() - t0
            stats.generate_seconds = time.perf_counter() - (first_at[0] if first_at else t0)
            generated = stats.generated_tokens
            wire.apply_stats(stats, server_stats)
            if stats.stop_reason in ("stop", "time") and stats.generated_tokens > generated:
                stats.generated_tokens = generated  # we closed early; the server counted on
            if cancel.cancelled:
                stats.stop_reason = "cancelled"
        if cancel.cancelled:
            return
        tail = matcher.flush()
        if tail:
            yield tail

    def _set_problem(self, problem: str | None) -> None:
        if problem == self.problem:
            return
        self.problem = problem
        if problem:
            log.warning("remote engine: %s", problem)
        for listener in list(self.problem_listeners):
            try:
                listener(problem)
            except Exception:  # pragma: no cover - a listener must not break generation
                log.exception("problem listener failed")

    def _pump(self, path: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], wire.Delta],
              cancel: CancelToken, on_delta: Callable[[wire.Delta], bool],
              pending: list[str], answered: list[float] | None = None) -> Iterator[str]:
        try:
            yield from self._pump_raw(path, body, parse, cancel, on_delta, pending, answered)
        except RemoteError as exc:
            self._set_problem(str(exc))
            raise
        if answered is None or answered:
            self._set_problem(None)

    def _pump_raw(self, path: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], wire.Delta],
                  cancel: CancelToken, on_delta: Callable[[wire.Delta], bool],
                  pending: list[str], answered: list[float] | None = None) -> Iterator[str]:
        """POST `path` and stream it: each event goes to `on_delta` (False: stop), then
        the pieces it queued in `pending` are yielded. Every failure becomes a
        RemoteError whose message tells the user what happened; a cancel ends quietly.
        """
        url = f"{self.endpoint.display}{path}"
        try:
            resp = self.transport.open("POST", path, body, cancel)
        except Cancelled:
            return
        if answered is not None:
            answered.append(time.perf_counter())
        events = 0
        try:
            for delta in self._deltas(resp, parse, url):
                events += 1
                keep_going = on_delta(delta)
                while pending:
                    yield pending.pop(0)
                if cancel.cancelled or not keep_going or delta.done:
                    break
            else:
                if events == 0 and not cancel.cancelled:
                    raise RemoteError(f"{url} answered with an empty stream; is engine.backend "
                                      f"('{self.options.backend}') right for this server?")
        except wire.MalformedStream as exc:
            if cancel.cancelled:
                return
            raise RemoteError(
                f"{url} sent a malformed stream ({self.transport.redact(str(exc))[:120]!r}); "
                f"is engine.backend ('{self.options.backend}') right for this server?") from None
        except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
            if cancel.cancelled:
                return
            if isinstance(exc, TimeoutError):
                raise RemoteError(f"{url} stopped sending for {self.options.http.read_timeout:g} s "
                                  "(engine.readTimeout)") from None
            raise RemoteError(f"the stream from {url} broke off after {events} events "
                              f"({self.transport.redact(str(exc) or type(exc).__name__)})") from None
        finally:
            resp.close()

    # -- chat ------------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        stop: tuple[str, ...] = (),
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """One assistant turn through `/v1/chat/completions` (streamed, cancellable).

        `messages` are ChatMessages or dicts in OpenAI shape.
        Tool calls come back in OpenAI shape when the server parses them natively;
        otherwise they stay in `text` for Qwill's own parsers.
        """
        token = cancel or CancelToken()
        msgs = [m.as_dict() if isinstance(m, ChatMessage) else dict(m) for m in messages]
        body = wire.chat_body(self.model, msgs, tools=list(tools) if tools else None,
                              max_tokens=max_tokens, temperature=temperature, stop=stop,
                              tool_choice=tool_choice)
        stats = GenerationStats()
        text: list[str] = []
        reasoning: list[str] = []
        calls = wire.ToolCallAccumulator()
        finish = [""]
        server_stats: dict[str, float] = {}
        t0 = time.perf_counter()

        def on_delta(delta: wire.Delta) -> bool:
            server_stats.update(delta.stats)
            if delta.raw_finish:
                finish[0] = delta.raw_finish
            if delta.text:
                stats.generated_tokens += 1
                text.append(delta.text)
                if on_text is not None:
                    on_text(delta.text)
            if delta.reasoning:
                reasoning.append(delta.reasoning)
            if delta.tool_calls:
                calls.add(delta.tool_calls)
            return True

        answered: list[float] = []
        for _ in self._pump("/v1/chat/completions", body, wire.openai_chat_delta, token, on_delta,
                            [], answered):
            pass
        stats.prompt_seconds = (answered[0] if answered else time.perf_counter()) - t0
        stats.generate_seconds = time.perf_counter() - (answered[0] if answered else t0)
        wire.apply_stats(stats, server_stats)
        if token.cancelled:
            stats.stop_reason = "cancelled"
            finish[0] = "cancelled"
        else:
            stats.stop_reason = wire._FINISH.get(finish[0], "stop") if finish[0] else "eos"
        return ChatResult("".join(text), calls.calls(), finish[0] or "stop", stats, "".join(reasoning))

    # -- tokens ----------------------------------------------------------------------------
    _TOKENIZE = (("/tokenize", "content"), ("/extras/tokenize", "input"), ("/tokenize", "prompt"))

    def tokenize(self, text: str) -> list[int]:
        """Token ids from the server's tokenizer when it has an endpoint for it.

        llama.cpp's server (`/tokenize`), llama-cpp-python's (`/extras/tokenize`) and vLLM
        (`/tokenize`) have one; otherwise (Ollama, hosted APIs) an estimate of one
        id per ~4 characters, enough for budgeting.
        """
        if self._tokenize_path is not None and self.options.backend != "ollama":
            candidates = self._TOKENIZE if self._tokenize_path is False else [
                c for c in self._TOKENIZE if f"{c[0]}#{c[1]}" == self._tokenize_path]
            for path, key in candidates:
                body: dict[str, Any] = {key: text}
                if key == "prompt":
                    body["model"] = self.model
                try:
                    data = self.transport.post_json(path, body)
                except EngineError:
                    continue
                tokens = data.get("tokens") if isinstance(data, dict) else None
                if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens):
                    self._tokenize_path = f"{path}#{key}"
                    return list(tokens)
            self._tokenize_path = None
        return [hash(p) & 0xFFFF for p in _ESTIMATE.findall(text)]

    def close(self) -> None:
        """Nothing is held open between requests."""


_ESTIMATE = re.compile(r"\s*[A-Za-z]{1,4}|\s*\d{1,3}|\s*[^\sA-Za-z\d]|\s+")


def probe_endpoint(options: RemoteOptions) -> dict[str, Any]:
    """What `qwill doctor` shows: reachability, served models, the chosen one, FIM format."""
    t0 = time.perf_counter()
    engine = RemoteEngine(options)
    return {
        "url": engine.endpoint.display,
        "backend": options.backend,
        "model": engine.model,
        "served_models": engine.served_models,
        "context_length": engine.context_length,
        "fim_template": engine.info.fim_template,
        "auth": "bearer token set" if engine.transport.has_api_key else "none",
        "seconds": round(time.perf_counter() - t0, 3),
    }

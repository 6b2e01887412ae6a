"""Keystroke -> suggestion: window, prompt, generation, post-processing, caches.

No protocol types here: the LSP layer converts positions to offsets and the
result back. A newer request for the same document cancels the older one; a
user typing into the suggestion already shown gets the rest without a model
call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import CompletionSettings
from ..engine.base import CancelToken, EngineError, GenerationRequest, GenerationStats
from ..engine.worker import EngineWorker
from .fim_templates import ContextFile, FimTemplate
from .postprocess import Shape, cut_to_shape, decide_shape, finish
from .prompt import Window, build_prompt, make_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletionRequest:
    uri: str
    text: str
    offset: int
    path: str | None = None
    language_id: str = ""
    invoked: bool = False
    # An item selected in the editor's completion popup: (start, end, text).
    selected: tuple[int, int, str] | None = None


@dataclass
class Suggestion:
    """Text to insert at [start, end) of the document (offsets)."""

    text: str
    start: int
    end: int
    source: str = "model"  # "model", "typed-through"
    seconds: float = 0.0
    stats: GenerationStats = field(default_factory=GenerationStats)
    prompt: str = ""


@dataclass
class _Shown:
    uri: str
    prefix_text: str  # document text before the cursor when it was shown
    suffix_text: str  # document text after the cursor
    text: str


class CompletionService:
    def __init__(self, worker: EngineWorker, settings: CompletionSettings,
                 template: FimTemplate | None = None) -> None:
        self.worker = worker
        self.settings = settings
        self.template = template
        self._inflight: dict[str, CancelToken] = {}
        self._shown: dict[str, _Shown] = {}
        self.requests = 0
        self.model_calls = 0

    @property
    def ready(self) -> bool:
        return self.template is not None and self.worker.engine is not None

    def cancel_document(self, uri: str, reason: str = "superseded") -> None:
        token = self._inflight.pop(uri, None)
        if token is not None:
            token.cancel(reason)

    def forget(self, uri: str) -> None:
        self.cancel_document(uri, "closed")
        self._shown.pop(uri, None)

    def _typed_through(self, req: CompletionRequest) -> Suggestion | None:
        shown = self._shown.get(req.uri)
        if shown is None:
            return None
        before, after = req.text[: req.offset], req.text[req.offset:]
        if after != shown.suffix_text or not before.startswith(shown.prefix_text):
            return None
        typed = before[len(shown.prefix_text):]
        if not shown.text.startswith(typed) or len(typed) >= len(shown.text):
            return None
        rest = shown.text[len(typed):]
        return Suggestion(rest, req.offset, req.offset, source="typed-through")

    def _context(self, req: CompletionRequest, window: Window) -> Sequence[ContextFile]:
        return ()

    async def complete(self, req: CompletionRequest, cancel: CancelToken | None = None) -> Suggestion | None:
        """The suggestion for `req`, or None (not ready, nothing sensible, cancelled)."""
        self.requests += 1
        self.cancel_document(req.uri)
        if not self.settings.enabled or not self.ready:
            return None
        t0 = time.perf_counter()
        hit = self._typed_through(req)
        if hit is not None:
            hit.seconds = time.perf_counter() - t0
            return hit
        token = cancel or CancelToken()
        self._inflight[req.uri] = token
        try:
            result = await self._generate(req, token)
        finally:
            if self._inflight.get(req.uri) is token:
                del self._inflight[req.uri]
        if result is not None:
            result.seconds = time.perf_counter() - t0
            self._shown[req.uri] = _Shown(req.uri, req.text[: req.offset], req.text[req.offset:],
                                          result.text)
        return result

    async def _generate(self, req: CompletionRequest, token: CancelToken) -> Suggestion | None:
        assert self.template is not None
        s = self.settings
        window = make_window(req.text, req.offset, s.lines_before, s.lines_after)
        shape = decide_shape(window.line_prefix, window.line_suffix, allow_multiline=s.multiline)
        prompt = build_prompt(self.template, window, path=req.path,
                              context=self._context(req, window))
        stops = self.template.stop + (("\n",) if not shape.multiline else ())
        gen = GenerationRequest(prompt=prompt, max_tokens=s.max_tokens, stop=stops,
                                temperature=s.temperature, time_budget=1.5)
        stats = GenerationStats()
        raw = ""
        self.model_calls += 1
        stream = self.worker.generate(gen, token, stats)
        try:
            async for piece in stream:
                raw += piece
                if "\n" in piece and _unit_complete(raw, shape):
                    token.cancel("unit complete")
                    break
        except asyncio.CancelledError:
            token.cancel("request cancelled")
            raise
        except EngineError as exc:
            log.warning("completion failed: %s", exc)
            return None
        finally:
            await stream.aclose()
        if token.cancelled and token.reason not in ("unit complete",):
            log.info("completion for %s cancelled (%s)", req.uri, token.reason)
            return None
        text = finish(raw, shape, window.suffix)
        log.info("completion raw=%r text=%r stop=%s", raw, text, stats.stop_reason)
        if not text:
            return None
        end = req.offset
        return Suggestion(text, req.offset, end, stats=stats, prompt=prompt)


def _unit_complete(raw: str, shape: Shape) -> bool:
    _, cut = cut_to_shape(raw, shape)
    return cut

"""Keystroke -> suggestion: plan, prompt, generate, post-process, cache.

No protocol types here: the LSP layer converts positions to offsets and the
result back. In order of cost, a request is answered by
1. typed-through: the user typed the start of the suggestion on screen;
2. the LRU of recent suggestions by context (undo, retype, speculation);
3. joining a generation still running for the same place, when the new text
   extends it (a generation whose requests were all cancelled keeps running for
   ABANDONED_GRACE seconds, so the request that follows at once, the next keystroke
   or the editor asking again, joins it instead of starting over);
4. the model, with a prompt anchored so that typing only appends tokens
   (kv_planner), cancelling what the new request supersedes. The prompt goes to
   the engine as FIM parts (window, typed middle, context blocks from the injected
   `ContextSource`); the engine renders them in its model's format.
After answering, while the user reads, the service speculates: it computes the
suggestion that follows if this one is accepted, so accepting and continuing
costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol

from ..config import CompletionSettings
from ..context.provider import ContextResult
from ..engine.base import CancelToken, EngineError, GenerationRequest, GenerationStats
from ..engine.fim import ContextFile, FimParts
from ..engine.worker import EngineWorker
from .caches import Shown, SuggestionLRU, context_key, shown_at, typed_through
from .kv_planner import Anchor, Plan, PlannerLimits, new_anchor, plan
from .postprocess import Shape, cut_to_shape, finish_steps
from .prompt import Window
from .syntax_rules import check_parse, syntax_shape

log = logging.getLogger(__name__)

# Seconds a generation whose every request was cancelled keeps running for a new one to
# join. Editors cancel for reasons that are not "the user went elsewhere": a keystroke
# (whose request follows within milliseconds) and VS Code's quick suggestions, which wait
# 750 ms for inline completions, then cancel them and ask the suggest widget instead (the
# extension asks again). Past this, with no one waiting, the model is stopped.
ABANDONED_GRACE = 0.3


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


class ContextSource(Protocol):
    """Repository context for a prompt (qwill.context.provider.ContextProvider)."""

    def build(self, uri: str, text: str, offset: int, window_start: int, window_end: int, *,
              path: str | None = None, language_id: str = "", record: bool = True) -> ContextResult:
        """The context blocks for a prompt at `offset` whose window is [window_start, window_end)."""
        ...

    def display_path(self, path: str | None) -> str | None:
        """`path` as context blocks name files (relative to the workspace)."""
        ...


@dataclass
class Suggestion:
    """Text to insert at [start, end) of the document (offsets)."""

    text: str
    start: int
    end: int
    source: str = "model"  # "model", "typed-through", "cache", "joined"
    seconds: float = 0.0
    stats: GenerationStats = field(default_factory=GenerationStats)
    # the prompt the model was given (the engine renders it: `engine.fim.render_parts`)
    fim: FimParts | None = None


@dataclass
class Counters:
    requests: int = 0
    typed_through: int = 0
    cache_hits: int = 0
    joined: int = 0
    model_calls: int = 0
    reanchors: int = 0
    speculations: int = 0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    # Where answers are lost, by stage, for the model calls made for the user's requests
    # (speculation is counted in `speculations` only): each such call ends in `answered`
    # or in exactly one empty_* counter other than empty_joined.
    answered: int = 0  # model calls that produced a suggestion
    empty_superseded: int = 0  # cancelled: a newer keystroke, $/cancelRequest, shutdown
    empty_error: int = 0  # the engine failed
    empty_model: int = 0  # the model wrote only whitespace (or stopped at once)
    empty_shape: int = 0  # nothing left after the cut to one line / the block
    empty_overlap: int = 0  # all of it repeated the text after the cursor
    empty_parse: int = 0  # the parse check dropped it
    empty_joined: int = 0  # a joined generation left nothing beyond what was typed
    cut_overlap: int = 0  # text the suffix already has removed from a suggestion
    cut_parse: int = 0  # the parse check shortened a suggestion
    cut_time: int = 0  # the time budget ended the generation (an unfinished line dropped)
    # the single-line / block decision at the cursor
    shape_single: int = 0
    shape_block: int = 0
    # why generation stopped: the unit (line/block) was complete, the FIM format's stop
    # strings, end of generation, max_tokens
    stop_unit: int = 0
    stop_string: int = 0
    stop_eos: int = 0
    stop_length: int = 0
    # model calls with text typed since the anchor after the middle marker (anchored
    # layout), and how many characters of it
    middle_requests: int = 0
    middle_chars: int = 0
    # suggestions sent to an editor, and those it reported accepted (the item's command)
    shown: int = 0
    accepted: int = 0


@dataclass
class _Flight:
    """A generation running for one place in one document."""

    uri: str
    offset: int
    before: str
    after: str
    token: CancelToken
    future: asyncio.Future[Suggestion | None]
    raw: str = ""
    waiters: int = 1
    task: asyncio.Future[None] | None = None


class CompletionService:
    def __init__(self, worker: EngineWorker, settings: CompletionSettings,
                 context: ContextSource | None = None) -> None:
        self.worker = worker
        self.settings = settings
        self.context = context
        self.counters = Counters()
        self.speculate = True
        self._anchors: dict[str, tuple[Anchor, tuple[ContextFile, ...]]] = {}
        self._flights: dict[str, _Flight] = {}
        self._shown: dict[str, Shown] = {}
        self._lru = SuggestionLRU()
        self._spec_token: CancelToken | None = None
        self._spec_task: asyncio.Future[None] | None = None

    # -- state -------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """A model is loaded and it can fill in the middle."""
        engine = self.worker.engine
        return engine is not None and engine.fim is not None

    @property
    def requests(self) -> int:
        return self.counters.requests

    @property
    def model_calls(self) -> int:
        return self.counters.model_calls

    def _limits(self, invoked: bool = False) -> PlannerLimits:
        s = self.settings
        if invoked:
            # an explicit request waits for its answer: the longer window it gets is evaluated
            # once, and the keystrokes after it keep using that anchor
            return PlannerLimits(max(s.lines_before, s.invoked_lines_before),
                                 max(s.lines_after, s.invoked_lines_after),
                                 max(s.window_tokens, s.invoked_window_tokens),
                                 heal=s.invoked_token_healing)
        return PlannerLimits(s.lines_before, s.lines_after, s.window_tokens)

    def cancel_document(self, uri: str, reason: str = "superseded") -> None:
        flight = self._flights.pop(uri, None)
        if flight is not None:
            flight.token.cancel(reason)

    def _cancel_speculation(self) -> None:
        if self._spec_token is not None:
            self._spec_token.cancel("user activity")
            self._spec_token = None

    def cancel_all(self, reason: str = "shutting down") -> None:
        """Stop every generation and the idle work (before the engine goes away)."""
        for uri in list(self._flights):
            self.cancel_document(uri, reason)
        self._cancel_speculation()

    def forget(self, uri: str) -> None:
        self.cancel_document(uri, "closed")
        self._shown.pop(uri, None)
        self._anchors.pop(uri, None)

    def _context(self, req: CompletionRequest, window: Window) -> tuple[ContextFile, ...]:
        """Repository context blocks for a new anchor (stable until the next one)."""
        if self.context is None:
            return ()
        result = self.context.build(req.uri, req.text, req.offset, window.start, window.end,
                                    path=req.path, language_id=req.language_id)
        return tuple(ContextFile(b.path, b.text) for b in result.files)

    # -- the request path ----------------------------------------------------------
    async def complete(self, req: CompletionRequest, cancel: CancelToken | None = None) -> Suggestion | None:
        """The suggestion for `req`, or None (not ready, nothing sensible, cancelled)."""
        if req.selected is not None:
            return await self._complete_selected(req, cancel)
        self.counters.requests += 1
        if not self.settings.enabled or not self.ready:
            return None
        t0 = time.perf_counter()
        rest = typed_through(self._shown.get(req.uri), req.uri, req.text, req.offset)
        if rest is not None:
            self.counters.typed_through += 1
            self.cancel_document(req.uri)
            return Suggestion(rest, req.offset, req.offset, source="typed-through",
                              seconds=time.perf_counter() - t0)
        cached = self._lru.get(context_key(req.uri, req.text, req.offset))
        if cached is not None:
            self.counters.cache_hits += 1
            self.cancel_document(req.uri)
            self._remember(req, cached)
            return Suggestion(cached, req.offset, req.offset, source="cache",
                              seconds=time.perf_counter() - t0)
        joined = await self._join(req)
        if joined is not None:
            joined.seconds = time.perf_counter() - t0
            return joined
        self.cancel_document(req.uri)
        self._cancel_speculation()
        flight = self._start(req, cancel or CancelToken())
        try:
            result = await asyncio.shield(flight.future)
        except asyncio.CancelledError:
            self._leave(flight)
            raise
        if result is None:
            return None
        result.seconds = time.perf_counter() - t0
        return result

    async def _complete_selected(self, req: CompletionRequest, cancel: CancelToken | None) -> Suggestion | None:
        """The editor's completion popup has an item selected: the suggestion must
        start with that item's text and replace the range the item would replace."""
        assert req.selected is not None
        start, end, chosen = req.selected
        if not (0 <= start <= end <= len(req.text)) or end > req.offset + len(chosen):
            return None
        text = req.text[:start] + chosen + req.text[end:]
        inner = CompletionRequest(req.uri, text, start + len(chosen), req.path, req.language_id,
                                  req.invoked)
        s = await self.complete(inner, cancel)
        if s is None:
            return Suggestion(chosen, start, req.offset, source="selected") if chosen else None
        return Suggestion(chosen + s.text, start, req.offset, source=s.source, seconds=s.seconds,
                          stats=s.stats, fim=s.fim)

    async def _join(self, req: CompletionRequest) -> Suggestion | None:
        """Wait for a running generation the new text extends, and use its rest."""
        flight = self._flights.get(req.uri)
        if flight is None or flight.future.done():
            return None
        n = req.offset - flight.offset
        if n < 0 or req.text[req.offset:req.offset + len(flight.after)] != flight.after:
            return None
        typed = req.text[flight.offset:req.offset]
        if not (flight.raw.startswith(typed) or typed.startswith(flight.raw)):
            return None
        if req.text[max(0, flight.offset - len(flight.before)):flight.offset] != flight.before:
            return None
        flight.waiters += 1
        try:
            result = await asyncio.shield(flight.future)
        except asyncio.CancelledError:
            self._leave(flight)
            raise
        if result is None or not result.text.startswith(typed) or len(result.text) <= n:
            return None
        self.counters.joined += 1
        rest = result.text[n:]
        if not rest.strip():
            self.counters.empty_joined += 1
            return None
        return Suggestion(rest, req.offset, req.offset, source="joined", stats=result.stats)

    def _leave(self, flight: _Flight) -> None:
        """A request waiting for `flight` was cancelled: the last one to go stops the
        model, unless another request joins within ABANDONED_GRACE seconds."""
        flight.waiters -= 1
        if flight.waiters > 0 or flight.future.done():
            return

        def stop_if_abandoned() -> None:
            if flight.waiters <= 0 and not flight.future.done():
                flight.token.cancel("request cancelled")

        asyncio.get_running_loop().call_later(ABANDONED_GRACE, stop_if_abandoned)

    def _start(self, req: CompletionRequest, token: CancelToken) -> _Flight:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Suggestion | None] = loop.create_future()
        flight = _Flight(req.uri, req.offset, req.text[max(0, req.offset - 200):req.offset],
                         req.text[req.offset:req.offset + 200], token, fut)
        self._flights[req.uri] = flight

        async def run() -> None:
            try:
                result = await self._generate(req, token, flight)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.set_result(None)
                return
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                return
            finally:
                if self._flights.get(req.uri) is flight:
                    del self._flights[req.uri]
            if result is not None:
                self._remember(req, result.text)
                self._lru.put(context_key(req.uri, req.text, req.offset), result.text)
                self._schedule_speculation(req, result.text)
            if not fut.done():
                fut.set_result(result)

        flight.task = asyncio.ensure_future(run())
        return flight

    def _remember(self, req: CompletionRequest, text: str) -> None:
        self._shown[req.uri] = shown_at(req.uri, req.text, req.offset, text)

    # -- planning and generation -----------------------------------------------------
    def _plan(self, req: CompletionRequest, *, commit: bool = True) -> tuple[Plan, tuple[ContextFile, ...]]:
        """Reuse the document's anchor or make a new one (stored unless `commit` is off,
        as for speculation, which must not move the anchor the user's next keystroke uses)."""
        previous = self._anchors.get(req.uri)
        limits = self._limits(req.invoked)
        anchor = previous[0] if previous else None
        if req.invoked and anchor is not None and anchor.window_start > new_anchor(
                req.uri, req.text, anchor.at, limits).window_start:
            anchor = None  # anchored for typing: an explicit request sees the longer window
        p = plan(req.uri, req.text, req.offset, anchor, limits)
        if p.reanchored:
            context = self._context(req, p.window(req.offset))
            if commit:
                self.counters.reanchors += 1
                self._anchors[req.uri] = (p.anchor, context)
            return p, context
        assert previous is not None
        return p, previous[1]

    def _prompt(self, req: CompletionRequest, p: Plan, context: tuple[ContextFile, ...]) -> FimParts:
        a = p.anchor
        # Context blocks name files relative to the workspace; the current file too.
        path = self.context.display_path(req.path) if self.context is not None and context else req.path
        return FimParts(a.prefix, a.suffix, middle=p.middle, path=path, context=context)

    async def _generate(self, req: CompletionRequest, token: CancelToken,
                        flight: _Flight | None = None, *, commit: bool = True,
                        shape: Shape | None = None) -> Suggestion | None:
        s = self.settings
        p, context = self._plan(req, commit=commit)
        if shape is None:
            shape = syntax_shape(req.text, req.offset, req.language_id, req.path,
                                 allow_multiline=s.multiline)
        prompt = self._prompt(req, p, context)
        c = self.counters if commit else Counters()  # speculation: counted apart
        if shape.multiline:
            c.shape_block += 1
        else:
            c.shape_single += 1
        if p.middle:
            c.middle_requests += 1
            c.middle_chars += len(p.middle)
        # No newline stop for one-line shapes: when the line is already complete the
        # model's first token is a newline and the next line is the suggestion. (The
        # engine adds its FIM format's own stops.)
        gen = GenerationRequest(fim=prompt, max_tokens=s.max_tokens, temperature=s.temperature,
                                kv_shift=s.kv_shift)
        # Automatic suggestions get `time_budget` seconds after their first line.
        budget = 0.0 if req.invoked else s.time_budget
        first_line_at: float | None = None
        stats = GenerationStats()
        raw = ""
        self.counters.model_calls += 1
        stream: AsyncGenerator[str, None] = self.worker.generate(gen, token, stats)
        try:
            async for piece in stream:
                raw += piece
                if flight is not None:
                    flight.raw = raw
                if "\n" in piece:
                    if _unit_complete(raw, shape):
                        token.cancel("unit complete")
                        break
                    if first_line_at is None and raw.split("\n", 1)[0].strip():
                        first_line_at = time.perf_counter()
                if budget and first_line_at is not None and time.perf_counter() - first_line_at > budget:
                    token.cancel("unit complete")  # out of time: keep what is whole
                    raw = raw[: raw.rfind("\n")] if "\n" in raw else raw
                    c.cut_time += 1
                    break
        except EngineError as exc:
            log.warning("completion failed: %s", exc)
            c.empty_error += 1
            return None
        finally:
            await stream.aclose()
        self.counters.prompt_tokens += stats.prompt_tokens
        self.counters.evaluated_tokens += stats.prompt_eval_tokens
        if token.cancelled and token.reason != "unit complete":
            log.debug("completion for %s cancelled (%s)", req.uri, token.reason)
            c.empty_superseded += 1
            return None
        if token.cancelled:
            c.stop_unit += 1
        elif stats.stop_reason == "stop":
            c.stop_string += 1
        elif stats.stop_reason == "eos":
            c.stop_eos += 1
        elif stats.stop_reason == "length":
            c.stop_length += 1
        done = finish_steps(raw, shape, req.text[req.offset:req.offset + len(p.anchor.suffix)])
        text = done.text
        if not raw.strip():
            c.empty_model += 1
        elif not done.shaped:
            c.empty_shape += 1
        elif not text:
            c.empty_overlap += 1
        elif done.overlap_removed:
            c.cut_overlap += 1
        if text:
            checked = check_parse(req.text, req.offset, text, req.language_id, req.path).text
            if not checked:
                c.empty_parse += 1
            elif checked != text:
                c.cut_parse += 1
            text = checked
        log.debug("completion raw=%r text=%r stop=%s", raw, text, stats.stop_reason)
        if not text:
            return None
        c.answered += 1
        return Suggestion(text, req.offset, req.offset, stats=stats, fim=prompt)

    # -- idle work ---------------------------------------------------------------------
    def _schedule_speculation(self, req: CompletionRequest, text: str) -> None:
        """Compute the suggestion that follows `text` once the user accepts it."""
        if not self.speculate or text.count("\n") > 4:
            return
        self._cancel_speculation()
        token = CancelToken()
        self._spec_token = token
        accepted = req.text[: req.offset] + text + req.text[req.offset:]
        nxt = CompletionRequest(req.uri, accepted, req.offset + len(text), req.path,
                                req.language_id)

        async def run() -> None:
            await asyncio.sleep(0)  # let the answer go out first
            if token.cancelled:
                return
            self.counters.speculations += 1
            result = await self._generate(nxt, token, commit=False, shape=self._next_shape(nxt))
            if result is not None and not token.cancelled:
                self._lru.put(context_key(nxt.uri, nxt.text, nxt.offset), result.text)

        self._spec_task = asyncio.ensure_future(run())

    def _next_shape(self, req: CompletionRequest) -> Shape:
        """The shape after an accepted suggestion. One that ended its line is followed by
        the next lines: the single-line shape at a line's end (stopping at the newline)
        would leave the speculation empty."""
        shape = syntax_shape(req.text, req.offset, req.language_id, req.path,
                             allow_multiline=self.settings.multiline)
        line_end = req.text.find("\n", req.offset)
        rest = req.text[req.offset:len(req.text) if line_end < 0 else line_end]
        if not shape.multiline and self.settings.multiline and not rest.strip():
            return Shape(True, shape.min_indent, None)
        return shape

    async def warm(self, uri: str, text: str, offset: int, path: str | None = None,
                   language_id: str = "") -> None:
        """Evaluate the prompt for a new place ahead of the first keystroke there."""
        if not self.ready or self._flights:
            return
        # Only an engine whose KV cache lives here gains from evaluating ahead;
        # a remote server would spend a request on it.
        if self.worker.engine is None or not self.worker.engine.local_kv_cache:
            return
        self._cancel_speculation()
        req = CompletionRequest(uri, text, offset, path, language_id)
        anchor = new_anchor(uri, text, offset, self._limits())
        warm_plan = Plan(anchor, anchor.middle, True, "warm")
        context = self._context(req, warm_plan.window(offset))
        self._anchors[uri] = (anchor, context)
        prompt = self._prompt(req, warm_plan, context)
        token = CancelToken()
        self._spec_token = token
        stats = GenerationStats()
        with contextlib.suppress(EngineError):
            warm_up = GenerationRequest(fim=prompt, max_tokens=0, kv_shift=self.settings.kv_shift)
            async for _ in self.worker.generate(warm_up, token, stats):
                pass
        self.counters.prompt_tokens += stats.prompt_tokens
        self.counters.evaluated_tokens += stats.prompt_eval_tokens


def _unit_complete(raw: str, shape: Shape) -> bool:
    _, cut = cut_to_shape(raw, shape)
    return cut

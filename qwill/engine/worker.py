"""One owner thread per engine: every llama.cpp call happens on it.

llama.cpp contexts are not thread-safe, and decoding must never block the
protocol's event loop. The worker owns the engine, runs jobs one at a time in
arrival order, and hands tokens back to asyncio through the loop's thread-safe
callback. Jobs whose cancel token is already set when their turn comes are
skipped without touching the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from .base import (
    CancelToken,
    ChatResult,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationStats,
    ToolCallingEngine,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_STOP = object()


class EngineWorker:
    """Serialises all access to one engine on a dedicated thread."""

    def __init__(self, name: str = "qwill-engine") -> None:
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._engine: Engine | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.pending = 0

    # -- owner thread -------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                self.pending -= 1  # cancelled while queued
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
            finally:
                self.pending -= 1
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:  # pragma: no cover - best effort at shutdown
                log.exception("closing engine failed")

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on the owner thread; its result arrives in the future."""
        fut: Future[T] = Future()
        self.pending += 1
        self._jobs.put((fn, fut))
        return fut

    # -- engine lifecycle ----------------------------------------------------
    def load(self, factory: Callable[[], Engine]) -> Future[Engine]:
        """Create the engine on the owner thread (replacing any current one)."""

        def _load() -> Engine:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._engine = factory()
            return self._engine

        return self.submit(_load)

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def shutdown(self, wait: bool = True) -> None:
        self._jobs.put(_STOP)
        if wait:
            self._thread.join(timeout=30)

    # -- generation -----------------------------------------------------------
    def _require(self) -> Engine:
        if self._engine is None:
            raise EngineError("no model is loaded")
        return self._engine

    def generate_sync(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> Iterator[str]:
        """Blocking iterator of pieces (for the CLI and benchmarks)."""
        pieces: queue.Queue[Any] = queue.Queue()

        def job() -> None:
            try:
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    return
                for piece in self._require().generate(request, cancel, stats):
                    pieces.put(piece)
            finally:
                pieces.put(_STOP)

        fut = self.submit(job)
        while True:
            item = pieces.get()
            if item is _STOP:
                break
            yield item
        fut.result()

    async def _stream(
        self, produce: Callable[[Callable[[Any], None]], None], cancel: CancelToken
    ) -> AsyncGenerator[Any, None]:
        """Run `produce(put)` on the owner thread and yield what it puts, in order; an
        exception it raises is raised here; leaving early (consumer stopped, task
        cancelled) cancels it, so the decoder stops."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        def job() -> None:
            try:
                produce(put)
            except BaseException as exc:
                put(exc)
            finally:
                put(_STOP)

        self.submit(job)
        finished = False
        try:
            while True:
                item = await items.get()
                if item is _STOP:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            if not finished:
                cancel.cancel(cancel.reason or "abandoned")

    async def generate(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> AsyncGenerator[str, None]:
        """Async iterator of pieces; cancelling the awaiting task cancels decoding."""

        def produce(put: Callable[[Any], None]) -> None:
            if cancel.cancelled:
                stats.stop_reason = "cancelled"
                return
            for piece in self._require().generate(request, cancel, stats):
                put(piece)

        async with contextlib.aclosing(self._stream(produce, cancel)) as pieces:
            async for piece in pieces:
                yield piece

    async def chat(
        self, messages: Sequence[dict[str, Any]], cancel: CancelToken, *,
        tools: Sequence[dict[str, Any]] | None = None, max_tokens: int = 1024,
        temperature: float = 0.0, stop: tuple[str, ...] = (),
    ) -> AsyncGenerator[str | ChatResult, None]:
        """One chat turn on an engine that parses tool calls itself (ToolCallingEngine):
        its prose as it streams, then the whole ChatResult last."""

        def produce(put: Callable[[Any], None]) -> None:
            engine = self._require()
            if not isinstance(engine, ToolCallingEngine):
                raise EngineError("this engine has no chat endpoint")
            if cancel.cancelled:
                return
            put(engine.chat(messages, tools=tools, max_tokens=max_tokens, temperature=temperature,
                            stop=stop, cancel=cancel, on_text=put))

        async with contextlib.aclosing(self._stream(produce, cancel)) as items:
            async for item in items:
                yield item

    async def call(self, fn: Callable[[Engine], T]) -> T:
        """Run `fn(engine)` on the owner thread and await its result."""
        fut = self.submit(lambda: fn(self._require()))
        return await asyncio.wrap_future(fut)

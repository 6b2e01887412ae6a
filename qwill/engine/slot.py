"""One engine's place in a session: its worker thread, status, listeners, loading and
the failures its server reports afterwards.

A session has one slot for the completion engine and, when `agentEngine.backend`
names another engine, a second one for the agent; both behave the same way. The
status is what clients show (`qwill/status`, `qwill doctor`): not loaded, loading,
ready, error, or degraded (loaded, but its server is failing now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .base import Engine, EngineError, ModelInfo
from .worker import EngineWorker

log = logging.getLogger(__name__)


class ModelState(StrEnum):
    NOT_LOADED = "not-loaded"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"
    # loaded, but its server is failing (remote engines); the message says why
    DEGRADED = "degraded"


@dataclass
class ModelStatus:
    state: ModelState = ModelState.NOT_LOADED
    message: str = ""
    info: ModelInfo | None = None

    @property
    def usable(self) -> bool:
        """Loaded (a degraded engine is tried: its server may be back)."""
        return self.state in (ModelState.READY, ModelState.DEGRADED)


StatusListener = Callable[[ModelStatus], None]


class EngineSlot:
    """An engine worker and its status; `title` names it in messages ("" or "agent engine")."""

    def __init__(self, thread_name: str, listeners: list[StatusListener], title: str = "") -> None:
        self.worker = EngineWorker(thread_name)
        self.status = ModelStatus()
        self.listeners = listeners
        self.title = title

    def _say(self, text: str) -> str:
        return f"{self.title}: {text}" if self.title else text

    def _ready(self, info: ModelInfo) -> str:
        return f"{self.title} {info.name} ready" if self.title else f"{info.name} ready"

    def set_status(self, state: ModelState, message: str = "", info: ModelInfo | None = None) -> None:
        self.status = ModelStatus(state, message, info)
        for listener in self.listeners:
            try:
                listener(self.status)
            except Exception:  # pragma: no cover - a listener must not break loading
                log.exception("status listener failed")

    async def load(self, factory: Callable[[], Engine], label: str,
                   caveat: Callable[[Engine], str | None] = lambda engine: None) -> Engine | None:
        """Create the engine on the worker thread; the status tells how it went.

        `caveat(engine)`, when it returns text, is shown instead of "ready" (the engine
        loaded but a feature is off).
        """
        loop = asyncio.get_running_loop()
        self.set_status(ModelState.LOADING, f"loading {label}")
        try:
            engine = await asyncio.wrap_future(self.worker.load(factory))
        except EngineError as exc:
            self.set_status(ModelState.ERROR, self._say(str(exc)))
            return None
        except Exception as exc:
            log.exception("%s load failed", self.title or "model")
            self.set_status(ModelState.ERROR, self._say(f"model load failed: {exc}"))
            return None
        self._watch_problems(engine, loop)
        note = caveat(engine)
        self.set_status(ModelState.READY, note or self._ready(engine.info), engine.info)
        return engine

    # -- failures after loading (remote servers, the isolated engine's process) ----------
    def _watch_problems(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        """Hear the engine's failures (told on the engine thread) on the event loop."""

        def hop(problem: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                loop.call_soon_threadsafe(self._on_problem, problem)

        engine.problem_listeners.append(hop)

    def _on_problem(self, problem: str | None) -> None:
        info = self.status.info
        if problem is not None and self.status.usable:
            message = self._say(problem)
            if self.status.message != message:
                self.set_status(ModelState.DEGRADED, message, info)
        elif problem is None and self.status.state is ModelState.DEGRADED and info is not None:
            self.set_status(ModelState.READY, self._ready(info), info)

    def shutdown(self, wait: bool = True) -> None:
        self.worker.shutdown(wait=wait)

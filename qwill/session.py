"""One editor session: settings, open documents, the engine and the features.

Every surface (LSP, ACP, CLI) drives a Session; none of this knows about a
protocol. The model loads in the background on the engine's own thread;
until it is ready, features answer empty at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .completion.service import CompletionService
from .config import EngineSettings, Settings, SettingsResult, parse_settings
from .context.document import DocumentStore
from .context.provider import ContextProvider
from .context.syntax import SyntaxStore
from .engine.base import Engine, EngineError, ModelInfo
from .engine.loader import load_engine
from .engine.resolve import ProgressFn
from .engine.worker import EngineWorker

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


class Session:
    def __init__(self, settings: Settings | None = None, *,
                 engine_factory: Callable[[Settings, ProgressFn | None], Engine] | None = None,
                 agent_engine_factory: Callable[[Settings, ProgressFn | None], Engine] | None = None,
                 ) -> None:
        self.settings = settings or Settings()
        self.documents = DocumentStore()
        # one tree-sitter tree per open document (see qwill.context.syntax)
        self.syntax = SyntaxStore(self.documents)
        self.worker = EngineWorker()
        # code context (definitions, scopes, recent edits, similar snippets) for prompts
        self.context = ContextProvider(self.documents, self.syntax, self.settings.context)
        self.completion = CompletionService(self.worker, self.settings.completion, self.context)
        self.status = ModelStatus()
        self._engine_factory = engine_factory or _default_factory
        self._agent_engine_factory = agent_engine_factory or _default_agent_factory
        self._load_task: asyncio.Future[None] | None = None
        self.documents.close_listeners.append(self.completion.forget)
        self.status_listeners: list[Callable[[ModelStatus], None]] = []
        # The agent's engine: the completion worker itself unless `agentEngine.backend`
        # names another engine, which then gets its own worker (one per engine).
        self.agent_worker = self.worker
        self._agent_status = ModelStatus()
        self.agent_status_listeners: list[Callable[[ModelStatus], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- settings ----------------------------------------------------------------
    def update_settings(self, raw: object) -> SettingsResult:
        """Merge raw client settings; returns the problems to show the user."""
        result = parse_settings(raw, base=self.settings)
        old = self.settings
        self.settings = result.settings
        self.completion.settings = result.settings.completion
        self.context.settings = result.settings.context
        result.engine_changed = old.engine != result.settings.engine or (
            old.completion.fim_template != result.settings.completion.fim_template
        ) or old.agent_engine != result.settings.agent_engine
        return result

    # -- model ------------------------------------------------------------------
    def _set_status(self, state: ModelState, message: str = "", info: ModelInfo | None = None) -> None:
        self.status = ModelStatus(state, message, info)
        for listener in self.status_listeners:
            try:
                listener(self.status)
            except Exception:  # pragma: no cover - a listener must not break loading
                log.exception("status listener failed")

    async def load_model(self, progress: ProgressFn | None = None) -> ModelStatus:
        """Load (or reload) the configured model on the engine thread.

        The completion engine first (its status is final before the agent's engine,
        if it is a separate one, starts loading on its own worker).
        """
        settings = self.settings
        self._loop = asyncio.get_running_loop()
        status = await self._load_completion_engine(settings, progress)
        await self._load_agent_engine(settings, progress)
        return status

    async def _load_completion_engine(self, settings: Settings,
                                      progress: ProgressFn | None) -> ModelStatus:
        self._set_status(ModelState.LOADING, f"loading {_engine_label(settings.engine)}")
        fut = self.worker.load(lambda: self._engine_factory(settings, progress))
        try:
            engine = await asyncio.wrap_future(fut)
        except EngineError as exc:
            self._set_status(ModelState.ERROR, str(exc))
            return self.status
        except Exception as exc:
            log.exception("model load failed")
            self._set_status(ModelState.ERROR, f"model load failed: {exc}")
            return self.status
        self._watch_problems(engine, self._on_engine_problem)
        if engine.fim is None:
            self._set_status(ModelState.READY, "loaded, but completion is off: "
                             f"{engine.info.name} has no fill-in-the-middle format", engine.info)
            return self.status
        self._set_status(ModelState.READY, f"{engine.info.name} ready", engine.info)
        return self.status

    # -- remote engines: failures after loading ----------------------------------------
    def _watch_problems(self, engine: Engine, handler: Callable[[str | None], None]) -> None:
        """Hear a remote engine's server failures (on the engine thread) on the event loop."""
        loop = self._loop
        if loop is None:
            return

        def hop(problem: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                loop.call_soon_threadsafe(handler, problem)

        engine.problem_listeners.append(hop)

    def _on_engine_problem(self, problem: str | None) -> None:
        info = self.status.info
        if problem is not None and self.status.state in (ModelState.READY, ModelState.DEGRADED):
            if self.status.message != problem:
                self._set_status(ModelState.DEGRADED, problem, info)
        elif problem is None and self.status.state is ModelState.DEGRADED and info is not None:
            self._set_status(ModelState.READY, f"{info.name} ready", info)

    # -- the agent's engine --------------------------------------------------------------
    @property
    def agent_status(self) -> ModelStatus:
        """The agent engine's status (the completion engine's when they are the same)."""
        return self.status if self.agent_worker is self.worker else self._agent_status

    def _set_agent_status(self, status: ModelStatus) -> None:
        self._agent_status = status
        for listener in self.agent_status_listeners:
            try:
                listener(status)
            except Exception:  # pragma: no cover - a listener must not break loading
                log.exception("agent status listener failed")

    async def _load_agent_engine(self, settings: Settings, progress: ProgressFn | None) -> None:
        agent = settings.agent_engine
        if agent.backend == "same":
            if self.agent_worker is not self.worker:
                self.agent_worker.shutdown(wait=False)
                self.agent_worker = self.worker
            return
        if self.agent_worker is self.worker:
            self.agent_worker = EngineWorker("qwill-agent-engine")
        self._set_agent_status(ModelStatus(ModelState.LOADING, f"loading {_engine_label(agent)}"))
        fut = self.agent_worker.load(lambda: self._agent_engine_factory(settings, progress))
        try:
            engine = await asyncio.wrap_future(fut)
        except Exception as exc:
            if not isinstance(exc, EngineError):
                log.exception("agent engine load failed")
            self._set_agent_status(ModelStatus(ModelState.ERROR, f"agent engine: {exc}"))
            return
        self._set_agent_status(ModelStatus(ModelState.READY, f"agent engine {engine.info.name} ready",
                                           engine.info))

        def on_problem(problem: str | None) -> None:
            info = self.agent_status.info
            if problem is not None:
                self._set_agent_status(ModelStatus(ModelState.DEGRADED, f"agent engine: {problem}", info))
            elif self.agent_status.state is ModelState.DEGRADED and info is not None:
                self._set_agent_status(ModelStatus(ModelState.READY, f"agent engine {info.name} ready",
                                                   info))

        self._watch_problems(engine, on_problem)

    def start_loading(self, progress: ProgressFn | None = None) -> asyncio.Future[None]:
        """Load in the background; a newer call supersedes an older one's result."""
        async def run() -> None:
            await self.load_model(progress)

        self._load_task = asyncio.ensure_future(run())
        return self._load_task

    async def wait_ready(self) -> ModelStatus:
        if self._load_task is not None:
            await self._load_task
        return self.status

    def close(self) -> None:
        """Stop generations, then free the engines on their own threads.

        Waiting matters: a decode still running when the interpreter exits would
        touch a freed llama.cpp model (a crash at exit). Cancelled work stops
        within one token, so the wait is short.
        """
        self.completion.cancel_all()
        self.worker.shutdown(wait=True)
        if self.agent_worker is not self.worker:
            self.agent_worker.shutdown(wait=True)


def _engine_label(engine: EngineSettings) -> str:
    if engine.backend in ("local", "same") or not engine.url:
        return engine.model
    return f"{engine.model} on {engine.backend} server"


def _default_agent_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    return load_engine(settings.agent_engine, progress=progress)


def _default_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    return load_engine(settings.engine, fim_override=settings.completion.fim_template,
                       progress=progress)


def isolated_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    """Local models run in a child process (a llama.cpp crash cannot take the server
    down); remote engines are network clients and stay in-process."""
    if settings.engine.backend != "local":
        return _default_factory(settings, progress)
    from .engine.isolated import IsolatedEngine

    return IsolatedEngine(settings.engine, fim_override=settings.completion.fim_template,
                          progress=progress)

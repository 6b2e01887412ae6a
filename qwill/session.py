"""One editor session: settings, open documents, the engine and the features.

Every surface (LSP, ACP, CLI) drives a Session; none of this knows about a
protocol. The model loads in the background on the engine's own thread;
until it is ready, features answer empty at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .completion.fim_templates import FimTemplate, UnsupportedModel, get_template
from .completion.service import CompletionService
from .config import Settings, SettingsResult, parse_settings
from .context.document import DocumentStore
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


@dataclass
class ModelStatus:
    state: ModelState = ModelState.NOT_LOADED
    message: str = ""
    info: ModelInfo | None = None


class Session:
    def __init__(self, settings: Settings | None = None, *,
                 engine_factory: Callable[[Settings, ProgressFn | None], Engine] | None = None) -> None:
        self.settings = settings or Settings()
        self.documents = DocumentStore()
        # one tree-sitter tree per open document (see qwill.context.syntax)
        self.syntax = SyntaxStore(self.documents)
        self.worker = EngineWorker()
        self.completion = CompletionService(self.worker, self.settings.completion)
        self.status = ModelStatus()
        self._engine_factory = engine_factory or _default_factory
        self._load_task: asyncio.Future[None] | None = None
        self.documents.close_listeners.append(self.completion.forget)
        self.status_listeners: list[Callable[[ModelStatus], None]] = []

    # -- settings ----------------------------------------------------------------
    def update_settings(self, raw: object) -> SettingsResult:
        """Merge raw client settings; returns the problems to show the user."""
        result = parse_settings(raw, base=self.settings)
        old = self.settings
        self.settings = result.settings
        self.completion.settings = result.settings.completion
        result.engine_changed = old.engine != result.settings.engine or (
            old.completion.fim_template != result.settings.completion.fim_template
        )
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
        """Load (or reload) the configured model on the engine thread."""
        settings = self.settings
        self.completion.template = None
        self._set_status(ModelState.LOADING, f"loading {settings.engine.model}")
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
        try:
            self.completion.template = self._template_for(engine)
        except UnsupportedModel as exc:
            self._set_status(ModelState.READY, f"loaded, but completion is off: {exc}", engine.info)
            return self.status
        self._set_status(ModelState.READY, f"{engine.info.name} ready", engine.info)
        return self.status

    def _template_for(self, engine: Engine) -> FimTemplate:
        override = self.settings.completion.fim_template
        name = override if override != "auto" else engine.info.fim_template
        if not name:
            raise UnsupportedModel(f"{engine.info.name} has no fill-in-the-middle format")
        return get_template(name)

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
        self.worker.shutdown(wait=False)


def _default_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    return load_engine(settings.engine, fim_override=settings.completion.fim_template,
                       progress=progress)

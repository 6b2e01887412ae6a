"""One editor session: the composition root that owns every long-lived object.

Every surface (LSP, ACP, CLI) drives a Session and holds no state of its own: the
settings, the open documents and their syntax trees, the code context, the engine
slots (completion, and the agent's when it is another engine), completion, code
actions and the agent runs all live here, built once and wired by constructor.
None of this knows about a protocol. The model loads in the background on the
engine's own thread; until it is ready, features answer empty at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .actions.service import ActionOptions, ActionService
from .agent.runs import AgentRuns
from .completion.service import CompletionService
from .config import EngineSettings, Settings, SettingsResult, parse_settings
from .context.document import DocumentStore
from .context.provider import ContextProvider
from .context.syntax import SyntaxStore
from .context.workspace_index import WorkspaceIndex
from .engine.base import Engine, is_small_model
from .engine.loader import load_engine
from .engine.resolve import ProgressFn
from .engine.slot import EngineSlot, ModelState, ModelStatus, StatusListener
from .engine.worker import EngineWorker
from .local_state import UsageRecorder
from .nextedit.service import NextEditService

__all__ = ["ModelState", "ModelStatus", "Session"]

EngineFactory = Callable[[Settings, ProgressFn | None], Engine]


class Session:
    def __init__(self, settings: Settings | None = None, *,
                 engine_factory: EngineFactory | None = None,
                 agent_engine_factory: EngineFactory | None = None,
                 next_edit_engine_factory: EngineFactory | None = None) -> None:
        self.settings = settings or Settings()
        # what you configured yourself (command line, --config): the agent's policy may widen
        # beyond the built-in one only with these values, or ones you confirm
        self.user_settings = self.settings
        # told the settings after each change from the client (the CLI applies logLevel)
        self.settings_listeners: list[Callable[[Settings], None]] = []
        self.documents = DocumentStore()
        # one tree-sitter tree per open document (see qwill.context.syntax)
        self.syntax = SyntaxStore(self.documents)
        self.status_listeners: list[StatusListener] = []
        # told only about a separate agent engine (agentEngine.backend is not "same")
        self.agent_status_listeners: list[StatusListener] = []
        self.engine = EngineSlot("qwill-engine", self.status_listeners)
        # The agent's engine: the completion slot itself unless `agentEngine.backend`
        # names another engine, which then gets its own slot (one worker per engine).
        self.agent_engine = self.engine
        # code context (definitions, scopes, recent edits, similar snippets) for prompts
        self.context = ContextProvider(self.documents, self.syntax, self.settings.context)
        self.completion = CompletionService(self.engine.worker, self.settings.completion, self.context)
        self.documents.close_listeners.append(self.completion.forget)
        # code actions run on the agent's engine (a bigger model when one is configured)
        self.actions = ActionService(self.agent_worker, self.documents, self._action_options(),
                                     syntax=self.syntax)
        # next-edit prediction: the completion engine unless `nextEdit.model` names another model
        self.next_edit_engine = self.engine
        self.next_edit_status_listeners: list[StatusListener] = []
        self.next_edit = NextEditService(lambda: self.next_edit_engine.worker, self.documents,
                                         self.context.history, self.settings.next_edit,
                                         self.context.display_path)
        self.agent_runs = AgentRuns(lambda: self.agent_worker, lambda: self.settings, self._symbol_index)
        # shown/accepted counts added to the local totals `qwill doctor` shows (local_state.py)
        self.usage = UsageRecorder(self._usage_counts)
        self._engine_factory = engine_factory or _default_factory
        self._agent_engine_factory = agent_engine_factory or _default_agent_factory
        self._next_edit_engine_factory = next_edit_engine_factory or _default_next_edit_factory
        self._load_task: asyncio.Future[None] | None = None
        # the settings each engine slot was last loaded with (load_model's changed_only)
        self._loaded: dict[str, object] = {}

    def _usage_counts(self) -> dict[str, int]:
        c, n = self.completion.counters, self.next_edit.counters
        return {"inline_shown": c.shown, "inline_accepted": c.accepted, "next_edit_shown": n.shown,
                "next_edit_accepted": n.accepted, "next_edit_dismissed": n.dismissed}

    # -- views of the slots ---------------------------------------------------------
    @property
    def worker(self) -> EngineWorker:
        return self.engine.worker

    @property
    def status(self) -> ModelStatus:
        return self.engine.status

    @property
    def agent_worker(self) -> EngineWorker:
        return self.agent_engine.worker

    @property
    def agent_status(self) -> ModelStatus:
        """The agent engine's status (the completion engine's when they are the same)."""
        return self.agent_engine.status

    def _symbol_index(self) -> WorkspaceIndex | None:
        index = self.context.index
        return index if index.roots else None

    def _action_options(self) -> ActionOptions:
        s = self.settings.actions
        return ActionOptions(max_tokens=s.max_tokens, temperature=s.temperature)

    # -- settings ----------------------------------------------------------------
    def update_settings(self, raw: object) -> SettingsResult:
        """Merge raw client settings; returns the problems to show the user."""
        result = parse_settings(raw, base=self.settings)
        old = self.settings
        self.settings = result.settings
        self.completion.settings = result.settings.completion
        self.context.settings = result.settings.context
        self.actions.options = self._action_options()
        self.next_edit.settings = result.settings.next_edit
        result.engine_changed = old.engine != result.settings.engine or (
            old.completion.fim_template != result.settings.completion.fim_template
        ) or old.agent_engine != result.settings.agent_engine or (
            old.next_edit.model != result.settings.next_edit.model
        )
        for listener in self.settings_listeners:
            listener(result.settings)
        return result

    # -- model ------------------------------------------------------------------
    async def load_model(self, progress: ProgressFn | None = None, *, changed_only: bool = False) -> ModelStatus:
        """Load (or reload) the configured model on the engine thread.

        The completion engine first (its status is final before the agent's engine,
        if it is a separate one, starts loading on its own worker). With `changed_only`
        (a settings change), an engine that is ready and whose settings are the ones it
        was loaded with stays as it is: a new agent engine does not reload the
        completion model, unless they are one engine.
        """
        settings = self.settings
        key = (settings.engine, settings.completion.fim_template)
        if not (changed_only and self._unchanged(self.engine, "completion", key)):
            self._loaded["completion"] = key
            await self.engine.load(lambda: self._engine_factory(settings, progress), _engine_label(settings.engine),
                                   caveat=_completion_caveat)
        engine = self.engine.worker.engine
        # context for completion prompts follows the completion model's size (context.smallModels)
        self.context.small_model = engine is not None and is_small_model(engine.info.parameters)
        await self._load_agent_engine(settings, progress, changed_only)
        await self._load_next_edit_engine(settings, progress, changed_only)
        return self.status

    def _unchanged(self, slot: EngineSlot, name: str, key: object) -> bool:
        return self._loaded.get(name) == key and slot.status.state is ModelState.READY

    async def _load_next_edit_engine(self, settings: Settings, progress: ProgressFn | None,
                                     changed_only: bool = False) -> None:
        model = settings.next_edit.model.strip()
        if not model or (model == settings.engine.model and settings.engine.backend == "local"):
            if self.next_edit_engine is not self.engine:
                self.next_edit_engine.shutdown(wait=False)
                self.next_edit_engine = self.engine
            return
        if self.next_edit_engine is self.engine:
            self.next_edit_engine = EngineSlot("qwill-next-edit-engine", self.next_edit_status_listeners,
                                               title="next-edit engine")
        elif changed_only and self._unchanged(self.next_edit_engine, "next_edit", (model, settings.engine)):
            return
        self._loaded["next_edit"] = (model, settings.engine)
        await self.next_edit_engine.load(lambda: self._next_edit_engine_factory(settings, progress), model)

    async def _load_agent_engine(self, settings: Settings, progress: ProgressFn | None,
                                 changed_only: bool = False) -> None:
        agent = settings.agent_engine
        if agent.backend == "same":
            if self.agent_engine is not self.engine:
                self.agent_engine.shutdown(wait=False)
                self._use_agent_engine(self.engine)
            return
        if self.agent_engine is self.engine:
            self._use_agent_engine(EngineSlot("qwill-agent-engine", self.agent_status_listeners,
                                              title="agent engine"))
        elif changed_only and self._unchanged(self.agent_engine, "agent", agent):
            return
        self._loaded["agent"] = agent
        await self.agent_engine.load(lambda: self._agent_engine_factory(settings, progress), _engine_label(agent))

    def _use_agent_engine(self, slot: EngineSlot) -> None:
        self.agent_engine = slot
        self.actions.worker = slot.worker

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
        self.usage.flush()
        self.completion.cancel_all()
        self.next_edit.cancel_all()
        self.engine.shutdown(wait=True)
        if self.agent_engine is not self.engine:
            self.agent_engine.shutdown(wait=True)
        if self.next_edit_engine is not self.engine:
            self.next_edit_engine.shutdown(wait=True)


def _completion_caveat(engine: Engine) -> str | None:
    if engine.fim is None:
        return f"loaded, but completion is off: {engine.info.name} has no fill-in-the-middle format"
    return None


def _engine_label(engine: EngineSettings) -> str:
    if engine.backend in ("local", "same") or not engine.url:
        return engine.model
    return f"{engine.model} on {engine.backend} server"


def _default_agent_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    return load_engine(settings.agent_engine, progress=progress)


def next_edit_engine_settings(settings: Settings) -> EngineSettings:
    """The engine settings of a separate next-edit model: the completion engine's, run
    locally, with `nextEdit.model` as the model."""
    return settings.engine.model_copy(update={"model": settings.next_edit.model.strip(), "backend": "local"})


def _default_next_edit_factory(settings: Settings, progress: ProgressFn | None) -> Engine:
    return load_engine(next_edit_engine_settings(settings), progress=progress)


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

"""Every agent session of one Qwill session, and the one way an Agent is built.

The LSP commands, the ACP server and the terminal all go through `AgentRuns`: it
keeps the AgentSessions by id (so `undoStep`, `rewind` and `cancel` find them), the
cancel token of each running task, and builds each run's Agent from the current
settings, the agent's engine and the workspace symbol index. A surface brings only
what is its own: how a change set lands (the Applier), how a command is approved,
where events go, and how a file's live text is fetched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from ..config import AgentSettings, Settings
from ..context.document import DocumentStore
from ..context.workspace_index import WorkspaceIndex
from ..engine.base import CancelToken
from ..engine.worker import EngineWorker
from .loop import (
    Agent,
    AgentResult,
    AgentSession,
    Applier,
    CommandApprover,
    EventSink,
    agent_context_size,
    new_session,
)


class AgentRuns:
    def __init__(self, worker: Callable[[], EngineWorker], settings: Callable[[], Settings],
                 symbol_index: Callable[[], WorkspaceIndex | None] = lambda: None) -> None:
        # read at each run, so a reload or a settings change applies to the next one
        self._worker = worker
        self._settings = settings
        self._symbol_index = symbol_index
        self.sessions: dict[str, AgentSession] = {}
        self.cancels: dict[str, CancelToken] = {}

    def new_session(self, root: str | Path, documents: DocumentStore | None = None, *,
                    checkpoints: bool = True) -> AgentSession:
        """A new conversation over the workspace at `root`, reading live buffers from `documents`."""
        session = new_session(root, documents, checkpoints=checkpoints)
        self.sessions[session.id] = session
        return session

    def get(self, session_id: object) -> AgentSession | None:
        return self.sessions.get(session_id) if isinstance(session_id, str) else None

    def agent(self, applier: Applier, *, approve_command: CommandApprover | None = None,
              on_event: EventSink | None = None,
              fetch: Callable[[str], Awaitable[None]] | None = None,
              agent_settings: AgentSettings | None = None) -> Agent:
        settings = self._settings()
        return Agent(self._worker(), agent_settings or settings.agent, applier, approve_command=approve_command,
                     on_event=on_event, context_size=agent_context_size(settings),
                     symbol_index=self._symbol_index(), fetch=fetch)

    async def run(self, session: AgentSession, task: str, applier: Applier, *,
                  cancel: CancelToken | None = None, approve_command: CommandApprover | None = None,
                  on_event: EventSink | None = None,
                  fetch: Callable[[str], Awaitable[None]] | None = None,
                  agent_settings: AgentSettings | None = None) -> AgentResult:
        """Work on `task` in `session`; `cancel(session.id)` stops it meanwhile.
        `agent_settings` replaces the current agent settings for this run (the policy
        a surface has confirmed, qwill.agent.policy_consent)."""
        token = cancel or CancelToken()
        self.cancels[session.id] = token
        try:
            agent = self.agent(applier, approve_command=approve_command, on_event=on_event, fetch=fetch,
                               agent_settings=agent_settings)
            return await agent.run(session, task, token)
        finally:
            if self.cancels.get(session.id) is token:
                del self.cancels[session.id]

    def cancel(self, session_id: object, reason: str = "cancelled by the user") -> bool:
        """Stop the task running in a session; False when none is."""
        token = self.cancels.get(session_id) if isinstance(session_id, str) else None
        if token is None:
            return False
        token.cancel(reason)
        return True

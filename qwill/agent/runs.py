"""Every agent session of one Qwill session, and the one way an Agent is built.

The LSP commands, the ACP server and the terminal all go through `AgentRuns`: it
keeps the AgentSessions by id (so `undoStep`, `rewind` and `cancel` find them), the
cancel token of each running task, and builds each run's Agent from the current
settings, the agent's engine and the workspace symbol index. A surface brings only
what is its own: how a change set lands (the Applier), how a command is approved,
where events go, how a file's live text is fetched, how a plan is approved, and (ACP)
MCP servers of its own.

It also owns the MCP servers of the settings (`agent.mcpServers`): started at the
first run that needs them, kept for later runs (a server start costs seconds),
restarted when their settings change, closed by `aclose`. A server that fails is
reported through the run's events and costs only its own tools.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ..config import AgentSettings, Settings
from ..context.document import DocumentStore
from ..context.workspace_index import WorkspaceIndex
from ..engine.base import CancelToken
from ..engine.worker import EngineWorker
from .loop import (
    Agent,
    AgentEvent,
    AgentResult,
    AgentSession,
    Applier,
    CommandApprover,
    EventSink,
    PlanApprover,
    agent_context_size,
    new_session,
)
from .mcp_tools import McpHub, McpServerConfig, parse_servers
from .modes import ApprovalMode
from .tools import Tool

log = logging.getLogger(__name__)


class AgentRuns:
    def __init__(self, worker: Callable[[], EngineWorker], settings: Callable[[], Settings],
                 symbol_index: Callable[[], WorkspaceIndex | None] = lambda: None) -> None:
        # read at each run, so a reload or a settings change applies to the next one
        self._worker = worker
        self._settings = settings
        self._symbol_index = symbol_index
        self.sessions: dict[str, AgentSession] = {}
        self.cancels: dict[str, CancelToken] = {}
        # MCP: the settings' servers (shared by every session), and servers a client
        # gave one session (ACP session/new)
        self._mcp: McpHub | None = None
        self._mcp_key: tuple[McpServerConfig, ...] = ()
        self._session_mcp: dict[str, McpHub] = {}
        self._session_mcp_configs: dict[str, list[McpServerConfig]] = {}

    def new_session(self, root: str | Path, documents: DocumentStore | None = None, *,
                    checkpoints: bool = True, mode: ApprovalMode | str | None = None,
                    mcp_servers: Sequence[McpServerConfig] = ()) -> AgentSession:
        """A new conversation over the workspace at `root`, reading live buffers from `documents`,
        in approval `mode` (default: the `agent.approvalMode` setting)."""
        session = new_session(root, documents, checkpoints=checkpoints)
        session.mode = ApprovalMode.parse(mode or self._settings().agent.approval_mode)
        self.sessions[session.id] = session
        if mcp_servers:
            self._session_mcp_configs[session.id] = list(mcp_servers)
        return session

    # -- MCP --------------------------------------------------------------------------
    def mcp_configs(self, settings: AgentSettings | None = None) -> tuple[list[McpServerConfig], list[str]]:
        agent = settings or self._settings().agent
        return parse_servers({name: spec.model_dump() for name, spec in agent.mcp_servers.items()})

    async def mcp_tools(self, session: AgentSession, on_event: EventSink | None = None,
                        settings: AgentSettings | None = None) -> list[Tool]:
        """The MCP tools `session` may use (servers of `settings`, default the current
        agent settings, and the session's own), starting servers that are not running yet.
        Problems (a server that cannot start) are reported as `mcp_error` events."""
        settings = settings or self._settings().agent

        def report(message: str) -> None:
            if on_event is not None:
                on_event(AgentEvent("mcp_error", session.id, session.step, {"message": message}))

        configs, problems = self.mcp_configs(settings)
        for problem in problems:
            report(problem)
        key = tuple(configs)
        if self._mcp is not None and (key != self._mcp_key or tuple(self._mcp.allow) != tuple(settings.mcp_allow)):
            await self._mcp.close()
            self._mcp = None
        if self._mcp is None and configs:
            self._mcp = McpHub(configs, allow=tuple(settings.mcp_allow), cwd=session.workspace.root)
            self._mcp_key = key
            for problem in await self._mcp.start():
                report(problem)
        if self._mcp is not None:
            self._mcp.on_problem = report
        own = self._session_mcp.get(session.id)
        if own is None and session.id in self._session_mcp_configs:
            own = McpHub(self._session_mcp_configs.pop(session.id), allow=tuple(settings.mcp_allow),
                         cwd=session.workspace.root)
            self._session_mcp[session.id] = own
            for problem in await own.start():
                report(problem)
        if own is not None:
            own.on_problem = report
        tools: dict[str, Tool] = {}
        for hub in (self._mcp, own):
            for tool in hub.tools() if hub is not None else []:
                tools.setdefault(tool.name, tool)
        return list(tools.values())

    async def aclose(self) -> None:
        """Stop every MCP server."""
        hubs = [h for h in (self._mcp, *self._session_mcp.values()) if h is not None]
        self._mcp = None
        self._session_mcp.clear()
        for hub in hubs:
            try:
                await hub.close()
            except Exception:  # pragma: no cover - closing is best effort
                log.exception("closing MCP servers failed")

    def get(self, session_id: object) -> AgentSession | None:
        return self.sessions.get(session_id) if isinstance(session_id, str) else None

    def agent(self, applier: Applier, *, approve_command: CommandApprover | None = None,
              on_event: EventSink | None = None,
              fetch: Callable[[str], Awaitable[None]] | None = None,
              approve_plan: PlanApprover | None = None, extra_tools: Sequence[Tool] = (),
              agent_settings: AgentSettings | None = None) -> Agent:
        settings = self._settings()
        return Agent(self._worker(), agent_settings or settings.agent, applier, approve_command=approve_command,
                     on_event=on_event, context_size=agent_context_size(settings),
                     symbol_index=self._symbol_index(), fetch=fetch, approve_plan=approve_plan,
                     extra_tools=extra_tools)

    async def run(self, session: AgentSession, task: str, applier: Applier, *,
                  cancel: CancelToken | None = None, approve_command: CommandApprover | None = None,
                  on_event: EventSink | None = None,
                  fetch: Callable[[str], Awaitable[None]] | None = None,
                  approve_plan: PlanApprover | None = None,
                  agent_settings: AgentSettings | None = None) -> AgentResult:
        """Work on `task` in `session`; `cancel(session.id)` stops it meanwhile.
        `agent_settings` replaces the current agent settings for this run (the policy
        a surface has confirmed, qwill.agent.policy_consent)."""
        token = cancel or CancelToken()
        self.cancels[session.id] = token
        try:
            tools = await self.mcp_tools(session, on_event, agent_settings)
            agent = self.agent(applier, approve_command=approve_command, on_event=on_event, fetch=fetch,
                               approve_plan=approve_plan, extra_tools=tools, agent_settings=agent_settings)
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

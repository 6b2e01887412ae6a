"""`qwill acp`: the agent over the Agent Client Protocol (stdio), for Zed, JetBrains
AI Assistant and Neovim ACP plugins.

The agent core is `qwill.agent.loop`, run through the session's `agent_runs` (the
registry the LSP commands and the terminal use too); this module translates with the
`agent-client-protocol` package's types. `session/prompt` runs the loop and
streams `session/update` (message chunks, tool calls and their results, the
plan). Each step's change set goes through `session/request_permission` with
its diffs; once allowed it is written with `fs/write_text_file` when the client
offers it (so unsaved buffers are edited in place), else to disk atomically.
Files are read with `fs/read_text_file` when offered, so the agent sees what
the user sees. Commands on the policy's "ask" list need a permission too.

Approval modes are ACP session modes (`plan`, `ask`, `auto-edit`, `yolo`; the
client shows them and switches with `session/set_mode`): `auto-edit` and `yolo`
apply change sets without a permission request, `yolo` runs commands the policy
would ask about, `plan` only reads and asks to carry out the plan it proposes.
The MCP servers `session/new` names (stdio and HTTP) add their tools to that
session, approved like commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import acp
from acp import schema as s

from .. import __version__
from ..agent.changes import ApplyError, ChangeKind, ChangeSet, write_to_disk
from ..agent.loop import AgentEvent, AgentSession, ApplyResult
from ..agent.mcp_tools import McpServerConfig
from ..agent.modes import MODE_DESCRIPTIONS, ApprovalMode
from ..agent.workspace import PathError
from ..context.document import DocumentStore
from ..session import Session

log = logging.getLogger(__name__)

_KINDS: dict[str, str] = {
    "read_file": "read", "list_files": "search", "grep": "search", "find_symbol": "search",
    "edit_file": "edit", "write_file": "edit", "create_file": "edit", "delete_file": "delete",
    "rename_file": "move", "rename_symbol": "edit",
    "run_command": "execute", "run_tests": "execute", "todo": "think", "finish": "think",
}
_STOP = {"done": "end_turn", "cancelled": "cancelled", "max_steps": "max_turn_requests",
         "loop": "end_turn", "context_full": "max_tokens", "error": "end_turn", "plan": "end_turn"}
_MODE_NAMES = {ApprovalMode.PLAN: "Plan", ApprovalMode.ASK: "Ask", ApprovalMode.AUTO_EDIT: "Auto-edit",
               ApprovalMode.YOLO: "Yolo"}


def _modes(current: ApprovalMode) -> s.SessionModeState:
    return s.SessionModeState(current_mode_id=current.value, available_modes=[
        s.SessionMode(id=m.value, name=_MODE_NAMES[m], description=MODE_DESCRIPTIONS[m]) for m in ApprovalMode])


def mcp_configs(servers: Any) -> tuple[list[McpServerConfig], list[str]]:
    """The MCP servers of `session/new` (stdio, HTTP); SSE servers are not supported."""
    out: list[McpServerConfig] = []
    problems: list[str] = []
    for srv in servers or []:
        name = str(getattr(srv, "name", "") or "mcp")
        if getattr(srv, "command", None):
            env = tuple((e.name, e.value) for e in getattr(srv, "env", None) or [])
            out.append(McpServerConfig(name, command=srv.command, args=tuple(srv.args or ()), env=env))
        elif getattr(srv, "url", None) and getattr(srv, "type", "http") != "sse":
            headers = tuple((h.name, h.value) for h in getattr(srv, "headers", None) or [])
            out.append(McpServerConfig(name, url=srv.url, headers=headers))
        else:
            problems.append(f"MCP server {name!r}: only stdio and HTTP servers are supported")
    return out, problems


@dataclass
class _AcpSession:
    """What ACP adds to an agent session: the client's buffers and its answers so far."""

    agent_session: AgentSession
    documents: DocumentStore
    always_allow_edits: bool = False
    pending_calls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # told at the first prompt


class QwillAcpAgent:
    """An ACP Agent backed by a Qwill Session (model, settings) and the agent loop."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.conn: Any = None
        self.sessions: dict[str, _AcpSession] = {}
        self.can_read = False
        self.can_write = False
        self._loading: asyncio.Future[None] | None = None

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    # -- lifecycle -------------------------------------------------------------------
    async def initialize(self, protocol_version: int, client_capabilities: s.ClientCapabilities | None = None,
                         client_info: Any = None, **kwargs: Any) -> s.InitializeResponse:
        fs = client_capabilities.fs if client_capabilities else None
        self.can_read = bool(fs and fs.read_text_file)
        self.can_write = bool(fs and fs.write_text_file)
        if self._loading is None:
            self._loading = self.session.start_loading()
        return s.InitializeResponse(
            protocol_version=acp.PROTOCOL_VERSION,
            agent_capabilities=s.AgentCapabilities(
                load_session=False,
                prompt_capabilities=s.PromptCapabilities(embedded_context=True, image=False, audio=False),
                mcp_capabilities=s.McpCapabilities(http=True, sse=False)),
            agent_info=s.Implementation(name="qwill", title="Qwill", version=__version__),
            auth_methods=[])

    async def authenticate(self, method_id: str, **kwargs: Any) -> s.AuthenticateResponse:
        return s.AuthenticateResponse()

    async def new_session(self, cwd: str, mcp_servers: Any = None, **kwargs: Any) -> s.NewSessionResponse:
        if not os.path.isabs(cwd) or not os.path.isdir(cwd):
            raise acp.RequestError.invalid_params({"cwd": f"{cwd} is not an absolute directory path"})
        docs = DocumentStore()
        servers, problems = mcp_configs(mcp_servers)
        try:
            agent_session = self.session.agent_runs.new_session(cwd, docs, mcp_servers=servers)
        except (PathError, OSError, RuntimeError) as exc:
            raise acp.RequestError.invalid_params({"cwd": str(exc)}) from None
        for problem in problems:
            log.warning("%s", problem)
        self.sessions[agent_session.id] = _AcpSession(agent_session, docs, problems=problems)
        return s.NewSessionResponse(session_id=agent_session.id, modes=_modes(agent_session.mode))

    async def set_session_mode(self, mode_id: str, session_id: str, **kwargs: Any) -> s.SetSessionModeResponse:
        st = self.sessions.get(session_id)
        if st is None:
            raise acp.RequestError.invalid_params({"sessionId": f"unknown session {session_id}"})
        try:
            st.agent_session.mode = ApprovalMode.parse(mode_id)
        except ValueError as exc:
            raise acp.RequestError.invalid_params({"modeId": str(exc)}) from None
        return s.SetSessionModeResponse()

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        self.session.agent_runs.cancel(session_id, "cancelled by the client")

    # -- prompt --------------------------------------------------------------------
    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> s.PromptResponse:
        st = self.sessions.get(session_id)
        if st is None:
            raise acp.RequestError.invalid_params({"sessionId": f"unknown session {session_id}"})
        task = _prompt_text(prompt)
        if not task.strip():
            raise acp.RequestError.invalid_params({"prompt": "the prompt has no text"})
        if self._loading is None:
            self._loading = self.session.start_loading()
        await self._loading
        status = self.session.agent_status
        if not status.usable:
            await self._say(session_id, f"Qwill cannot run: the model is not ready ({status.message}).")
            return s.PromptResponse(stop_reason="refusal")
        if st.agent_session.busy:
            raise acp.RequestError.invalid_request({"sessionId": "a prompt is already running"})
        updates: asyncio.Queue[Any] = asyncio.Queue()

        def on_event(ev: AgentEvent) -> None:
            for update in self._updates(st, ev):
                updates.put_nowait(update)

        async def pump() -> None:
            while True:
                update = await updates.get()
                if update is None:
                    return
                try:
                    await self.conn.session_update(session_id=session_id, update=update)
                except Exception:  # the client went away; the run still ends cleanly
                    log.exception("session/update failed")

        pumping = asyncio.ensure_future(pump())
        for problem in st.problems:
            updates.put_nowait(acp.update_agent_message_text(f"[{problem}]\n"))
        st.problems = []
        try:
            result = await self.session.agent_runs.run(
                st.agent_session, task, _AcpApplier(self, session_id, st),
                approve_command=lambda c, w: self._approve_command(session_id, c, w), on_event=on_event,
                fetch=(lambda rel: self._fetch(session_id, st, rel)) if self.can_read else None,
                approve_plan=lambda plan: self._approve_plan(session_id, plan))
        finally:
            updates.put_nowait(None)
            await pumping
        if result.reason not in ("done", "cancelled"):
            await self._say(session_id, f"\n\n[stopped: {result.message}]")
        return s.PromptResponse(stop_reason=_STOP.get(result.reason, "end_turn"))

    async def _say(self, session_id: str, text: str) -> None:
        await self.conn.session_update(session_id=session_id, update=acp.update_agent_message_text(text))

    def _updates(self, st: _AcpSession, ev: AgentEvent) -> list[Any]:
        d = ev.data
        if ev.kind == "text":
            return [acp.update_agent_message_text(d["text"])]
        if ev.kind == "tool_call":
            call_id = f"call-{uuid.uuid4().hex[:8]}"
            st.pending_calls.append(call_id)
            args = d.get("arguments", {})
            title = f"{d['name']} {args.get('path') or args.get('command') or args.get('pattern') or ''}".strip()
            locations = None
            if isinstance(args.get("path"), str):
                with contextlib.suppress(PathError):
                    rel = st.agent_session.workspace.rel(args["path"])
                    locations = [s.ToolCallLocation(path=str(st.agent_session.workspace.abspath(rel)))]
            return [acp.start_tool_call(call_id, title, kind=_KINDS.get(d["name"], "other"),  # type: ignore[arg-type]
                                        status="in_progress", raw_input=args, locations=locations)]
        if ev.kind == "tool_result":
            if not st.pending_calls:
                return []
            call_id = st.pending_calls.pop(0)
            return [acp.update_tool_call(call_id, status="completed" if d.get("ok") else "failed",
                                         content=[acp.tool_content(acp.text_block(d.get("output", "")))],
                                         raw_output=d.get("output", ""))]
        if ev.kind == "plan":
            return [acp.update_plan([acp.plan_entry(item["text"], status="completed" if item["done"] else "pending")
                                     for item in d.get("items", [])])]
        if ev.kind == "step":
            st.pending_calls.clear()
        if ev.kind == "mode":
            return [s.CurrentModeUpdate(session_update="current_mode_update", current_mode_id=str(d.get("mode")))]
        if ev.kind == "mcp_error":
            return [acp.update_agent_message_text(f"\n[{d.get('message', '')}]\n")]
        if ev.kind == "checks":
            return [acp.update_agent_message_text(f"\n[tests: {d.get('summary', '')}]\n")]
        return []

    # -- client file system and permissions -------------------------------------------------
    async def _fetch(self, session_id: str, st: _AcpSession, rel: str) -> None:
        ws = st.agent_session.workspace
        path = ws.abspath(rel)
        if not path.is_file():
            return  # a new file: nothing to read (the client would answer an error)
        try:
            resp = await self.conn.read_text_file(session_id=session_id, path=str(path))
        except Exception as exc:
            log.info("fs/read_text_file %s failed (%s); reading the disk", path, exc)
            return
        uri = ws.uri(rel)
        doc = st.documents.get(uri)
        if doc is None or doc.text != resp.content:
            st.documents.open(uri, resp.content, version=0)

    async def _permission(self, session_id: str, tool_call: s.ToolCallUpdate, *, always: bool) -> str:
        options = [s.PermissionOption(option_id="allow", name="Allow", kind="allow_once")]
        if always:
            options.append(s.PermissionOption(option_id="allow_always", name="Always allow edits",
                                              kind="allow_always"))
        options.append(s.PermissionOption(option_id="reject", name="Reject", kind="reject_once"))
        try:
            resp = await self.conn.request_permission(session_id=session_id, tool_call=tool_call, options=options)
        except Exception as exc:
            log.info("permission request failed: %s", exc)
            return "reject"
        outcome = resp.outcome
        if getattr(outcome, "outcome", "") == "selected":
            return str(outcome.option_id)
        return "cancelled"

    async def _approve_plan(self, session_id: str, plan: str) -> ApprovalMode | None:
        call = s.ToolCallUpdate(tool_call_id=f"plan-{uuid.uuid4().hex[:8]}", title="Carry out this plan?",
                                kind="think", status="pending",
                                content=[acp.tool_content(acp.text_block(plan))])
        options = [s.PermissionOption(option_id="ask", name="Carry out, reviewing each change", kind="allow_once"),
                   s.PermissionOption(option_id="auto-edit", name="Carry out, applying changes", kind="allow_always"),
                   s.PermissionOption(option_id="reject", name="Don't", kind="reject_once")]
        try:
            resp = await self.conn.request_permission(session_id=session_id, tool_call=call, options=options)
        except Exception as exc:
            log.info("permission request failed: %s", exc)
            return None
        choice = str(getattr(resp.outcome, "option_id", ""))
        return ApprovalMode(choice) if choice in ("ask", "auto-edit") else None

    async def _approve_command(self, session_id: str, command: str, why: str) -> bool:
        call = s.ToolCallUpdate(tool_call_id=f"cmd-{uuid.uuid4().hex[:8]}", title=f"Run `{command}`",
                                kind="execute", status="pending", raw_input={"command": command, "reason": why})
        return await self._permission(session_id, call, always=False) == "allow"


class _AcpApplier:
    def __init__(self, server: QwillAcpAgent, session_id: str, st: _AcpSession) -> None:
        self.server = server
        self.session_id = session_id
        self.st = st

    async def apply(self, changes: ChangeSet) -> ApplyResult:
        ws = self.st.agent_session.workspace
        content: list[s.ContentToolCallContent | s.FileEditToolCallContent | s.TerminalToolCallContent] = []
        for c in changes.changes:
            if c.kind is ChangeKind.DELETE:
                content.append(acp.tool_diff_content(str(ws.abspath(c.path)), "", c.old_text))
            else:
                content.append(acp.tool_diff_content(str(ws.abspath(c.target)), c.new_text or c.old_text or "",
                                                     c.old_text if c.kind is not ChangeKind.CREATE else None))
        title = f"Apply: {changes.summary()}"
        if changes.flagged:
            title += f" (changes tests, CI or settings: {', '.join(changes.flagged)})"
        if not self.st.always_allow_edits and self.st.agent_session.mode.reviews_edits:
            call = s.ToolCallUpdate(tool_call_id=f"edit-{uuid.uuid4().hex[:8]}", title=title[:300], kind="edit",
                                    status="pending", content=content)
            choice = await self.server._permission(self.session_id, call, always=True)
            if choice == "allow_always":
                self.st.always_allow_edits = True
            elif choice != "allow":
                return ApplyResult(False, "the user rejected the change" if choice == "reject"
                                   else "the permission request was cancelled")
        disk = ChangeSet(changes.step)
        for c in changes.changes:
            if self.server.can_write and c.kind in (ChangeKind.MODIFY, ChangeKind.CREATE):
                try:
                    await self.server.conn.write_text_file(session_id=self.session_id,
                                                           path=str(ws.abspath(c.path)), content=c.new_text or "")
                except Exception as exc:
                    return ApplyResult(False, f"the client could not write {c.path}: {exc}")
                uri = ws.uri(c.path)
                if self.st.documents.get(uri) is not None:
                    self.st.documents.open(uri, c.new_text or "", version=0)
            else:
                disk.changes.append(c)
        if disk:
            try:
                await asyncio.to_thread(write_to_disk, ws.root, disk)
            except (ApplyError, OSError) as exc:
                return ApplyResult(False, str(exc))
            for c in disk.changes:
                for p in (c.path, c.new_path):
                    if p and self.st.documents.get(ws.uri(p)) is not None:
                        self.st.documents.close(ws.uri(p))
        return ApplyResult(True)


def _prompt_text(blocks: list[Any]) -> str:
    parts = []
    for b in blocks:
        kind = getattr(b, "type", None)
        if kind == "text":
            parts.append(b.text)
        elif kind == "resource":
            res = b.resource
            text = getattr(res, "text", None)
            if text is not None:
                parts.append(f"\n[{res.uri}]\n{text}")
        elif kind == "resource_link":
            parts.append(f"\n[file: {b.uri}]")
    return "\n".join(parts)


async def serve(session: Session) -> None:
    """Serve ACP on stdin/stdout until the client closes the connection."""
    try:
        await acp.run_agent(QwillAcpAgent(session))  # type: ignore[arg-type]  # structural match
    finally:
        await session.agent_runs.aclose()
        session.close()


def main(session: Session) -> int:
    asyncio.run(serve(session))
    return 0


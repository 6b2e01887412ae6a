"""Agent mode over LSP: `qwill.agent.run`, `qwill.agent.undoStep`, `qwill.agent.rewind`,
`qwill.agent.cancel`, and the `qwill/agentEvent` notification stream.

The loop is `qwill.agent.loop.Agent`, run through the session's `agent_runs`
(the registry the ACP server and the terminal use too); this module converts. A step's ChangeSet
becomes one WorkspaceEdit (TextDocumentEdit with the live buffer's version,
CreateFile / RenameFile / DeleteFile) with change annotations, sent with
`workspace/applyEdit`; what the editor answers goes back to the model. Commands
that need approval are asked with `window/showMessageRequest`. The run shows a
cancellable `$/progress`; `$/cancelRequest` of the executeCommand stops it too.

The approval mode (`agent.approvalMode`, or `"mode"` in the run's arguments) decides
what is asked: in `ask` the edit's annotations need confirmation (as
`agent.needsConfirmation` says); in `auto-edit` and `yolo` they do not (in
`auto-edit` edits to tests or CI still do); `yolo` runs commands the policy would
ask about; `plan` only reads and asks with `window/showMessageRequest` whether to
carry out the plan it proposes. MCP servers of `agent.mcpServers` are started at
the first run and kept.

Arguments (one object): `qwill.agent.run {"task", "sessionId"?, "root"?, "mode"?}`,
`qwill.agent.undoStep {"sessionId"}`, `qwill.agent.rewind {"sessionId", "step"}`,
`qwill.agent.cancel {"sessionId"}`. Each answers an object with `status`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...agent import policy_consent
from ...agent.changes import ChangeKind, ChangeSet
from ...agent.checkpoints import CheckpointError
from ...agent.loop import AgentEvent, AgentSession, ApplyResult
from ...agent.modes import ApprovalMode
from ...agent.workspace import PathError, uri_to_path
from ...config import AgentSettings
from ...context.document import DEFAULT_ENCODING, PositionEncoding, TextDocument
from ...engine.base import CancelToken
from ..progress import WorkProgress
from .workspace import workspace_roots

if TYPE_CHECKING:
    from ..server import QwillServer

log = logging.getLogger(__name__)

AGENT_EVENT = "qwill/agentEvent"
RUN, UNDO, REWIND, CANCEL = "qwill.agent.run", "qwill.agent.undoStep", "qwill.agent.rewind", "qwill.agent.cancel"
ANNOTATION = "qwill-agent"
ANNOTATION_FLAGGED = "qwill-agent-tests"


# -- ChangeSet -> WorkspaceEdit ---------------------------------------------------------------
def _range(text: str, start: int, end: int, encoding: PositionEncoding) -> types.Range:
    doc = TextDocument("", text, encoding=encoding)
    a, b = doc.position_at(start), doc.position_at(end)
    return types.Range(start=types.Position(line=a.line, character=a.character),
                       end=types.Position(line=b.line, character=b.character))


def _edit(ann: str | None, rng: types.Range, text: str) -> types.TextEdit | types.AnnotatedTextEdit:
    if ann is None:
        return types.TextEdit(range=rng, new_text=text)
    return types.AnnotatedTextEdit(range=rng, new_text=text, annotation_id=ann)


def workspace_edit(changes: ChangeSet, uri_of: Any, *, annotations: bool = True,
                   needs_confirmation: bool = True, confirm_flagged: bool = True,
                   encoding: PositionEncoding = DEFAULT_ENCODING) -> types.WorkspaceEdit:
    """One WorkspaceEdit for a whole change set (`uri_of(rel)` gives a file's URI;
    positions counted in the connection's `encoding`)."""
    flagged = set(changes.flagged)
    doc_changes: list[Any] = []

    def ann_for(path: str) -> str | None:
        if not annotations:
            return None
        return ANNOTATION_FLAGGED if path in flagged else ANNOTATION

    def text_edit(uri: str, version: int | None, old: str, new: str, ann: str | None) -> types.TextDocumentEdit:
        from ...agent.changes import minimal_edits

        edits = [_edit(ann, _range(old, e.start, e.end, encoding), e.new_text) for e in minimal_edits(old, new)]
        return types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=edits)

    for c in changes.changes:
        uri = uri_of(c.path)
        ann = ann_for(c.path)
        if c.kind is ChangeKind.MODIFY:
            doc_changes.append(text_edit(uri, c.version, c.old_text or "", c.new_text or "", ann))
        elif c.kind is ChangeKind.CREATE:
            doc_changes.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(
                overwrite=False, ignore_if_exists=False), annotation_id=ann))
            if c.new_text:
                doc_changes.append(text_edit(uri, None, "", c.new_text, ann))
        elif c.kind is ChangeKind.DELETE:
            doc_changes.append(types.DeleteFile(uri=uri, options=types.DeleteFileOptions(
                recursive=False, ignore_if_not_exists=False), annotation_id=ann))
        elif c.kind is ChangeKind.RENAME:
            new_uri = uri_of(c.new_path or "")
            doc_changes.append(types.RenameFile(old_uri=uri, new_uri=new_uri, options=types.RenameFileOptions(
                overwrite=False, ignore_if_exists=False), annotation_id=ann_for(c.new_path or "")))
            if c.new_text is not None and c.old_text is not None and c.new_text != c.old_text:
                doc_changes.append(text_edit(new_uri, None, c.old_text, c.new_text, ann))
    anns = None
    if annotations:
        anns = {ANNOTATION: types.ChangeAnnotation(
            label=f"Qwill agent, step {changes.step}", needs_confirmation=needs_confirmation,
            description=changes.summary())}
        if flagged:
            anns[ANNOTATION_FLAGGED] = types.ChangeAnnotation(
                label="Qwill agent: changes tests, CI or settings", needs_confirmation=confirm_flagged,
                description=", ".join(sorted(flagged)))
    return types.WorkspaceEdit(document_changes=doc_changes, change_annotations=anns)


class EditorApplier:
    """Sends each change set to the editor with workspace/applyEdit."""

    def __init__(self, ls: QwillServer, session: AgentSession) -> None:
        self.ls = ls
        self.session = session

    def _caps(self) -> tuple[bool, set[str], bool]:
        ws = self.ls.client_capabilities.workspace
        we = ws.workspace_edit if ws else None
        doc_changes = bool(we and we.document_changes)
        ops = {str(getattr(o, "value", o)) for o in (we.resource_operations or [])} if we else set()
        ann = bool(we and we.change_annotation_support is not None)
        return doc_changes, ops, ann

    async def apply(self, changes: ChangeSet) -> ApplyResult:
        doc_changes, ops, ann = self._caps()
        needed = {"create" if c.kind is ChangeKind.CREATE else "delete" if c.kind is ChangeKind.DELETE
                  else "rename" for c in changes.changes if c.kind is not ChangeKind.MODIFY}
        if not doc_changes or not needed <= ops:
            missing = ", ".join(sorted(needed - ops)) or "versioned document edits"
            return ApplyResult(False, f"the editor does not support {missing} in workspace edits")
        settings = self.ls.session.settings.agent
        mode = self.session.mode
        edit = workspace_edit(changes, self.session.workspace.uri, annotations=ann,
                              needs_confirmation=settings.needs_confirmation and mode.reviews_edits,
                              confirm_flagged=mode is not ApprovalMode.YOLO,
                              encoding=self.ls.session.documents.encoding)
        try:
            response = await self.ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
                edit=edit, label=f"Qwill agent: {changes.summary()}"[:200]))
        except Exception as exc:
            return ApplyResult(False, f"the editor did not apply the edit: {exc}")
        if not response.applied:
            return ApplyResult(False, response.failure_reason or "the user rejected the change in the editor")
        return ApplyResult(True)


async def _approve(ls: QwillServer, command: str, why: str) -> bool:
    try:
        item = await asyncio.wait_for(ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"Qwill agent wants to run: {command}\n({why})",
            actions=[types.MessageActionItem(title="Run"), types.MessageActionItem(title="Deny")])), 300)
    except Exception:
        return False
    return item is not None and item.title == "Run"


async def _confirmed_policy(ls: QwillServer) -> AgentSettings:
    """The agent settings for a run: policy values the client sent that widen what the
    agent may do are used once you confirm them (asked once per set of values)."""
    current = ls.session.settings.agent
    values = policy_consent.widening(current, ls.session.user_settings.agent)
    store = policy_consent.ConsentStore.default()
    if not values or store.confirmed(values):
        return current
    try:
        item = await asyncio.wait_for(ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=("Qwill: settings from the editor let the agent " + policy_consent.describe(values)
                     + ". A workspace's own settings can set these. Use them? (Asked once for these values.)"),
            actions=[types.MessageActionItem(title="Use them"), types.MessageActionItem(title="Ignore")])), 300)
    except Exception:
        item = None
    if item is not None and item.title == "Use them":
        store.confirm(values)
        return current
    return policy_consent.narrowed(current, ls.session.user_settings.agent)


async def _approve_plan(ls: QwillServer, plan: str) -> ApprovalMode | None:
    actions = {"Carry out (review edits)": ApprovalMode.ASK, "Carry out (auto-edit)": ApprovalMode.AUTO_EDIT}
    try:
        item = await asyncio.wait_for(ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info, message=f"Qwill agent proposes this plan:\n{plan}",
            actions=[*(types.MessageActionItem(title=t) for t in actions),
                     types.MessageActionItem(title="Don't")])), 600)
    except Exception:
        return None
    return actions.get(item.title) if item is not None else None


def _arg(args: tuple[Any, ...]) -> dict[str, Any]:
    if not args:
        return {}
    first = args[0]
    if isinstance(first, str):
        return {"task": first}
    if isinstance(first, dict):
        return first
    return {}


def _session_for(ls: QwillServer, arg: dict[str, Any]) -> AgentSession:
    runs = ls.session.agent_runs
    sid = arg.get("sessionId")
    if sid:
        found = runs.get(sid)
        if found is None:
            raise ValueError(f"no agent session {sid!r}")
        return found
    root = arg.get("root")
    if isinstance(root, str) and root.startswith("file:"):
        root = uri_to_path(root)
    if not root:
        roots = workspace_roots(ls)
        if not roots:
            raise ValueError("the agent needs a workspace folder (or a `root` argument)")
        root = roots[0]
    mode = arg.get("mode")
    return runs.new_session(root, ls.session.documents, mode=mode if isinstance(mode, str) else None)


async def run_agent(ls: QwillServer, arg: dict[str, Any]) -> dict[str, Any]:
    task = arg.get("task")
    if not isinstance(task, str) or not task.strip():
        return {"status": "error", "message": "qwill.agent.run needs {\"task\": \"...\"}"}
    status = ls.session.agent_status
    if not status.usable:
        return {"status": "error", "message": f"the model is not ready ({status.state.value}: {status.message})"}
    try:
        session = _session_for(ls, arg)
        if isinstance(arg.get("mode"), str) and arg.get("sessionId"):
            session.mode = ApprovalMode.parse(arg["mode"])
    except (ValueError, PathError, CheckpointError) as exc:
        return {"status": "error", "message": str(exc)}
    if session.busy:
        return {"status": "error", "sessionId": session.id, "message": "this session is already running"}
    cancel = CancelToken()
    progress = await WorkProgress.start(ls, "agent", "Qwill agent", task[:80], cancellable=True,
                                        percentage=False)
    progress.on_cancel(lambda: cancel.cancel("cancelled by the user"))

    def on_event(ev: AgentEvent) -> None:
        ls.protocol.notify(AGENT_EVENT, ev.as_dict())
        if ev.kind in ("step", "tool_call", "applied", "rejected", "checks"):
            progress.report({"step": f"step {ev.step} [{session.mode.value}]",
                             "tool_call": f"step {ev.step}: {ev.data.get('name')}",
                             "applied": f"step {ev.step}: applied",
                             "rejected": f"step {ev.step}: rejected",
                             "checks": f"step {ev.step}: tests {'passed' if ev.data.get('passed') else 'failed'}",
                             }[ev.kind])

    agent_settings = await _confirmed_policy(ls)
    if not isinstance(arg.get("mode"), str) and not arg.get("sessionId"):
        session.mode = ApprovalMode.parse(agent_settings.approval_mode)  # as confirmed
    runner = asyncio.ensure_future(ls.session.agent_runs.run(
        session, task, EditorApplier(ls, session), cancel=cancel,
        approve_command=lambda c, w: _approve(ls, c, w), on_event=on_event, agent_settings=agent_settings,
        approve_plan=lambda plan: _approve_plan(ls, plan)))
    try:
        result = await asyncio.shield(runner)
    except asyncio.CancelledError:
        # $/cancelRequest: stop the loop, let it end cleanly, then report cancelled
        cancel.cancel("cancelled by the user")
        await asyncio.wait([runner], timeout=30)
        raise
    except Exception as exc:
        log.exception("agent run failed")
        return {"status": "error", "sessionId": session.id, "message": str(exc)}
    finally:
        progress.end("agent finished")
    return {"status": result.reason, "sessionId": session.id, **result.as_dict()}


async def restore(ls: QwillServer, arg: dict[str, Any], *, to_step: int | None) -> dict[str, Any]:
    sid = arg.get("sessionId")
    session = ls.session.agent_runs.get(sid)
    if session is None:
        return {"status": "error", "message": f"no agent session {sid!r}"}
    if session.busy:
        return {"status": "error", "message": "the agent is running; cancel it first"}
    try:
        changes, step = await asyncio.to_thread(session.restore_changes, to_step)
    except CheckpointError as exc:
        return {"status": "error", "message": str(exc)}
    if changes:
        outcome = await EditorApplier(ls, session).apply(changes)
        if not outcome.applied:
            return {"status": "rejected", "step": step, "message": outcome.reason}
        session.workspace.expect(changes)
    session.forget_from(step)
    ls.protocol.notify(AGENT_EVENT, AgentEvent("restored", session.id, step,
                                               {"files": changes.paths}).as_dict())
    return {"status": "applied", "sessionId": session.id, "step": step, "files": changes.paths}


def register(server: QwillServer) -> None:
    # pygls resolves handler annotations at runtime: `ls` is a QwillServer.
    @server.command(RUN)
    async def agent_run(ls: Any, *args: Any) -> dict[str, Any]:
        return await run_agent(ls, _arg(args))

    @server.command(UNDO)
    async def agent_undo(ls: Any, *args: Any) -> dict[str, Any]:
        return await restore(ls, _arg(args), to_step=None)

    @server.command(REWIND)
    async def agent_rewind(ls: Any, *args: Any) -> dict[str, Any]:
        arg = _arg(args)
        step = arg.get("step")
        if not isinstance(step, int) or step < 1:
            return {"status": "error", "message": "qwill.agent.rewind needs {\"sessionId\", \"step\": N>=1}"}
        return await restore(ls, arg, to_step=step)

    @server.command(CANCEL)
    def agent_cancel(ls: Any, *args: Any) -> dict[str, Any]:
        cancelled = ls.session.agent_runs.cancel(_arg(args).get("sessionId"))
        return {"status": "cancelled" if cancelled else "idle"}

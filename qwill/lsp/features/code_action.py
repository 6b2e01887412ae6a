"""textDocument/codeAction and codeAction/resolve: Qwill's actions in the editor's menu.

The list is computed without the model (qwill.actions.catalog). Actions that
edit (fix, docstring, tests) carry their target in `data` and get their edit
in `codeAction/resolve`, which is when the model runs. Clients that cannot
resolve get the same actions as commands (see execute_command.py); explain
and rewrite are always commands, since they return text or need input.

While the model works the user sees `$/progress` (cancellable; the partial
answer streams through its reports). The conversion helpers for workspace
edits live here and are shared with execute_command.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...actions.catalog import ActionOffer
from ...actions.edits import WorkspaceChange
from ...actions.service import ActionResult
from ...actions.targets import ActionError, ActionKind, ActionTarget, Diagnostic
from ...context.document import DocumentError
from ...engine.base import CancelToken
from .. import convert
from ..progress import WorkProgress
from . import next_edit_items as next_edit
from .workspace import workspace_roots

if TYPE_CHECKING:
    from ...context.document import TextDocument
    from ...nextedit.service import NextEditResult, Prediction
    from ..server import QwillServer

log = logging.getLogger(__name__)

KINDS: dict[ActionKind, str] = {
    ActionKind.FIX: "quickfix.qwill",
    ActionKind.EXPLAIN: "qwill.explain",
    ActionKind.DOCSTRING: "refactor.rewrite.qwill.docstring",
    ActionKind.TESTS: "refactor.qwill.tests",
    ActionKind.REWRITE: "refactor.rewrite.qwill",
}
COMMANDS: dict[ActionKind, str] = {kind: f"qwill.{kind.value}" for kind in ActionKind}
ANNOTATION_ID = "qwill"
_REPORT_EVERY = 0.25  # seconds between streamed progress reports

def actions_enabled(ls: QwillServer) -> bool:
    return ls.session.settings.actions.enabled


def action_roots(ls: QwillServer) -> list[Path]:
    """The workspace folders, where projects (and their test folders) are found."""
    return [Path(p) for p in workspace_roots(ls)]


# -- conversions ------------------------------------------------------------------------

def diagnostic(d: types.Diagnostic) -> Diagnostic:
    code = d.code if d.code is None else str(d.code)
    return Diagnostic(d.message, convert.position(d.range.start), convert.position(d.range.end),
                      d.source or "", code or "", int(d.severity) if d.severity is not None else None)


def _client_can_resolve(ls: QwillServer) -> bool:
    ca = ls.client_capabilities.text_document.code_action if ls.client_capabilities.text_document else None
    if ca is None or ca.resolve_support is None or not ca.data_support:
        return False
    return "edit" in ca.resolve_support.properties


def _client_has_literals(ls: QwillServer) -> bool:
    ca = ls.client_capabilities.text_document.code_action if ls.client_capabilities.text_document else None
    return ca is not None and ca.code_action_literal_support is not None


def _kind_allowed(kind: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def to_code_action(ls: QwillServer, offer: ActionOffer,
                   lsp_diagnostics: list[types.Diagnostic]) -> types.CodeAction | types.Command:
    data = offer.target.to_json()
    command = types.Command(title=offer.title, command=COMMANDS[offer.kind], arguments=[data])
    if not _client_has_literals(ls):
        return command
    diags = [d for d in lsp_diagnostics
             if any(d.message == x.message and convert.position(d.range.start) == x.start
                    for x in offer.target.diagnostics)] or None
    action = types.CodeAction(title=offer.title, kind=KINDS[offer.kind], diagnostics=diags,
                              is_preferred=offer.preferred or None)
    edits = offer.kind in (ActionKind.FIX, ActionKind.DOCSTRING, ActionKind.TESTS)
    if edits and _client_can_resolve(ls):
        action.data = data
    else:
        action.command = command
    return action


def next_edit_action(ls: QwillServer, doc: TextDocument, pred: Prediction) -> types.CodeAction | types.Command:
    """The next-edit prediction as a code action carrying its WorkspaceEdit (for clients
    without `qwill/nextEdit`); choosing it counts as accepted."""
    change = next_edit.workspace_change(doc, pred)
    accepted = types.Command(title=change.label, command=next_edit.ACCEPTED_COMMAND, arguments=[pred.id])
    edit = workspace_edit(ls, change)
    if not _client_has_literals(ls):
        return types.Command(title=change.label, command=next_edit.APPLY_COMMAND, arguments=[pred.id])
    return types.CodeAction(title=change.label, kind=next_edit.CODE_ACTION_KIND, edit=edit, command=accepted)


def predict_action(ls: QwillServer, doc: TextDocument, at: types.Position) -> types.CodeAction | types.Command:
    """'Predict the next edit' for clients that never ask `qwill/nextEdit`: the model runs in
    codeAction/resolve (or in the command) and the edit it predicts is the action's."""
    data = {next_edit.PREDICT_DATA: {"uri": doc.uri, "version": doc.version,
                                     "line": at.line, "character": at.character}}
    title = "Qwill: Predict the next edit"
    if _client_has_literals(ls) and _client_can_resolve(ls):
        return types.CodeAction(title=title, kind=next_edit.CODE_ACTION_KIND, data=data)
    return types.Command(title=title, command=next_edit.PREDICT_COMMAND, arguments=[data[next_edit.PREDICT_DATA]])


async def resolve_prediction(ls: QwillServer, action: types.CodeAction, where: Any) -> types.CodeAction:
    """Run the model for a 'Predict the next edit' action; its edit, or a message why not."""
    uri = where.get("uri") if isinstance(where, dict) else None
    doc = ls.session.documents.get(uri) if isinstance(uri, str) else None
    if doc is None or where.get("version") != doc.version:
        ls.show("the document changed since the menu opened; ask again", types.MessageType.Info)
        return action
    try:
        offset = doc.offset_at(convert.position(types.Position(line=int(where["line"]),
                                                               character=int(where["character"]))))
    except (KeyError, TypeError, ValueError, DocumentError) as exc:
        ls.show(f"cannot predict here: {exc}", types.MessageType.Error)
        return action
    progress = await WorkProgress.start(ls, "next-edit", "Qwill: Predict the next edit", "waiting for the model",
                                        cancellable=True, percentage=False)
    cancel = CancelToken()
    progress.on_cancel(lambda: cancel.cancel("cancelled by the user"))
    result: NextEditResult | None = None
    try:
        result = await ls.session.next_edit.predict(doc.uri, offset, cancel=cancel)
    finally:
        progress.end(result.reason if result is not None and result.prediction is None else "done")
    live = ls.session.documents.get(doc.uri)
    if result.prediction is None or live is None or live.version != result.prediction.version:
        if not result.cancelled:
            ls.show(f"no next edit: {result.reason}", types.MessageType.Info)
        return action
    change = next_edit.workspace_change(live, result.prediction)
    action.edit = workspace_edit(ls, change)
    action.command = types.Command(title=change.label, command=next_edit.ACCEPTED_COMMAND,
                                   arguments=[result.prediction.id])
    return action


def workspace_edit(ls: QwillServer, change: WorkspaceChange) -> types.WorkspaceEdit:
    """Our WorkspaceChange as the client can take it: versioned document changes with
    a change annotation when supported, a plain `changes` map otherwise."""
    ws = ls.client_capabilities.workspace
    caps = ws.workspace_edit if ws else None
    resource_ops = [str(getattr(op, "value", op)) for op in (caps.resource_operations or [])] if caps else []
    doc_changes = bool(caps and (caps.document_changes or "create" in resource_ops))
    annotate = bool(caps and caps.change_annotation_support is not None and doc_changes)
    if any(fc.create for fc in change.files) and not (doc_changes and "create" in resource_ops):
        new = next(fc.uri for fc in change.files if fc.create)
        raise ActionError(f"your editor cannot create files through LSP; create {new} and run the action again")
    if not doc_changes:
        changes: dict[str, list[types.TextEdit]] = {}
        for fc in change.files:
            doc = ls.session.documents.detached(fc.uri, fc.base_text)
            changes[fc.uri] = [types.TextEdit(range=convert.lsp_range(doc, e.start, e.end), new_text=e.new_text)
                               for e in fc.edits]
        return types.WorkspaceEdit(changes=changes)
    parts: list[Any] = []
    for fc in change.files:
        doc = ls.session.documents.detached(fc.uri, fc.base_text)
        if fc.create:
            parts.append(types.CreateFile(
                uri=fc.uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True),
                annotation_id=ANNOTATION_ID if annotate else None))
        edits: list[types.TextEdit | types.AnnotatedTextEdit] = []
        for e in fc.edits:
            rng = convert.lsp_range(doc, e.start, e.end)
            edits.append(types.AnnotatedTextEdit(range=rng, new_text=e.new_text, annotation_id=ANNOTATION_ID)
                         if annotate else types.TextEdit(range=rng, new_text=e.new_text))
        parts.append(types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=fc.uri, version=fc.version),
            edits=edits))
    annotations = {ANNOTATION_ID: types.ChangeAnnotation(label=change.label, needs_confirmation=False,
                                                         description="Edited by Qwill's local model")}
    return types.WorkspaceEdit(document_changes=parts, change_annotations=annotations if annotate else None)


# -- running with progress -----------------------------------------------------------------

def _tail(text: str, n: int = 100) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    return last if len(last) <= n else "…" + last[-n:]


async def run_with_progress(ls: QwillServer, target: ActionTarget) -> ActionResult:
    """Run an action, showing cancellable `$/progress` with the answer as it streams."""
    svc = ls.session.actions
    cancel = CancelToken()
    progress = await WorkProgress.start(ls, "action", f"Qwill: {target.kind.label}", "waiting for the model",
                                        cancellable=True, percentage=False)
    progress.on_cancel(lambda: cancel.cancel("cancelled by the user"))
    last = [0.0]

    def on_text(text: str) -> None:
        now = time.monotonic()
        if now - last[0] >= _REPORT_EVERY:
            last[0] = now
            progress.report(_tail(text))

    result: ActionResult | None = None
    try:
        result = await svc.run(target, cancel=cancel, on_text=on_text, roots=action_roots(ls))
        return result
    finally:
        progress.end("cancelled" if result is None or result.cancelled
                     else (result.error or f"done ({result.stats.generated_tokens} tokens)"))


def register(server: QwillServer) -> None:
    kinds = sorted({types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor,
                    types.CodeActionKind.RefactorRewrite, *KINDS.values()})

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=kinds, resolve_provider=True))
    def code_action(ls: QwillServer, params: types.CodeActionParams
                    ) -> list[types.CodeAction | types.Command] | None:
        doc = ls.session.documents.get(params.text_document.uri)
        if doc is None or not actions_enabled(ls):
            return None
        ctx = params.context
        lsp_diags = list(ctx.diagnostics) if ctx else []
        offers = ls.session.actions.offers(
            doc, convert.position(params.range.start), convert.position(params.range.end),
            diagnostics=[diagnostic(d) for d in lsp_diags], roots=action_roots(ls))
        only = [str(k) for k in ctx.only] if ctx and ctx.only else None
        found: list[types.CodeAction | types.Command] = []
        if _kind_allowed(next_edit.CODE_ACTION_KIND, only):
            predicted = ls.session.next_edit.current(doc.uri)
            if predicted is not None:
                found.append(next_edit_action(ls, doc, predicted))
            elif ls.session.next_edit.can_follow(doc.uri):
                found.append(predict_action(ls, doc, params.range.start))
        found.extend(to_code_action(ls, o, lsp_diags) for o in offers if _kind_allowed(KINDS[o.kind], only))
        return found

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: QwillServer, action: types.CodeAction) -> types.CodeAction:
        if action.data is None:
            return action
        if isinstance(action.data, dict) and next_edit.PREDICT_DATA in action.data:
            return await resolve_prediction(ls, action, action.data[next_edit.PREDICT_DATA])
        try:
            target = ActionTarget.from_json(action.data)
        except ActionError as exc:
            ls.show(f"cannot run this action: {exc}", types.MessageType.Error)
            return action
        result = await run_with_progress(ls, target)
        if result.change is not None:
            try:
                action.edit = workspace_edit(ls, result.change)
            except ActionError as exc:
                ls.show(str(exc), types.MessageType.Error)
        elif not result.cancelled:
            ls.show(f"{result.title.removeprefix('Qwill: ')}: {result.error}", types.MessageType.Warning)
        return action

"""`qwill/nextEdit` and its notifications: the edit that follows the user's last ones.

Request `qwill/nextEdit` {textDocument: {uri}, position} answers
{id, uri, version, edits: [{range, newText}], jump: Position, cursor: Position, format}
or, when there is no prediction, {id: null, edits: [], reason}. Edits refer to the
document at `version`; `jump` is where the change starts, `cursor` where the cursor goes
after applying all edits. A newer keystroke in the document (or `$/cancelRequest`)
cancels a running prediction; it then answers with `reason: "cancelled"`.

Notifications `qwill/nextEdit/shown`, `qwill/nextEdit/accepted`, `qwill/nextEdit/rejected`
{id}: what became of a prediction; they only feed the local counters
(`qwill/completionStats`), nothing is sent anywhere.

Clients that do not speak `qwill/nextEdit` get the last prediction as a code action and,
when it inserts at the cursor, as an inline-completion item (next_edit_items.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...context.document import TextDocument
from ...engine.base import CancelToken
from ...nextedit.diffs import apply_edits
from ...nextedit.service import NextEditResult, Prediction
from .. import convert
from .code_action import resolve_prediction, workspace_edit
from .next_edit_items import (
    ACCEPTED_COMMAND,
    APPLY_COMMAND,
    INLINE_ACCEPTED_COMMAND,
    NEXT_EDIT,
    NEXT_EDIT_ACCEPTED,
    NEXT_EDIT_REJECTED,
    NEXT_EDIT_SHOWN,
    PREDICT_COMMAND,
    workspace_change,
)

if TYPE_CHECKING:
    from ..server import QwillServer


def _lsp_pos(doc: TextDocument, offset: int) -> dict[str, int]:
    p = doc.position_at(offset)
    return {"line": p.line, "character": p.character}


def prediction_json(doc: TextDocument, pred: Prediction) -> dict[str, Any]:
    """The prediction on the wire; `doc` is the document at the prediction's version."""
    edits = [{"range": {"start": _lsp_pos(doc, e.start), "end": _lsp_pos(doc, e.end)}, "newText": e.text}
             for e in pred.edits]
    after = TextDocument(doc.uri, apply_edits(doc.text, list(pred.edits)), encoding=doc.encoding)
    return {"id": pred.id, "uri": pred.uri, "version": pred.version, "edits": edits,
            "jump": _lsp_pos(doc, pred.jump), "cursor": _lsp_pos(after, pred.cursor_after),
            "format": pred.format}


def result_json(doc: TextDocument, result: NextEditResult) -> dict[str, Any]:
    if result.prediction is not None:
        return prediction_json(doc, result.prediction)
    return {"id": None, "edits": [], "reason": result.reason}


def register(server: QwillServer) -> None:
    @server.feature(NEXT_EDIT)
    async def next_edit(ls: QwillServer, params: Any) -> dict[str, Any]:
        doc, offset = convert.document_position(ls.session.documents, params)
        uri = doc.uri
        cancel = CancelToken()
        try:
            result = await ls.session.next_edit.predict(uri, offset, cancel=cancel)
        except asyncio.CancelledError:  # $/cancelRequest
            cancel.cancel("the client cancelled the request")
            raise
        live = ls.session.documents.get(uri) or doc
        if result.prediction is not None and live.version != result.prediction.version:
            return {"id": None, "edits": [], "reason": "cancelled"}
        return result_json(live, result)

    def outcome(what: str) -> Any:
        def handler(ls: QwillServer, params: Any) -> None:
            pid = convert.field(params, "id")
            if not isinstance(pid, str):
                ls.log_message(f"qwill/nextEdit/{what} needs {{id}}", types.MessageType.Warning)
                return
            ls.session.next_edit.record(pid, what)
        return handler

    @server.command(ACCEPTED_COMMAND)
    def accepted(ls: Any, *args: Any) -> dict[str, Any]:
        pid = args[0] if args else None
        if not isinstance(pid, str):
            return {"status": "error", "message": f"{ACCEPTED_COMMAND} needs the prediction's id"}
        return {"status": "ok" if ls.session.next_edit.record(pid, "accepted") else "unknown"}

    @server.command(APPLY_COMMAND)
    async def apply(ls: Any, *args: Any) -> dict[str, Any]:
        pid = args[0] if args else None
        pred = ls.session.next_edit.find(pid) if isinstance(pid, str) else None
        doc = ls.session.documents.get(pred.uri) if pred is not None else None
        if pred is None or doc is None or doc.version != pred.version:
            return {"status": "error", "message": "that prediction is no longer current; nothing was changed"}
        change = workspace_change(doc, pred)
        response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=workspace_edit(ls, change), label=change.label))
        if not response.applied:
            return {"status": "error", "message": response.failure_reason or "the editor did not apply the edit"}
        ls.session.next_edit.record(pred.id, "accepted")
        return {"status": "applied", "label": change.label}

    @server.command(PREDICT_COMMAND)
    async def predict(ls: Any, *args: Any) -> dict[str, Any]:
        where = args[0] if args else None
        if not isinstance(where, dict):
            return {"status": "error", "message": f"{PREDICT_COMMAND} needs {{uri, version, line, character}}"}
        resolved = await resolve_prediction(ls, types.CodeAction(title="Qwill: Predict the next edit"), where)
        if resolved.edit is None:
            return {"status": "error", "message": "no next edit"}
        response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=resolved.edit, label=resolved.title))
        if not response.applied:
            return {"status": "error", "message": response.failure_reason or "the editor did not apply the edit"}
        if resolved.command is not None and resolved.command.arguments:
            ls.session.next_edit.record(str(resolved.command.arguments[0]), "accepted")
        return {"status": "applied"}

    @server.command(INLINE_ACCEPTED_COMMAND)
    def inline_accepted(ls: Any, *args: Any) -> dict[str, Any]:
        ls.session.completion.counters.accepted += 1
        return {"status": "ok"}

    server.feature(NEXT_EDIT_SHOWN)(outcome("shown"))
    server.feature(NEXT_EDIT_ACCEPTED)(outcome("accepted"))
    server.feature(NEXT_EDIT_REJECTED)(outcome("rejected"))

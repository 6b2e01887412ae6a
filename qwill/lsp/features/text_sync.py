"""didOpen / didChange / didClose: keep the session's live buffers current."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...context.document import DocumentError
from .. import convert
from .inline_completion import too_large

if TYPE_CHECKING:
    from ..server import QwillServer

CURSOR_NOTIFICATION = "qwill/didMoveCursor"


def _warm(ls: QwillServer, uri: str, offset: int) -> None:
    doc = ls.session.documents.get(uri)
    if doc is None or not ls.session.completion.ready or too_large(ls, doc):
        return
    task = asyncio.ensure_future(ls.session.completion.warm(
        uri, doc.text, offset, convert.uri_to_path(uri), doc.language_id))
    ls.warm_tasks.add(task)
    task.add_done_callback(ls.warm_tasks.discard)


def register(server: QwillServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: QwillServer, params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        ls.session.documents.open(td.uri, td.text, td.version, td.language_id)
        # Evaluate the head of the file while the user reads it (cancelled by any request).
        _warm(ls, td.uri, 0)

    @server.feature(CURSOR_NOTIFICATION)
    def did_move_cursor(ls: QwillServer, params: Any) -> None:
        """`qwill/didMoveCursor` {textDocument: {uri}, position}: sent by our clients
        when the cursor rests in a new place, so the first keystroke there is cheap."""
        try:
            uri = params.textDocument.uri
            pos = types.Position(line=int(params.position.line), character=int(params.position.character))
        except (AttributeError, TypeError, ValueError):
            ls.log_message("qwill/didMoveCursor needs textDocument.uri and position", types.MessageType.Warning)
            return
        doc = ls.session.documents.get(uri)
        if doc is None:
            return
        try:
            offset = doc.offset_at(convert.position(pos))
        except DocumentError:
            return
        _warm(ls, uri, offset)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: QwillServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri not in ls.session.documents:
            ls.log_message(f"didChange for {uri}, which is not open; ignored",
                           types.MessageType.Warning)
            return
        try:
            ls.session.documents.change(
                uri, params.text_document.version,
                [convert.change(c) for c in params.content_changes])
        except DocumentError as exc:
            ls.show(f"could not apply an edit to {uri}: {exc}; the buffer is unchanged")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: QwillServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.session.documents.close(params.text_document.uri)

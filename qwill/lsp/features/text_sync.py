"""didOpen / didChange / didClose: keep the session's live buffers current."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ...context.document import DocumentError
from .. import convert

if TYPE_CHECKING:
    from ..server import QwillServer


def register(server: QwillServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: QwillServer, params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        ls.session.documents.open(td.uri, td.text, td.version, td.language_id)

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

"""textDocument/inlineCompletion (LSP 3.18): ghost text from the model."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ...completion.service import CompletionRequest, Suggestion
from .. import convert
from . import next_edit_items as next_edit

if TYPE_CHECKING:
    from ...context.document import TextDocument
    from ..server import QwillServer


# Building a prompt reads the whole document (parse, names, line index): about
# 2 s per MB on the event loop. Past this size (characters) a document is kept
# in sync but gets no suggestions, so a generated or data file cannot stall
# every other request.
MAX_COMPLETION_DOCUMENT = 1_000_000


def too_large(ls: QwillServer, doc: TextDocument) -> bool:
    """True (and the user told once) when `doc` is over MAX_COMPLETION_DOCUMENT."""
    if len(doc.text) <= MAX_COMPLETION_DOCUMENT:
        ls.told_too_large.discard(doc.uri)
        return False
    if doc.uri not in ls.told_too_large:
        ls.told_too_large.add(doc.uri)
        ls.log_message(f"Qwill: {doc.uri} has {len(doc.text):,} characters; suggestions are off for "
                       f"documents over {MAX_COMPLETION_DOCUMENT:,}", types.MessageType.Info)
    return True


def completion_request(ls: QwillServer, uri: str, pos: types.Position,
                       invoked: bool = False) -> tuple[TextDocument, CompletionRequest | None]:
    """The request for a completion at `pos`; None when the document is too large."""
    doc = ls.session.documents.get(uri)
    if doc is None:
        raise JsonRpcInvalidParams(f"document {uri} is not open (send textDocument/didOpen first)")
    offset = convert.offset_or_error(doc, pos)
    if too_large(ls, doc):
        return doc, None
    return doc, CompletionRequest(uri=uri, text=doc.text, offset=offset,
                                  path=convert.uri_to_path(uri), language_id=doc.language_id,
                                  invoked=invoked)


def to_item(doc: TextDocument, s: Suggestion) -> types.InlineCompletionItem:
    # the command runs when the user accepts the item: the local acceptance count
    return types.InlineCompletionItem(insert_text=s.text, range=convert.lsp_range(doc, s.start, s.end),
                                      command=types.Command(title="accepted",
                                                            command=next_edit.INLINE_ACCEPTED_COMMAND))


def register(server: QwillServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: QwillServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        doc, req = completion_request(ls, params.text_document.uri, params.position, invoked)
        if req is None:
            return types.InlineCompletionList(items=[])
        info = params.context.selected_completion_info
        if info is not None:
            start = convert.offset_or_error(doc, info.range.start)
            end = convert.offset_or_error(doc, info.range.end)
            req = dataclasses.replace(req, selected=(start, end, info.text))
        suggestion = await ls.session.completion.complete(req)
        items = [to_item(doc, suggestion)] if suggestion is not None else []
        # a next-edit prediction that inserts at the cursor, on its line, is ghost text too
        predicted = ls.session.next_edit.current(doc.uri)
        if predicted is not None:
            item = next_edit.inline_item(doc, predicted, req.offset)
            if item is not None and all(i.insert_text != item.insert_text for i in items):
                items.append(item)
        if items:
            ls.session.completion.counters.shown += 1
        return types.InlineCompletionList(items=items)

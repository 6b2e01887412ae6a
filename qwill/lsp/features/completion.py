"""textDocument/completion: the suggestion as a completion item, for clients
without inline completion (e.g. Neovim 0.11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from .. import convert
from .inline_completion import completion_request

if TYPE_CHECKING:
    from ..server import QwillServer


def register(server: QwillServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " "], resolve_provider=False),
    )
    async def completion(ls: QwillServer, params: types.CompletionParams) -> types.CompletionList:
        invoked = params.context is None or (
            params.context.trigger_kind == types.CompletionTriggerKind.Invoked)
        doc, req = completion_request(ls, params.text_document.uri, params.position, invoked)
        if req is None:
            return types.CompletionList(is_incomplete=False, items=[])
        suggestion = await ls.session.completion.complete(req)
        if suggestion is None:
            return types.CompletionList(is_incomplete=True, items=[])
        first = suggestion.text.strip().split("\n", 1)[0]
        label = first if len(first) <= 60 else first[:57] + "..."
        item = types.CompletionItem(
            label=label or suggestion.text.strip()[:60],
            kind=types.CompletionItemKind.Text,
            detail="Qwill",
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                              value=f"```\n{suggestion.text}\n```"),
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=convert.lsp_range(doc, suggestion.start, suggestion.end),
                                     new_text=suggestion.text),
            # the line up to the cursor (characters, whatever the position encoding)
            filter_text=doc.text[doc.text.rfind("\n", 0, req.offset) + 1:req.offset] + suggestion.text,
            sort_text="0",
            preselect=True,
        )
        # Incomplete: the next keystroke asks again (the typed-through cache makes it free).
        return types.CompletionList(is_incomplete=True, items=[item])

"""The position encoding negotiated in `initialize` is the one every position uses.

pygls picks the client's first supported encoding (Neovim offers UTF-8 first) and
announces it in the server's capabilities; the document store then counts columns in
it, both for what the client sends (changes, requests) and for what Qwill answers.
"""

from __future__ import annotations

import attrs
import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from .conftest import inline_params, lsp_session, open_doc

URI = "file:///work/names.py"
LINE = 'name = "Zoë 😀"'  # ë: 2 UTF-8 bytes; 😀: 4 UTF-8 bytes, 2 UTF-16 units, 1 code point
TEXT = LINE + "\nvalue = 1\n"


def columns(s: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    return len(s)


def capabilities(encoding: str) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    general = attrs.evolve(caps.general or types.GeneralClientCapabilities(), position_encodings=[encoding])
    return attrs.evolve(caps, general=general)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-32", "utf-16"])
async def test_changes_requests_and_answers_count_columns_in_the_negotiated_encoding(fake_script, encoding) -> None:
    async with lsp_session(fake_script(default="abc"), capabilities=capabilities(encoding)) as (client, _):
        assert client.server_capabilities.position_encoding == encoding
        open_doc(client, URI, TEXT)
        # type "!" at the end of the first line, at its column in this encoding
        end = types.Position(line=0, character=columns(LINE, encoding))
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=end, end=end),
                                                                    text="!")]))
        after = columns(LINE + "!", encoding)
        listing = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=0, character=after)))
        assert isinstance(listing, types.CompletionList) and len(listing.items) == 1
        item = listing.items[0]
        # the server's idea of the line before the cursor: the change landed where it was sent
        assert item.filter_text == LINE + "!" + "abc"
        assert isinstance(item.text_edit, types.TextEdit)
        assert item.text_edit.range.start == types.Position(line=0, character=after)
        # a request in the middle of the line, after the non-ASCII name
        mid = columns('name = "Zoë', encoding)
        result = await client.text_document_inline_completion_async(inline_params(URI, 0, mid))
        assert isinstance(result, types.InlineCompletionList) and result.items
        assert result.items[0].range.start == types.Position(line=0, character=mid)

"""Conversions between lsprotocol types and Qwill's own."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..context.document import (
    DocumentError,
    Position,
    Range,
    TextChange,
    TextDocument,
)


def position(p: types.Position) -> Position:
    return Position(p.line, p.character)


def lsp_position(p: Position) -> types.Position:
    return types.Position(line=p.line, character=p.character)


def lsp_range(doc: TextDocument, start: int, end: int) -> types.Range:
    return types.Range(start=lsp_position(doc.position_at(start)),
                       end=lsp_position(doc.position_at(end)))


def change(ev: types.TextDocumentContentChangeEvent) -> TextChange:
    if isinstance(ev, types.TextDocumentContentChangePartial):
        return TextChange(ev.text, Range(position(ev.range.start), position(ev.range.end)))
    return TextChange(ev.text)


def uri_to_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def offset_or_error(doc: TextDocument, pos: types.Position) -> int:
    """The offset of `pos`, or an InvalidParams error naming what is wrong."""
    try:
        return doc.offset_at(position(pos), strict=True)
    except DocumentError as exc:
        raise JsonRpcInvalidParams(f"{doc.uri}: {exc}") from None

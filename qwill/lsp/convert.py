"""Conversions between lsprotocol types and Qwill's own."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..context.document import (
    DocumentError,
    DocumentStore,
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


def field(obj: Any, *names: str) -> Any:
    """`obj.a.b` for `names` ("a", "b") whether pygls hands the params of a custom request
    over as dicts or as objects; None where a name is missing."""
    for name in names:
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def document_position(documents: DocumentStore, params: Any) -> tuple[TextDocument, int]:
    """The open document and offset of a custom request's {textDocument: {uri}, position},
    or an InvalidParams error naming what is wrong."""
    uri = field(params, "textDocument", "uri") or field(params, "text_document", "uri")
    line, character = field(params, "position", "line"), field(params, "position", "character")
    if not isinstance(uri, str) or not isinstance(line, int) or not isinstance(character, int):
        raise JsonRpcInvalidParams("expected {textDocument: {uri}, position: {line, character}}")
    doc = documents.get(uri)
    if doc is None:
        raise JsonRpcInvalidParams(f"document {uri} is not open (send textDocument/didOpen first)")
    try:
        pos = types.Position(line=line, character=character)
    except ValueError as exc:  # negative or over 2**31 - 1
        raise JsonRpcInvalidParams(f"position: {exc}") from None
    return doc, offset_or_error(doc, pos)

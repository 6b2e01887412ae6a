"""Open documents as the editor sees them: text, version, incremental edits.

Positions follow LSP: zero-based line, and a column counted in the position
encoding the client and server agreed on in `initialize` (UTF-16 code units unless
they chose UTF-8 bytes or UTF-32 code points; the store holds it, see
`DocumentStore.encoding`). Every
surface (LSP, ACP, CLI) feeds edits here and every feature reads the live text
from here, so the model always sees unsaved buffers. Out-of-range positions
raise DocumentError instead of being silently clamped, so a bad request
changes nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

PositionEncoding = Literal["utf-8", "utf-16", "utf-32"]
ENCODINGS: tuple[PositionEncoding, ...] = ("utf-8", "utf-16", "utf-32")
# LSP's default, and the only encoding a client that names none understands
DEFAULT_ENCODING: PositionEncoding = "utf-16"


class DocumentError(ValueError):
    """A position or edit that does not fit the document."""


def position_encoding(name: str | None) -> PositionEncoding:
    """`name` as a PositionEncoding (LSP's default for None; ValueError if unknown)."""
    if name is None:
        return DEFAULT_ENCODING
    if name not in ENCODINGS:
        raise ValueError(f"unknown position encoding {name!r} (known: {', '.join(ENCODINGS)})")
    return name


@dataclass(frozen=True, order=True)
class Position:
    line: int
    character: int  # in the document's position encoding (UTF-16 code units by default)


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


@dataclass(frozen=True)
class TextChange:
    """An edit: replace `range` (or the whole text when None) with `text`."""

    text: str
    range: Range | None = None


@dataclass(frozen=True)
class AppliedEdit:
    """A change after it was applied, in character offsets (for parsers, caches)."""

    start: int
    old_end: int
    new_end: int
    old_text: str
    new_text: str


def _width(ch: str, encoding: PositionEncoding) -> int:
    """Columns one code point takes."""
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 1


def column_len(s: str, encoding: PositionEncoding = DEFAULT_ENCODING) -> int:
    """Columns `s` spans in `encoding`."""
    if encoding == "utf-32" or s.isascii():
        return len(s)
    if encoding == "utf-16":
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)
    return len(s.encode("utf-8", "surrogatepass"))


def column_to_index(line: str, column: int, encoding: PositionEncoding = DEFAULT_ENCODING) -> int:
    """Code-point index in `line` of a column (a column inside a character rounds up)."""
    if column <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(column, len(line))
    units = 0
    for i, ch in enumerate(line):
        if units >= column:
            return i
        units += _width(ch, encoding)
    return len(line)


@dataclass
class TextDocument:
    uri: str
    text: str
    version: int = 0
    language_id: str = ""
    # how Position.character counts (negotiated once per connection, held by the store)
    encoding: PositionEncoding = DEFAULT_ENCODING
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._line_starts = line_starts(self.text)

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line(self, n: int) -> str:
        """Line `n` without its line ending."""
        if not 0 <= n < self.line_count:
            raise DocumentError(f"line {n} is outside the document ({self.line_count} lines)")
        start = self._line_starts[n]
        end = self._line_starts[n + 1] - 1 if n + 1 < self.line_count else len(self.text)
        s = self.text[start:end]
        return s[:-1] if s.endswith("\r") else s

    def offset_at(self, pos: Position, *, strict: bool = True) -> int:
        """Character offset of an LSP position.

        `strict` rejects lines past the end and columns past the line's end;
        otherwise they are clamped (LSP allows that for edit ranges).
        """
        return _offset_in(self.text, self._line_starts, pos, strict, self.encoding)

    def position_at(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[line]
        return Position(line, column_len(self.text[start:offset], self.encoding))

    def apply(self, changes: Iterable[TextChange]) -> list[AppliedEdit]:
        """Apply changes in order (as LSP sends them); all or nothing."""
        # Line starts are updated in place of a full re-scan: a keystroke costs
        # what it changed, not the document's size.
        text = self.text
        starts = self._line_starts
        applied: list[AppliedEdit] = []
        for ch in changes:
            if ch.range is None:
                applied.append(AppliedEdit(0, len(text), len(ch.text), text, ch.text))
                text, starts = ch.text, line_starts(ch.text)
                continue
            start = _offset_in(text, starts, ch.range.start, False, self.encoding)
            end = _offset_in(text, starts, ch.range.end, False, self.encoding)
            if end < start:
                raise DocumentError("edit range ends before it starts")
            old = text[start:end]
            text = text[:start] + ch.text + text[end:]
            starts = _shift_starts(starts, start, end, ch.text)
            applied.append(AppliedEdit(start, end, start + len(ch.text), old, ch.text))
        self.text = text
        self._line_starts = starts
        return applied


def line_starts(text: str) -> list[int]:
    """The offset of every line of `text` (the first is 0)."""
    starts = [0]
    i = text.find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _shift_starts(starts: list[int], start: int, end: int, new: str) -> list[int]:
    """Line starts after replacing text[start:end] with `new` (a new list)."""
    i = bisect.bisect_right(starts, start)  # starts[:i] are unaffected
    j = bisect.bisect_right(starts, end)  # starts[i:j] began inside the replaced text
    added = []
    k = new.find("\n")
    while k >= 0:
        added.append(start + k + 1)
        k = new.find("\n", k + 1)
    delta = len(new) - (end - start)
    return starts[:i] + added + [s + delta for s in starts[j:]]


def _line_text(text: str, starts: list[int], n: int) -> str:
    start = starts[n]
    end = starts[n + 1] - 1 if n + 1 < len(starts) else len(text)
    s = text[start:end]
    return s[:-1] if s.endswith("\r") else s


def _offset_in(text: str, starts: list[int], pos: Position, strict: bool,
               encoding: PositionEncoding) -> int:
    if pos.line < 0 or pos.character < 0:
        raise DocumentError(f"negative position {pos.line}:{pos.character}")
    if pos.line >= len(starts):
        if strict:
            raise DocumentError(f"line {pos.line} is outside the document ({len(starts)} lines)")
        return len(text)
    line = _line_text(text, starts, pos.line)
    width = column_len(line, encoding)
    if pos.character > width:
        if strict:
            raise DocumentError(
                f"column {pos.character} is past the end of line {pos.line} ({width} columns)"
            )
        return starts[pos.line] + len(line)
    return starts[pos.line] + column_to_index(line, pos.character, encoding)


Listener = Callable[[TextDocument, list[AppliedEdit]], None]


class DocumentStore:
    """The live buffers, keyed by URI; listeners hear about every change.

    `encoding` is how every position in and out of these documents counts columns:
    set once when the protocol layer has negotiated it (`use_encoding`)."""

    def __init__(self, encoding: PositionEncoding = DEFAULT_ENCODING) -> None:
        self._docs: dict[str, TextDocument] = {}
        self.listeners: list[Listener] = []
        self.close_listeners: list[Callable[[str], None]] = []
        self.encoding = encoding

    def use_encoding(self, encoding: PositionEncoding) -> None:
        """Count columns in `encoding` from now on (open documents too)."""
        self.encoding = encoding
        for doc in self._docs.values():
            doc.encoding = encoding

    def detached(self, uri: str, text: str) -> TextDocument:
        """A document that is not one of the live buffers (a file's text before an edit,
        say) but converts positions as they do."""
        return TextDocument(uri, text, encoding=self.encoding)

    def open(self, uri: str, text: str, version: int = 0, language_id: str = "") -> TextDocument:
        doc = TextDocument(uri, text, version, language_id, self.encoding)
        self._docs[uri] = doc
        edit = AppliedEdit(0, 0, len(text), "", text)
        for listener in self.listeners:
            listener(doc, [edit])
        return doc

    def change(self, uri: str, version: int | None, changes: Iterable[TextChange]) -> TextDocument:
        doc = self.get(uri)
        if doc is None:
            raise DocumentError(f"document {uri} is not open")
        edits = doc.apply(changes)
        if version is not None:
            doc.version = version
        for listener in self.listeners:
            listener(doc, edits)
        return doc

    def close(self, uri: str) -> None:
        if self._docs.pop(uri, None) is not None:
            for listener in self.close_listeners:
                listener(uri)

    def get(self, uri: str) -> TextDocument | None:
        return self._docs.get(uri)

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self) -> Iterator[TextDocument]:
        return iter(list(self._docs.values()))

"""Live documents: positions in UTF-16 (and UTF-8, UTF-32), CRLF, incremental edits, bad positions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwill.context.document import (
    AppliedEdit,
    DocumentError,
    DocumentStore,
    Position,
    Range,
    TextChange,
    TextDocument,
)


def rng(l1: int, c1: int, l2: int, c2: int) -> Range:
    return Range(Position(l1, c1), Position(l2, c2))


# -- a reference model of LSP positions, written the slow obvious way -----------------

def ref_lines(text: str) -> list[str]:
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def ref_offset(text: str, pos: Position) -> int:
    """Offset of an in-range position: UTF-16 columns counted by encoding."""
    raw = text.split("\n")
    offset = sum(len(ln) + 1 for ln in raw[: pos.line])
    line = ref_lines(text)[pos.line]
    units = 0
    for i, ch in enumerate(line):
        if units >= pos.character:
            return offset + i
        units += len(ch.encode("utf-16-le")) // 2
    return offset + len(line)


def test_columns_count_utf16_code_units() -> None:
    doc = TextDocument("file:///e.py", "s = '😀x'\nnext")
    # '😀' is one code point but two UTF-16 units: 'x' is at column 7
    assert doc.offset_at(Position(0, 7)) == doc.text.index("x")
    assert doc.position_at(doc.text.index("x")) == Position(0, 7)
    assert doc.position_at(doc.text.rindex("'") + 1) == Position(0, 9)
    # the line is 9 units long, though 8 code points
    assert doc.offset_at(Position(0, 9)) == doc.text.index("\n")
    with pytest.raises(DocumentError, match="column 10 is past the end of line 0"):
        doc.offset_at(Position(0, 10))


def test_a_column_inside_a_surrogate_pair_rounds_up_past_it() -> None:
    doc = TextDocument("u", "a😀b")
    assert doc.offset_at(Position(0, 2)) == 2  # between the halves -> after the emoji
    assert doc.offset_at(Position(0, 3)) == 2


def test_crlf_lines_exclude_the_line_ending() -> None:
    doc = TextDocument("u", "one\r\ntwo😀\r\n\r\nfour")
    assert doc.line_count == 4
    assert [doc.line(i) for i in range(4)] == ["one", "two😀", "", "four"]
    assert doc.offset_at(Position(1, 5)) == doc.text.index("\r", 5)  # end of 'two😀'
    with pytest.raises(DocumentError):
        doc.offset_at(Position(1, 6))  # the '\r' is not a column
    assert doc.offset_at(Position(3, 2)) == len(doc.text) - 2
    assert doc.position_at(doc.text.index("four")) == Position(3, 0)


def test_edit_on_crlf_document_keeps_other_lines() -> None:
    doc = TextDocument("u", "a\r\nb\r\nc")
    doc.apply([TextChange("X\r\nY", rng(1, 0, 1, 1))])
    assert doc.text == "a\r\nX\r\nY\r\nc"
    assert [doc.line(i) for i in range(doc.line_count)] == ["a", "X", "Y", "c"]


def test_several_changes_in_one_event_apply_in_order() -> None:
    doc = TextDocument("u", "def f():\n    pass\n")
    edits = doc.apply([
        TextChange("return 1", rng(1, 4, 1, 8)),  # replace 'pass'
        TextChange("g", rng(0, 4, 0, 5)),  # positions of the text after the first change
        TextChange("x = 0\n", rng(0, 0, 0, 0)),  # moves every line down
        TextChange("y", rng(1, 6, 1, 6)),  # 'def g(' is now on line 1
    ])
    assert doc.text == "x = 0\ndef g(y):\n    return 1\n"
    assert [e.new_text for e in edits] == ["return 1", "g", "x = 0\n", "y"]
    assert edits[0] == AppliedEdit(13, 17, 21, "pass", "return 1")
    assert edits[2] == AppliedEdit(0, 0, 6, "", "x = 0\n")


def test_a_full_text_change_replaces_everything_and_later_ranges_use_it() -> None:
    doc = TextDocument("u", "old\ntext")
    edits = doc.apply([TextChange("new 😀\nbody\n"), TextChange("!", rng(1, 4, 1, 4))])
    assert doc.text == "new 😀\nbody!\n"
    assert edits[0] == AppliedEdit(0, 8, 11, "old\ntext", "new 😀\nbody\n")
    assert doc.line_count == 3
    assert doc.position_at(len(doc.text)) == Position(2, 0)


def test_edit_positions_past_a_line_end_are_clamped_as_lsp_says() -> None:
    doc = TextDocument("u", "ab\ncd")
    doc.apply([TextChange("X", rng(0, 99, 0, 99))])
    assert doc.text == "abX\ncd"
    doc.apply([TextChange("Y", rng(9, 0, 9, 0))])
    assert doc.text == "abX\ncdY"


@pytest.mark.parametrize(
    "bad",
    [
        TextChange("x", rng(-1, 0, 0, 0)),
        TextChange("x", rng(0, -2, 0, 0)),
        TextChange("x", rng(1, 1, 0, 0)),  # ends before it starts
    ],
)
def test_a_bad_edit_raises_and_changes_nothing_even_after_good_ones(bad: TextChange) -> None:
    store = DocumentStore()
    heard: list[list[AppliedEdit]] = []
    store.open("u", "ab\ncd", version=1)
    store.listeners.append(lambda _doc, edits: heard.append(edits))
    with pytest.raises(DocumentError):
        store.change("u", 2, [TextChange("Z", rng(0, 0, 0, 0)), bad])
    doc = store.get("u")
    assert doc is not None
    assert (doc.text, doc.version) == ("ab\ncd", 1)
    assert [doc.line(i) for i in range(doc.line_count)] == ["ab", "cd"]
    assert heard == []
    # and the document still takes good edits at the right places
    store.change("u", 3, [TextChange("!", rng(1, 2, 1, 2))])
    assert doc.text == "ab\ncd!"


@pytest.mark.parametrize(
    ("pos", "message"),
    [
        (Position(2, 0), "line 2 is outside the document (2 lines)"),
        (Position(0, 3), "column 3 is past the end of line 0"),
        (Position(-1, 0), "negative position"),
    ],
)
def test_strict_positions_outside_the_document_raise(pos: Position, message: str) -> None:
    doc = TextDocument("u", "ab\ncd")
    with pytest.raises(DocumentError, match=re.escape(message)):
        doc.offset_at(pos)
    assert doc.text == "ab\ncd"


def test_store_reports_unknown_documents_and_lines() -> None:
    store = DocumentStore()
    with pytest.raises(DocumentError, match="not open"):
        store.change("file:///nope", 1, [TextChange("x")])
    doc = store.open("u", "one line")
    with pytest.raises(DocumentError, match="line 1 is outside"):
        doc.line(1)
    closed: list[str] = []
    store.close_listeners.append(closed.append)
    store.close("u")
    store.close("u")
    assert closed == ["u"] and "u" not in store


# -- properties -------------------------------------------------------------------------

ALPHABET = st.sampled_from(["a", "b", " ", "é", "日", "😀", "𝔘", "\n", "\r\n", "\t"])
texts = st.lists(ALPHABET, max_size=40).map("".join)


def valid_offsets(text: str) -> list[int]:
    """Offsets that are positions (not between a CR and its LF)."""
    return [i for i in range(len(text) + 1) if not (0 < i < len(text) + 1 and text[i - 1:i + 1] == "\r\n")]


@settings(max_examples=100, deadline=None)
@given(texts)
def test_position_at_and_offset_at_round_trip(text: str) -> None:
    doc = TextDocument("u", text)
    for offset in valid_offsets(text):
        pos = doc.position_at(offset)
        assert doc.offset_at(pos) == offset
        assert ref_offset(text, pos) == offset
    lines = ref_lines(text)
    for n, line in enumerate(lines):
        units = len(line.encode("utf-16-le")) // 2
        assert doc.offset_at(Position(n, units)) == ref_offset(text, Position(n, units))
        assert doc.position_at(doc.offset_at(Position(n, units))) == Position(n, units)


@st.composite
def edit_scripts(draw: st.DrawFn) -> tuple[str, list[list[tuple[int, int, str]]]]:
    text = draw(texts)
    events = []
    current = text
    for _ in range(draw(st.integers(1, 6))):
        event = []
        for _ in range(draw(st.integers(1, 3))):
            offsets = valid_offsets(current)
            a = draw(st.sampled_from(offsets))
            b = draw(st.sampled_from([o for o in offsets if o >= a]))
            new = draw(texts)
            event.append((a, b, new))
            current = current[:a] + new + current[b:]
        events.append(event)
    return text, events


@settings(max_examples=60, deadline=None)
@given(edit_scripts())
def test_incremental_edits_match_a_fresh_document(script: tuple[str, list[list[tuple[int, int, str]]]]) -> None:
    text, events = script
    doc = TextDocument("u", text)
    expected = text
    for event in events:
        changes = []
        for a, b, new in event:
            # positions are taken on the text as it is when this change applies
            shadow = TextDocument("u", expected)
            changes.append(TextChange(new, Range(shadow.position_at(a), shadow.position_at(b))))
            expected = expected[:a] + new + expected[b:]
        doc.apply(changes)
        assert doc.text == expected
        fresh = TextDocument("u", expected)
        assert doc.line_count == fresh.line_count
        assert [doc.line(i) for i in range(doc.line_count)] == ref_lines(expected)
        for offset in valid_offsets(expected):
            assert doc.position_at(offset) == fresh.position_at(offset)


# -- the other position encodings (negotiated in initialize) ------------------------------
def _units(s: str, encoding: str) -> int:
    return len(s.encode("utf-8")) if encoding == "utf-8" else (
        len(s.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(s))


@pytest.mark.parametrize(("encoding", "x_column", "line_end"), [("utf-8", 9, 11), ("utf-32", 6, 8),
                                                                ("utf-16", 7, 9)])
def test_columns_count_in_the_documents_encoding(encoding: str, x_column: int, line_end: int) -> None:
    doc = TextDocument("file:///e.py", "s = '😀x'\nnext", encoding=encoding)  # type: ignore[arg-type]
    assert doc.offset_at(Position(0, x_column)) == doc.text.index("x")
    assert doc.position_at(doc.text.index("x")) == Position(0, x_column)
    assert doc.offset_at(Position(0, line_end)) == doc.text.index("\n")
    with pytest.raises(DocumentError, match=f"column {line_end + 1} is past the end of line 0"):
        doc.offset_at(Position(0, line_end + 1))
    doc.apply([TextChange("y", rng(0, x_column, 0, x_column + 1))])
    assert doc.text == "s = '😀y'\nnext"


def test_a_utf8_column_inside_a_character_rounds_up_past_it() -> None:
    doc = TextDocument("u", "aëb", encoding="utf-8")
    assert doc.offset_at(Position(0, 2)) == 2  # inside ë's two bytes -> after it
    assert doc.offset_at(Position(0, 3)) == 2


def test_the_store_gives_its_encoding_to_every_document_open_or_detached() -> None:
    store = DocumentStore()
    early = store.open("file:///a.py", "ë = 1\n")
    assert early.encoding == "utf-16"
    store.use_encoding("utf-8")
    late = store.open("file:///b.py", "ë = 2\n")
    assert early.encoding == late.encoding == store.detached("x", "").encoding == "utf-8"
    assert late.position_at(1) == Position(0, 2)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
       st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_positions_round_trip_in_every_encoding(text: str, encoding: str) -> None:
    doc = TextDocument("u", text, encoding=encoding)  # type: ignore[arg-type]
    for offset in range(len(text) + 1):
        pos = doc.position_at(offset)
        line_start = text.rfind("\n", 0, offset) + 1
        assert pos.character == _units(text[line_start:offset], encoding)
        if not text[line_start:offset].endswith("\r"):  # a column is never between \r and \n
            assert doc.offset_at(pos) == offset

"""TextDocument keeps its line index by updating it per edit: same answers as a rescan."""

from __future__ import annotations

import random

import pytest

from qwill.context.document import DocumentError, Position, Range, TextChange, TextDocument


def test_line_index_after_random_edits_matches_a_fresh_document() -> None:
    rng = random.Random(11)
    doc = TextDocument("file:///a.txt", "one\ntwo\r\nthree\n\nfive 日本\n")
    pieces = ["", "x", "\n", "\r\n", "ab\ncd", "\n\n", "é", "😀"]
    for _ in range(400):
        a = rng.randrange(doc.line_count)
        b = rng.randrange(a, doc.line_count)
        ca = rng.randrange(len(doc.line(a)) + 2)
        cb = rng.randrange(len(doc.line(b)) + 2) if b > a else max(ca, rng.randrange(len(doc.line(b)) + 2))
        edits = doc.apply([TextChange(rng.choice(pieces), Range(Position(a, ca), Position(b, cb)))])
        fresh = TextDocument(doc.uri, doc.text)
        assert doc._line_starts == fresh._line_starts
        assert doc.line_count == fresh.line_count
        assert doc.text[edits[0].start:edits[0].new_end] == edits[0].new_text


def test_several_changes_apply_in_order_and_all_or_nothing() -> None:
    doc = TextDocument("file:///a.txt", "alpha\nbeta\ngamma\n")
    doc.apply([TextChange("A", Range(Position(0, 0), Position(0, 1))),
               TextChange("\nnew", Range(Position(1, 4), Position(1, 4)))])
    assert doc.text == "Alpha\nbeta\nnew\ngamma\n" and doc.line(2) == "new"
    with pytest.raises(DocumentError):
        doc.apply([TextChange("x", Range(Position(0, 0), Position(0, 0))),
                   TextChange("y", Range(Position(2, 2), Position(1, 0)))])
    assert doc.text == "Alpha\nbeta\nnew\ngamma\n" and doc.line(3) == "gamma"
    doc.apply([TextChange("whole\nnew text")])
    assert doc.line_count == 2 and doc.offset_at(Position(1, 3)) == len("whole\n") + 3

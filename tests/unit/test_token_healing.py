"""Token healing's choice of candidates, on a vocabulary written out here."""

from __future__ import annotations

from qwill.engine.token_healing import PieceIndex, advance, healed_tail

PIECES = [b"self", b".d", b".default", b".default_section", b".", b".data", b"d", b"",
          b" =", b"        ", b"    ", b"      d", b".e"]


def test_candidates_agree_with_the_text_still_to_spell() -> None:
    index = PieceIndex(PIECES)
    names = sorted(PIECES[i] for i in index.consistent(b".d"))
    # tokens that start with `.d`, and `.` (a prefix of it); never `.e`, `d` or the empty piece
    assert names == [b".", b".d", b".data", b".default", b".default_section"]
    assert sorted(PIECES[i] for i in index.consistent(b"      ")) == [b"    ", b"        ", b"      d"]
    assert index.consistent(b"") == []


def test_only_a_last_token_inside_the_typed_text_is_healed() -> None:
    assert healed_tail([0, 1], "x = self.d", PIECES) == 1
    assert healed_tail([0, 1], "", PIECES) == 0  # nothing typed: the prompt ends on the FIM marker
    assert healed_tail([0, 7], "x = self.d", PIECES) == 0  # a special token (no text)
    assert healed_tail([0, 2], "x = self.d", PIECES) == 0  # `.default` is not what was typed


def test_advance_streams_only_what_goes_beyond_the_typed_text() -> None:
    assert advance(b".d", b".default_section") == (b"", b"efault_section")
    assert advance(b".d", b".") == (b"d", b"")
    assert advance(b"d", b"d") == (b"", b"")

"""Line diffs shared by next-edit predictions, agent changes and code-action fixes."""

from __future__ import annotations

from qwill.context.text_diff import common_ends, line_changes


def test_common_ends_do_not_overlap() -> None:
    assert common_ends("def f(a):", "def f(b):") == (6, 2)
    assert common_ends("aaa", "aa") == (2, 0)  # the tail stops where the head ends
    assert common_ends(["x\n", "y\n"], ["x\n", "y\n"]) == (2, 0)
    assert common_ends("", "abc") == (0, 0)


def test_line_changes_carry_offsets_of_the_old_text() -> None:
    old = "a\nb\nc\nd\n"
    (change,) = line_changes(old, "a\nB\nC\nd\n")
    assert (change.tag, change.start, change.end) == ("replace", 2, 6)
    assert change.old_lines == ["b\n", "c\n"] and change.new_lines == ["B\n", "C\n"]
    assert change.line_starts == [2, 4]
    (ins,) = line_changes(old, "a\nb\nnew\nc\nd\n")
    assert (ins.tag, ins.start, ins.end, ins.new_lines) == ("insert", 4, 4, ["new\n"])
    assert line_changes(old, old) == []

"""The anchored prompt window: reused while typing, re-anchored when it must be."""

from __future__ import annotations

import pytest

from qwill.completion.kv_planner import (
    START_GRID,
    Anchor,
    PlannerLimits,
    anchored_window,
    heal_start,
    plan,
    reuse_reason,
)

URI = "file:///src/app.py"
DOC = "".join(f"value_{i} = compute({i})\n" for i in range(200))
LIMITS = PlannerLimits(lines_before=40, lines_after=10, window_tokens=1536)


def at_line(text: str, n: int, col: int = 0) -> int:
    return sum(len(ln) + 1 for ln in text.split("\n")[:n]) + col


def insert(text: str, offset: int, s: str) -> str:
    return text[:offset] + s + text[offset:]


def anchored(text: str = DOC, cursor: int | None = None) -> Anchor:
    cursor = at_line(text, 100) if cursor is None else cursor
    p = plan(URI, text, cursor, None, LIMITS)
    assert p.reanchored and p.reason == "no anchor" and p.middle == ""
    return p.anchor


def test_the_anchor_is_reused_while_typing_and_what_was_typed_is_the_middle() -> None:
    cursor = at_line(DOC, 100)
    a = anchored(DOC, cursor)
    assert a.prefix == DOC[a.window_start:cursor] and DOC[cursor:].startswith(a.suffix)
    text = DOC
    typed = ""
    for ch in "def total(items):\n    return sum(":
        text = insert(text, cursor + len(typed), ch)
        typed += ch
        p = plan(URI, text, cursor + len(typed), a, LIMITS)
        assert not p.reanchored and p.reason == ""
        assert p.anchor is a
        assert p.middle == typed
    # deleting what was typed (backspace) keeps the anchor too
    text = text[: cursor + len(typed) - 1] + text[cursor + len(typed):]
    p = plan(URI, text, cursor + len(typed) - 1, a, LIMITS)
    assert not p.reanchored and p.middle == typed[:-1]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        # an edit above the cursor, inside the window
        (lambda t, c: (insert(t, at_line(t, 95), "# note\n"), c + 7), "text before the anchor changed"),
        # an edit above the window moves everything below it
        (lambda t, c: (insert(t, 0, "import os\n"), c + 10), "text before the anchor changed"),
        (lambda t, c: (t, c - 1), "cursor moved before the anchor"),
        (lambda t, c: (t[:c + 3] + t[c + 4:], c), "text after the cursor changed"),
        (lambda t, c: (insert(t, c, "x" * 400), c + 400), "typed span grew long"),
        (lambda t, c: (insert(t, c, "pass\n" * 9), c + 45), "typed span grew long"),
    ],
)
def test_reasons_to_re_anchor(edit, reason: str) -> None:
    cursor = at_line(DOC, 100)
    a = anchored(DOC, cursor)
    text, new_cursor = edit(DOC, cursor)
    assert reuse_reason(text, new_cursor, a, LIMITS) == reason
    p = plan(URI, text, new_cursor, a, LIMITS)
    assert p.reanchored and p.reason == reason
    assert p.middle == "" and p.anchor.at == new_cursor
    assert p.anchor.prefix == text[p.anchor.window_start:new_cursor]
    assert text[new_cursor:].startswith(p.anchor.suffix)


def test_moving_the_cursor_forward_without_typing_re_anchors() -> None:
    cursor = at_line(DOC, 100)
    a = anchored(DOC, cursor)
    # the skipped text would become the 'typed' middle, but the suffix no longer follows
    assert reuse_reason(DOC, cursor + 5, a, LIMITS) == "text after the cursor changed"


def test_a_typed_span_within_the_limits_is_kept() -> None:
    cursor = at_line(DOC, 100)
    a = anchored(DOC, cursor)
    text = insert(DOC, cursor, "pass\n" * 8)
    assert reuse_reason(text, cursor + 40, a, LIMITS) == ""


def test_another_document_gets_its_own_anchor() -> None:
    a = anchored()
    p = plan("file:///other.py", DOC, a.at, a, LIMITS)
    assert p.reanchored and p.reason == "another document"
    assert p.anchor.uri == "file:///other.py"


@pytest.mark.parametrize("line", [0, 5, 16, 40, 41, 57, 100, 150, 199])
def test_window_start_is_on_the_line_grid(line: int) -> None:
    cursor = at_line(DOC, line, 4)
    start, end = anchored_window(DOC, cursor, LIMITS.lines_before, LIMITS.lines_after)
    first = DOC.count("\n", 0, start)
    assert DOC[start - 1:start] in ("", "\n")  # whole lines
    assert first % START_GRID == 0
    # at least lines_before lines (when the file has them), fewer than a grid step more
    assert max(0, line - LIMITS.lines_before - START_GRID + 1) <= first <= max(0, line - LIMITS.lines_before)
    assert DOC.count("\n", cursor, end) == min(LIMITS.lines_after + 1, DOC.count("\n", cursor))


def test_nearby_anchors_share_the_window_start() -> None:
    starts = {anchored_window(DOC, at_line(DOC, n), 40, 10)[0] for n in range(88, 104)}
    assert len(starts) == 1


WIDE = "".join(f"{'x' * 70}_{i}\n" for i in range(300))  # 74-75 characters a line


def test_char_budgets_bound_the_window_in_whole_grid_steps() -> None:
    limits = PlannerLimits(lines_before=200, lines_after=100, window_tokens=1024)
    cursor = at_line(WIDE, 250)
    start, end = anchored_window(WIDE, cursor, limits.lines_before, limits.lines_after,
                                 limits.prefix_chars, limits.suffix_chars)
    assert cursor - start <= limits.prefix_chars
    assert end - cursor <= limits.suffix_chars
    first = WIDE.count("\n", 0, start)
    assert first % START_GRID == 0
    # the budget, not the line count, decided; and no more than a grid step was given up
    assert 250 - first < limits.lines_before
    assert cursor - at_line(WIDE, first - START_GRID) > limits.prefix_chars
    assert WIDE[end - 1] == "\n"  # the suffix ends at a line end


def test_a_budget_smaller_than_a_grid_step_still_keeps_the_lines_that_fit() -> None:
    limits = PlannerLimits(lines_before=200, lines_after=100, window_tokens=256)  # ~9 lines
    assert limits.prefix_chars < START_GRID * 74
    cursor = at_line(WIDE, 250)
    start, _ = anchored_window(WIDE, cursor, limits.lines_before, limits.lines_after,
                               limits.prefix_chars, limits.suffix_chars)
    assert cursor - start <= limits.prefix_chars
    assert WIDE.count("\n", start, cursor) == limits.prefix_chars // 75
    assert WIDE[start - 1] == "\n"


def test_a_line_longer_than_the_budget_is_cut_so_the_prompt_fits() -> None:
    # minified code: one line of 200k characters, the cursor in its middle
    line = "var a=1;" * 25_000
    text = f"// header\n{line}\n// tail\n"
    cursor = text.index(line) + len(line) // 2
    limits = PlannerLimits(window_tokens=1536)
    p = plan(URI, text, cursor, None, limits)
    assert 0 < len(p.anchor.prefix) <= limits.prefix_chars
    assert 0 < len(p.anchor.suffix) <= limits.suffix_chars
    assert p.anchor.prefix == text[p.anchor.window_start:cursor]
    assert text[cursor:].startswith(p.anchor.suffix)
    # and typing there still reuses it
    typed = insert(text, cursor, "b")
    assert not plan(URI, typed, cursor + 1, p.anchor, limits).reanchored


def test_the_window_view_of_a_plan() -> None:
    cursor = at_line(DOC, 100, 3)
    text = insert(DOC, cursor, "abc")
    p = plan(URI, text, cursor + 3, anchored(DOC, cursor), LIMITS)
    w = p.window(cursor + 3)
    assert (w.prefix, w.suffix) == (p.anchor.prefix, p.anchor.suffix)
    assert w.start == p.anchor.window_start and w.end == cursor + len(p.anchor.suffix)
    assert w.line_prefix == "val"


@pytest.mark.parametrize(
    ("line", "piece"),
    [
        ("        if ", " "),  # ` key`: the space goes with the next word
        ("        x = self.", "."),  # `.name`
        ("        return len(", "("),  # `(lines`
        ("        i += seq_len ", " "),
        ("        self.inc()", "()"),
        ("        keys = [f(k)", ")"),
        # after a letter, a digit or `_` a word is more often finished than cut
        ("        last.sep", ""),
        ("        n = 10", ""),
        ("        super().__init__", ""),
        # indentation alone, and the start of a line
        ("        ", ""),
        ("", ""),
    ],
)
def test_heal_start_is_where_the_piece_of_a_token_before_the_cursor_begins(line: str, piece: str) -> None:
    text = "def f(key):\n" + line + "\n    pass\n"
    cursor = text.index(line) + len(line)
    assert text[heal_start(text, cursor):cursor] == piece


def test_a_healing_anchor_leaves_the_piece_before_the_cursor_to_the_middle() -> None:
    text = DOC[:at_line(DOC, 100)] + "        if \n" + DOC[at_line(DOC, 100):]
    cursor = at_line(text, 100, len("        if "))
    limits = PlannerLimits(lines_before=40, lines_after=10, window_tokens=1536, heal=True)
    p = plan(URI, text, cursor, None, limits)
    a = p.anchor
    assert p.reanchored and p.middle == a.middle == " "
    assert a.prefix.endswith("        if") and a.at == cursor - 1 and a.suffix_start == cursor
    assert text[cursor:].startswith(a.suffix) and a.suffix.startswith("\nvalue_100")
    assert p.window(cursor).end == cursor + len(a.suffix)
    # typing keeps the anchor: the middle is the piece and what was typed after it
    typed = insert(text, cursor, "ke")
    q = plan(URI, typed, cursor + 2, a, limits)
    assert not q.reanchored and q.middle == " ke"
    # without healing the anchor ends at the cursor
    assert plan(URI, text, cursor, None, LIMITS).anchor.at == cursor

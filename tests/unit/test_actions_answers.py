"""Reading model answers into new text, and edits that must fit."""

from __future__ import annotations

import pytest

from qwill.actions.answers import (
    AnswerError,
    apply_search_replace,
    code_blocks,
    replacement_text,
    search_replace_blocks,
)
from qwill.actions.edits import EditError, TextEdit, apply_edits, minimal_edit, rebase

REGION = "def average(values):\n    total = sum(values)\n    return total / len(value)\n"


def test_code_blocks_with_language_tags_and_an_unclosed_tail() -> None:
    answer = "Here:\n```python\nx = 1\n```\ntext\n~~~js\nlet y;\n~~~\n```go\nfunc f() {"
    blocks = code_blocks(answer)
    assert [(b.language, b.code, b.closed) for b in blocks] == [
        ("python", "x = 1\n", True), ("js", "let y;\n", True), ("go", "func f() {", False)]


def test_longest_closed_block_is_the_replacement() -> None:
    answer = "```python\nprint(1)\n```\n\n```python\n" + REGION.replace("len(value)", "len(values)") + "```"
    assert replacement_text(answer, REGION) == REGION.replace("len(value)", "len(values)")


def test_unclosed_block_cut_off_by_the_length_limit_is_refused() -> None:
    with pytest.raises(AnswerError, match="cut off"):
        replacement_text("```python\ndef average(values):\n    total", REGION, "length")
    # the model ended its turn without closing the fence: the code is complete
    assert replacement_text("```python\nx = 2\n", "x = 1\n", "eos") == "x = 2\n"


def test_prose_without_code_is_refused() -> None:
    with pytest.raises(AnswerError, match="no code block"):
        replacement_text("You should rename `value` to `values`.", REGION)


def test_search_replace_exact_and_reindented() -> None:
    answer = ("<<<<<<< SEARCH\n    return total / len(value)\n=======\n    return total / len(values)\n"
              ">>>>>>> REPLACE\n")
    assert search_replace_blocks(answer)
    assert replacement_text(answer, REGION) == REGION.replace("len(value)", "len(values)")
    # quoted without its indentation: matched line by line, re-indented
    flat = "<<<<<<< SEARCH\nreturn total / len(value)\n=======\nreturn total / len(values)\n>>>>>>> REPLACE"
    assert replacement_text(flat, REGION) == REGION.replace("len(value)", "len(values)")


def test_search_block_not_found_or_ambiguous() -> None:
    with pytest.raises(AnswerError, match="not found"):
        replacement_text("<<<<<<< SEARCH\nreturn 0\n=======\nreturn 1\n>>>>>>> REPLACE", REGION)
    from qwill.actions.answers import SearchReplace

    with pytest.raises(AnswerError, match="2 places"):
        apply_search_replace("a = 1\na = 1\n", [SearchReplace("a = 1\n", "a = 2\n")])
    with pytest.raises(AnswerError, match="empty SEARCH"):
        apply_search_replace("a = 1\n", [SearchReplace("\n", "b\n")])


def test_minimal_edit_touches_only_changed_lines() -> None:
    text = "a\n" + REGION + "z\n"
    start = 2
    edit = minimal_edit(text, start, start + len(REGION), REGION.replace("len(value)", "len(values)"))
    assert edit is not None
    assert edit.old_text == "    return total / len(value)\n"
    assert apply_edits(text, [edit]) == text.replace("len(value)", "len(values)")
    assert minimal_edit(text, start, start + len(REGION), REGION) is None


def test_apply_edits_rejects_overlap_and_stale_text() -> None:
    with pytest.raises(EditError, match="overlap"):
        apply_edits("abcdef", [TextEdit(0, 3, "x"), TextEdit(2, 4, "y")])
    with pytest.raises(EditError, match="not where"):
        apply_edits("abcdef", [TextEdit(0, 3, "x", "zzz")])
    with pytest.raises(EditError, match="outside"):
        apply_edits("abc", [TextEdit(2, 9, "x")])


def test_rebase_follows_text_typed_before_and_after_the_hunk() -> None:
    base = "import os\n\n\ndef f():\n    return x\n\n\ndef g():\n    pass\n"
    edit = minimal_edit(base, base.index("    return"), base.index("\n\n\ndef g"), "    return y")
    assert edit is not None
    typed_before = "# header\n" + base
    moved = rebase([edit], base, typed_before)
    assert apply_edits(typed_before, moved) == "# header\n" + base.replace("return x", "return y")
    typed_after = base + "\nprint(1)\n"
    assert apply_edits(typed_after, rebase([edit], base, typed_after)) == typed_after.replace("return x", "return y")
    typed_both = "# h\n" + base.replace("pass", "return 1")
    assert apply_edits(typed_both, rebase([edit], base, typed_both)) == typed_both.replace("return x", "return y")


def test_rebase_refuses_when_the_hunk_itself_changed() -> None:
    base = "def f():\n    return x\n"
    edit = TextEdit(base.index("return x"), base.index("return x") + 8, "return y", "return x")
    with pytest.raises(EditError, match="changed while the model was working"):
        rebase([edit], base, "# new\ndef f():\n    return z\n")

"""Next-edit suggestions in a real headless Neovim 0.12 against the real `qwill serve`.

The prediction comes from a scripted fake engine in its own slot (`nextEdit.model`), so that
inline completion (the completion slot, scripted apart) and next edits do not take each
other's answers: the same rename as tests/lsp/test_next_edit.py, made with Neovim's keys.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ..lsp.test_next_edit import ANSWER, RENAMED, SOURCE
from .conftest import Editor

pytestmark = pytest.mark.clients

APPLIED = ANSWER.removesuffix("```")  # the rename's other uses done too


def start(nvim_editor, fake_script, tmp_path: Path, *, completion: str = "", answer: str = ANSWER,
          **settings: Any) -> Editor:
    next_edit = {"model": fake_script(default=answer), **settings}
    editor = nvim_editor(fake_script(default=completion), settings={"nextEdit": next_edit})
    path = tmp_path / "geo.py"
    path.write_text(SOURCE)
    editor.nvim.command(f"edit {path}")
    editor.wait_ready()
    return editor


def shown(editor: Editor) -> list[dict[str, Any]]:
    """The prediction's extmarks: what is struck through and what is proposed."""
    return editor.lua("""
        local ns = require('qwill.nextedit').ns
        local out = {}
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
          local d = m[4]
          local text = {}
          for _, chunk in ipairs(d.virt_text or {}) do table.insert(text, chunk[1]) end
          table.insert(out, { row = m[2], col = m[3], end_row = d.end_row, end_col = d.end_col,
                              hl = d.hl_group, text = table.concat(text), pos = d.virt_text_pos,
                              lines = d.virt_lines and #d.virt_lines or 0 })
        end
        return out
    """)


def stats(editor: Editor) -> dict[str, Any]:
    return editor.lua("""
        local c = vim.lsp.get_clients({ name = 'qwill' })[1]
        return c:request_sync('qwill/completionStats', {}, 10000).result.nextEdit
    """)


def rename(editor: Editor, keys: str = "<Esc>") -> None:
    """`radius` -> `r` in the signature, with `ciw`; `keys` after it (<Esc>: back to Normal mode)."""
    editor.nvim.command("call cursor(4, 10)")
    editor.nvim.input("ciwr" + keys)
    editor.wait("the rename", lambda: editor.lines()[3] == "def area(r):", 10)


def wait_prediction(editor: Editor) -> list[dict[str, Any]]:
    return editor.wait("the next-edit prediction", lambda: shown(editor), 30)


def test_the_prediction_is_shown_where_it_goes_and_tab_tab_applies_it(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path)
    rename(editor)
    marks = wait_prediction(editor)
    assert editor.lines() == RENAMED.splitlines()  # shown, not applied
    struck = sorted((m["row"], m["col"], m["end_row"], m["end_col"]) for m in marks
                    if m.get("hl") == "QwillNextEditDelete")
    assert struck == [(5, 21, 5, 27), (5, 30, 5, 36)]  # both `radius` of the return line
    proposed = sorted((m["row"], m["col"], m["text"]) for m in marks if m.get("pos") == "inline")
    assert proposed == [(5, 27, "r"), (5, 36, "r")]
    editor.wait("shown counted", lambda: stats(editor)["shown"] == 1, 10)

    editor.nvim.input("<Tab>")
    editor.wait("the jump", lambda: tuple(editor.nvim.current.window.cursor) == (6, 21), 10)
    assert editor.lines() == RENAMED.splitlines()
    editor.nvim.input("<Tab>")
    editor.wait("the edit applied", lambda: editor.lines() == APPLIED.splitlines(), 10)
    assert editor.mode() == "n"
    assert shown(editor) == []
    assert editor.wait("accepted counted", lambda: stats(editor)["accepted"] == 1, 10)
    # one undo step takes the whole prediction back, and only it
    editor.nvim.input("u")
    editor.wait("the undo", lambda: editor.lines() == RENAMED.splitlines(), 10)


def test_in_insert_mode_tab_jumps_and_applies_and_esc_still_leaves(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path)
    rename(editor, keys="")
    assert editor.mode() == "i"
    wait_prediction(editor)
    editor.nvim.input("<Tab>")
    editor.wait("the jump", lambda: tuple(editor.nvim.current.window.cursor) == (6, 21), 10)
    assert editor.mode() == "i" and editor.lines() == RENAMED.splitlines()
    editor.nvim.input("<Tab>")
    editor.wait("the edit applied", lambda: editor.lines() == APPLIED.splitlines(), 10)
    assert editor.mode() == "i"
    assert tuple(editor.nvim.current.window.cursor) == (6, 26)  # after the last edit
    editor.nvim.input("<Esc>")
    editor.wait("Normal mode", lambda: editor.mode() == "n", 10)
    editor.nvim.input("u")  # the prediction alone is undone: the rename stays
    editor.wait("the undo", lambda: editor.lines() == RENAMED.splitlines(), 10)


def test_esc_dismisses_and_the_next_keystroke_cancels(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path)
    rename(editor)
    wait_prediction(editor)
    editor.nvim.input("<Esc>")
    editor.wait("the prediction hidden", lambda: shown(editor) == [], 10)
    assert editor.lines() == RENAMED.splitlines()
    assert editor.wait("dismissed counted", lambda: stats(editor)["dismissed"] == 1, 10)
    # <Esc> is not mapped while nothing is shown; <Tab> in Normal mode is Neovim's again
    assert editor.lua("return vim.fn.maparg('<Esc>', 'n')") == ""
    assert editor.lua("return vim.fn.maparg('<Tab>', 'n')") == ""

    # undo and redo the rename: a change, so the prediction comes again
    editor.nvim.input("u")
    editor.wait("the undo", lambda: editor.lines() == SOURCE.splitlines(), 10)
    editor.nvim.input("<C-r>")
    editor.wait("the redo", lambda: editor.lines() == RENAMED.splitlines(), 10)
    wait_prediction(editor)
    # typing on hides it (counted as rejected)
    editor.nvim.input("A!")
    editor.wait("the prediction gone", lambda: shown(editor) == [], 10)
    assert editor.wait("dismissed counted", lambda: stats(editor)["dismissed"] == 2, 10)


def test_qwill_nextedit_off_stops_asking(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path)
    names = editor.nvim.funcs.getcompletion("Qwill nextedit ", "cmdline")
    assert names == ["off", "on"]
    editor.nvim.command("Qwill nextedit off")
    rename(editor)
    asked = stats(editor)["requests"]
    time.sleep(1.5)  # five times the debounce: a request would have gone out
    assert stats(editor)["requests"] == asked == 0
    assert shown(editor) == []
    editor.nvim.command("Qwill nextedit on")
    editor.nvim.input("A ")  # a change at the end of the signature line
    wait_prediction(editor)
    with pytest.raises(Exception, match="on or off"):
        editor.nvim.command("Qwill nextedit maybe")


def test_disabled_in_the_settings_sends_no_request(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path, enabled=False)
    rename(editor)
    time.sleep(1.5)
    assert stats(editor)["requests"] == 0


def test_tab_accepts_ghost_text_first_when_both_are_shown(nvim_editor, fake_script, tmp_path) -> None:
    editor = start(nvim_editor, fake_script, tmp_path, completion=", scale")
    rename(editor, keys="")
    editor.wait("ghost text", editor.ghost_text, 30)
    wait_prediction(editor)
    assert editor.ghost_text() == ", scale"
    editor.nvim.input("<Tab>")
    editor.wait("the ghost text in the buffer", lambda: editor.lines()[3] == "def area(r, scale):", 10)
    assert editor.lines()[5] == "    return math.pi * radius * radius"  # the prediction left alone


def test_lines_added_after_the_last_line_are_shown_and_applied(nvim_editor, fake_script, tmp_path) -> None:
    guard = "\n\nif __name__ == '__main__':\n    main()\n"
    editor = start(nvim_editor, fake_script, tmp_path, answer=RENAMED + guard + "```")
    rename(editor)
    marks = wait_prediction(editor)
    proposed = [m for m in marks if m.get("lines")]
    assert [(m["row"], m["lines"]) for m in proposed] == [(9, 4)]  # two blank lines and the guard, below
    editor.nvim.input("<Tab>")
    editor.wait("the jump to the end", lambda: editor.nvim.current.window.cursor[0] == 10, 10)
    editor.nvim.input("<Tab>")
    editor.wait("the lines added", lambda: editor.lines() == (RENAMED + guard).splitlines(), 10)

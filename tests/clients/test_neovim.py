"""The Neovim plugin in a real headless Neovim 0.12 against the real `qwill serve`.

Scripted fake engine: deterministic suggestions, so the tests can assert the exact buffer.
The real default model: tests/clients/test_neovim_model.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Editor

pytestmark = pytest.mark.clients


def open_at_body(editor: Editor, tmp_path: Path, text: str, name: str = "add.py") -> None:
    path = tmp_path / name
    path.write_text(text)
    editor.nvim.command(f"edit {path}")


def insert_at(editor: Editor, line: int, col: int) -> None:
    """Once the model is ready, put the cursor on `line`:`col` and append there in insert mode
    (entering insert mode is what makes Neovim ask for an inline completion)."""
    editor.wait_ready()
    editor.nvim.command(f"call cursor({line}, {col})")
    editor.nvim.input("A")


def test_ghost_text_is_shown_and_tab_accepts_it(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script(["return a + b"]))
    open_at_body(editor, tmp_path, "def add(a, b):\n    \n")
    insert_at(editor, 2, 5)
    assert editor.wait("ghost text", editor.ghost_text, 30) == "return a + b"
    assert editor.lines() == ["def add(a, b):", "    "]  # shown, not inserted
    editor.nvim.input("<Tab>")
    editor.wait("the suggestion in the buffer", lambda: editor.lines()[1] != "    ", 10)
    assert editor.lines() == ["def add(a, b):", "    return a + b"]
    assert editor.mode() == "i"
    assert tuple(editor.nvim.current.window.cursor) == (2, len("    return a + b"))
    assert editor.ghost_text() is None


def test_a_line_with_non_ascii_text_before_the_cursor(nvim_editor, fake_script, tmp_path: Path) -> None:
    # Neovim offers UTF-8 positions first, so columns arrive in bytes: "ü", "ß" and "😀"
    # take 2, 2 and 4 of them before the cursor
    editor = nvim_editor(fake_script(["1"]))
    line = '    greeting = "Grüße 😀"; count = '
    open_at_body(editor, tmp_path, f"def f():\n{line}\n", name="greet.py")
    insert_at(editor, 2, 1)
    assert editor.wait("ghost text", editor.ghost_text, 30) == "1"
    assert editor.lua("return vim.lsp.get_clients({name = 'qwill'})[1].offset_encoding") == "utf-8"
    editor.nvim.input("<Tab>")
    editor.wait("the suggestion in the buffer", lambda: editor.lines()[1] != line, 10)
    assert editor.lines()[1] == line + "1"


def test_a_multiline_suggestion_is_accepted_whole(nvim_editor, fake_script, tmp_path: Path) -> None:
    body = "total = 0\n        for x in xs:\n            total += x\n        return total"
    editor = nvim_editor(fake_script([body]))
    open_at_body(editor, tmp_path, "class Stats:\n    def total(self, xs):\n        \n")
    insert_at(editor, 3, 9)
    ghost = editor.wait("ghost text", editor.ghost_text, 30)
    assert ghost.split("\n")[0] == "total = 0"
    editor.nvim.input("<Tab>")
    editor.wait("the suggestion in the buffer", lambda: len(editor.lines()) > 4, 10)
    assert editor.lines()[2:6] == ["        total = 0", "        for x in xs:",
                                   "            total += x", "        return total"]


def test_dismiss_hides_the_suggestion_and_leaves_the_buffer(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script(["return a + b"]))
    open_at_body(editor, tmp_path, "def add(a, b):\n    \n")
    insert_at(editor, 2, 5)
    editor.wait("ghost text", editor.ghost_text, 30)
    editor.nvim.input("<C-]>")
    editor.wait("the ghost text to go", lambda: editor.ghost_text() is None, 10)
    assert editor.lines() == ["def add(a, b):", "    "]
    # with nothing shown, <Tab> types a tab as usual
    editor.nvim.input("<Tab>")
    editor.wait("a typed tab", lambda: editor.lines()[1] != "    ", 10)
    assert editor.lines()[1].startswith("    ") and editor.lines()[1].strip() == ""


def test_completion_menu_fallback_inserts_the_suggestion(nvim_editor, fake_script, tmp_path: Path) -> None:
    """`inline = false` takes Neovim 0.11's path: the suggestion is a completion item."""
    editor = nvim_editor(fake_script(["return a + b"]), options={"inline": False})
    open_at_body(editor, tmp_path, "def add(a, b):\n    \n")
    insert_at(editor, 2, 5)
    editor.wait("insert mode", lambda: editor.mode() == "i", 10)
    editor.lua("vim.lsp.completion.get()")
    shown = editor.wait("the completion menu", lambda: [
        i["abbr"] for i in editor.nvim.funcs.complete_info(["items"])["items"]], 30)
    assert shown == ["return a + b"]
    assert editor.ghost_text() is None
    editor.nvim.input("<C-y>")
    editor.wait("the item in the buffer", lambda: editor.lines()[1].strip() == "return a + b", 10)
    assert editor.lines() == ["def add(a, b):", "    return a + b"]


def test_completion_menu_fallback_inserts_several_lines(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script(["if not xs:\n        return 0\n    return sum(xs)"]),
                         options={"inline": False})
    open_at_body(editor, tmp_path, "def total(xs):\n    \n")
    insert_at(editor, 2, 5)
    editor.wait("insert mode", lambda: editor.mode() == "i", 10)
    editor.lua("vim.lsp.completion.get()")
    items = editor.wait("the completion menu", lambda: editor.nvim.funcs.complete_info(["items"])["items"], 30)
    new_text = items[0]["user_data"]["nvim"]["lsp"]["completion_item"]["textEdit"]["newText"]
    assert items[0]["word"] == "if" and new_text.startswith("if not xs:\n        return 0")
    expected = ["def total(xs):", *("    " + new_text).split("\n")]
    editor.nvim.input("<C-y>")
    editor.wait("the item in the buffer", lambda: editor.lines()[: len(expected)] == expected, 10)
    assert tuple(editor.nvim.current.window.cursor) == (len(expected), len(expected[-1]))


def test_statusline_and_status_command_describe_the_model(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script([]))
    assert editor.statusline() == ""  # no client for this buffer yet
    open_at_body(editor, tmp_path, "x = 1\n")
    editor.wait("a client", lambda: editor.lua("return #vim.lsp.get_clients({name='qwill'})") == 1, 30)
    assert re.fullmatch(r"Qwill: (starting|loading( \d+%)?|ready)", editor.statusline())
    editor.wait_ready()
    lines = editor.lua("return require('qwill.status').describe(vim.lsp.get_clients({name='qwill'})[1])")
    assert lines[0].startswith("Qwill: ready")
    assert lines[1].startswith("model: fake (fake,")
    assert lines[-1] == "agent mode: ask (settings.agent.approvalMode)"
    # a mode other than the default shows in the statusline
    assert editor.lua("return require('qwill.status').format({state='ready', agentMode='yolo', progress={}}, "
                      "false)") == "Qwill: ready [yolo]"


def test_a_bad_model_turns_the_status_to_error(nvim_editor, tmp_path: Path) -> None:
    editor = nvim_editor(str(tmp_path / "missing.gguf"))
    open_at_body(editor, tmp_path, "x = 1\n")
    editor.wait("an error status", lambda: editor.statusline() == "Qwill: error", 60)
    describe = editor.lua("return require('qwill.status').describe(vim.lsp.get_clients({name='qwill'})[1])")
    assert "missing.gguf" in describe[0]
    # the server is still up and answers, with nothing to suggest
    editor.nvim.command("call cursor(1, 6)")
    editor.nvim.input("A")
    assert editor.lua("return #vim.lsp.get_clients({name='qwill'})") == 1


def test_checkhealth_reports_the_setup(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script([]))
    open_at_body(editor, tmp_path, "x = 1\n")
    editor.wait_ready()
    editor.nvim.command("checkhealth qwill")
    text = "\n".join(editor.nvim.current.buffer[:])
    assert "has vim.lsp.inline_completion" in text
    assert "found:" in text and "python" in text  # the configured cmd
    assert "Qwill: ready" in text
    assert "llama.cpp: llama-cpp-python" in text  # from `qwill doctor --json`


def test_qwill_command_completes_and_rejects_unknown_subcommands(nvim_editor, fake_script) -> None:
    editor = nvim_editor(fake_script([]))
    names = editor.nvim.funcs.getcompletion("Qwill ", "cmdline")
    assert {"status", "doctor", "restart", "toggle", "log"} <= set(names)
    with pytest.raises(Exception, match='unknown subcommand "nosuch"'):
        editor.nvim.command("Qwill nosuch")


def test_doctor_runs_with_the_configured_settings(nvim_editor, tmp_path: Path, default_model_path) -> None:
    editor = nvim_editor("default", options={"enable": False})
    result = editor.lua("""
        local out
        require('qwill').doctor({ load = false, sync = true }, function(code, lines) out = { code, lines } end)
        return out
    """)
    code, lines = result
    assert code == 0, lines
    assert lines[0].startswith("Qwill ")
    assert any(line.strip().startswith("[ok ] model") for line in lines), lines


def test_restart_starts_a_new_server(nvim_editor, fake_script, tmp_path: Path) -> None:
    editor = nvim_editor(fake_script([]))
    open_at_body(editor, tmp_path, "x = 1\n")
    editor.wait_ready()
    first = editor.lua("return vim.lsp.get_clients({name='qwill'})[1].id")
    editor.nvim.command("Qwill restart")
    editor.wait("a new client", lambda: editor.lua(
        "local c = vim.lsp.get_clients({name='qwill'})[1]; return c and c.id") not in (None, first), 30)
    editor.wait_ready()

"""Code actions and agent mode through the Neovim plugin, in a real headless Neovim, against the
real server with the scripted fake engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Editor

pytestmark = pytest.mark.clients

SOURCE = '''import math


def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)


def area(r):
    return math.pi * r * r
'''


def project(tmp_path: Path, name: str = "calc.py", text: str = SOURCE) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\n")
    path = root / name
    path.write_text(text)
    return path


def open_file(editor: Editor, path: Path) -> None:
    editor.nvim.command(f"edit {path}")
    editor.wait_ready()


def test_docstring_code_action_is_resolved_and_applied(nvim_editor, fake_script, tmp_path: Path) -> None:
    path = project(tmp_path)
    editor = nvim_editor(fake_script(["Return the arithmetic mean of `values`."]), cwd=path.parent)
    open_file(editor, path)
    editor.nvim.command("call cursor(5, 5)")
    titles = editor.wait("the code action list", lambda: editor.lua("""
        local params = vim.lsp.util.make_range_params(0, 'utf-16')
        params.context = { diagnostics = {} }
        local res = vim.lsp.buf_request_sync(0, 'textDocument/codeAction', params, 10000)
        local titles = {}
        for _, r in pairs(res or {}) do
          for _, a in ipairs(r.result or {}) do table.insert(titles, a.title) end
        end
        return titles
    """), 30)
    assert "Qwill: Add a docstring to `average`" in titles
    editor.lua("""vim.lsp.buf.code_action({
        apply = true, filter = function(a) return a.title:find('docstring', 1, true) ~= nil end })""")
    editor.wait("the docstring", lambda: len(editor.lines()) > len(SOURCE.splitlines()), 30)
    lines = editor.lines()
    at = lines.index("def average(values):")
    assert lines[at + 1] == '    """Return the arithmetic mean of `values`."""'
    assert lines[at + 2] == "    total = 0"


def test_explain_shows_markdown_in_a_float(nvim_editor, fake_script, tmp_path: Path) -> None:
    path = project(tmp_path)
    editor = nvim_editor(fake_script(["It computes the **area** of a circle of radius `r`."]), cwd=path.parent)
    open_file(editor, path)
    editor.nvim.command("call cursor(12, 10)")
    editor.nvim.command("Qwill explain")
    text = editor.wait("the explanation float", editor.float_text, 30)
    assert text[0] == "### Explain `area`"
    assert "It computes the **area** of a circle of radius `r`." in text
    assert editor.lua("return vim.bo.filetype") == "markdown"  # the float has the focus
    assert editor.lines() == text
    editor.nvim.input("q")
    editor.wait("the float to close", lambda: editor.float_text() is None, 10)
    assert editor.nvim.current.buffer.name == str(path)


def test_rewrite_from_the_code_action_menu_asks_for_the_instruction(nvim_editor, fake_script,
                                                                     tmp_path: Path) -> None:
    path = project(tmp_path)
    answer = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"
    editor = nvim_editor(fake_script([answer]), cwd=path.parent, ui=True)
    open_file(editor, path)
    # select `area` (lines 11-12) and pick "Rewrite selection…" from the menu
    editor.lua("""vim.lsp.buf.code_action({
        apply = true,
        range = { start = { 11, 0 }, ['end'] = { 12, 27 } },
        filter = function(a) return a.title:find('Rewrite', 1, true) ~= nil end })""")
    editor.wait_mode("c")  # vim.ui.input is asking
    editor.nvim.input("use ** for the square<CR>")
    editor.wait("the rewrite", lambda: "    return math.pi * r ** 2" in editor.lines(), 30)
    lines = editor.lines()
    assert lines[: lines.index("def area(r):")] == SOURCE.splitlines()[:10]


def test_rewrite_command_with_an_instruction(nvim_editor, fake_script, tmp_path: Path) -> None:
    path = project(tmp_path)
    answer = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"
    editor = nvim_editor(fake_script([answer]), cwd=path.parent)
    open_file(editor, path)
    editor.nvim.command("11,12Qwill rewrite use ** for the square")
    editor.wait("the rewrite", lambda: "    return math.pi * r ** 2" in editor.lines(), 30)
    assert "def average(values):" in editor.lines()


def call(name: str, **args: Any) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


GEO = "def area(r):\n    return 3.14 * r * r\n"
EDIT = call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2")


def view_text(editor: Editor) -> str:
    return editor.lua("""
        local buf = require('qwill.agent').state.buf
        return buf and table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\\n') or ''
    """)


def last_result(editor: Editor) -> dict[str, Any] | None:
    return editor.lua("return require('qwill.agent').state.last_result")


def test_agent_run_is_reviewed_applied_shown_and_undone(nvim_editor, fake_script, tmp_path: Path) -> None:
    path = project(tmp_path, "geo.py", GEO)
    editor = nvim_editor(fake_script([EDIT, "Done: area uses math.pi now."]), cwd=path.parent, ui=True)
    open_file(editor, path)
    editor.lua("require('qwill.agent').run('use math.pi in area')")
    editor.wait_mode("r?", 60)  # Apply/Reject for step 1
    editor.nvim.input("a")
    result = editor.wait("the agent to finish", lambda: last_result(editor), 60)
    assert result["status"] == "done" and result["applied"] == 1, result
    # the edit's missing import comes with it
    assert editor.nvim.buffers[1][:] == ["import math", "", "", "def area(r):", "    return math.pi * r ** 2"]
    view = view_text(editor)
    for expected in ("# Task: use math.pi in area", "## Step 1", "→ edit_file", "Changes: ",
                     "```diff", "-    return 3.14 * r * r", "+    return math.pi * r ** 2",
                     "  applied: ", "## Step 2", "Done: area uses math.pi now.",
                     "**done** after 2 steps, 1 tool calls, 1 applied, 0 rejected"):
        assert expected in view, f"{expected!r} not in the agent view:\n{view}"
    # the view is a split next to the file
    assert editor.lua("return vim.fn.bufwinid(require('qwill.agent').state.buf) ~= -1")

    editor.nvim.command("Qwill undo")
    editor.wait_mode("r?", 30)
    editor.nvim.input("a")
    editor.wait("the undo", lambda: editor.nvim.buffers[1][:] == GEO.splitlines(), 30)
    editor.wait("the restored event", lambda: "Restored to before step 1" in view_text(editor), 10)


def test_a_rejected_agent_step_leaves_the_file_and_tells_the_agent(nvim_editor, fake_script,
                                                                    tmp_path: Path) -> None:
    path = project(tmp_path, "geo.py", GEO)
    editor = nvim_editor(fake_script([EDIT, "The change was rejected; nothing changed."]),
                         cwd=path.parent, ui=True)
    open_file(editor, path)
    editor.lua("require('qwill.agent').run('use math.pi in area')")
    editor.wait_mode("r?", 60)
    editor.nvim.input("r")
    result = editor.wait("the agent to finish", lambda: last_result(editor), 60)
    assert result["rejected"] == 1 and result["applied"] == 0, result
    assert editor.nvim.buffers[1][:] == GEO.splitlines()
    assert "  rejected: rejected in review" in view_text(editor)


def test_agent_without_a_task_asks_for_one(nvim_editor, fake_script, tmp_path: Path) -> None:
    path = project(tmp_path, "geo.py", GEO)
    editor = nvim_editor(fake_script(["Nothing to do."]), cwd=path.parent, ui=True)
    open_file(editor, path)
    # typed, as a user would: vim.ui.input blocks, so it must not run inside an RPC request
    editor.nvim.input(":Qwill agent<CR>")
    editor.wait_mode("c")
    editor.nvim.input("say hello<CR>")
    result = editor.wait("the agent to finish", lambda: last_result(editor), 60)
    assert result["status"] == "done"
    assert "# Task: say hello" in view_text(editor)

"""The Neovim plugin with the real default model: ghost text from Qwen2.5-Coder-0.5B, accepted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.model]

SOURCE = 'def is_even(n: int) -> bool:\n    """True when n is even."""\n    return \n'


def test_real_model_ghost_text_is_accepted_into_the_buffer(nvim_editor, tmp_path: Path,
                                                            default_model_path) -> None:
    editor = nvim_editor("default", deadline=900)
    path = tmp_path / "even.py"
    path.write_text(SOURCE)
    editor.nvim.command(f"edit {path}")
    editor.wait_ready(timeout=240)
    editor.nvim.command("call cursor(3, 1)")
    editor.nvim.input("A")  # insert at the end of `    return `
    ghost = editor.wait("ghost text from the model", editor.ghost_text, 240)
    assert ghost.strip(), "the model suggested nothing"
    before = editor.lines()
    assert before[2] == "    return "  # shown as virtual text only
    editor.nvim.input("<Tab>")
    editor.wait("the suggestion in the buffer", lambda: editor.lines() != before, 10)
    after = editor.lines()
    inserted = ghost.split("\n")
    assert after[:2] == before[:2]
    assert after[2] == "    return " + inserted[0]
    assert after[3 : 2 + len(inserted)] == inserted[1:]
    ast.parse("\n".join(after))  # what the model wrote completes the function

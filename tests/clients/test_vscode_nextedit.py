"""Next-edit suggestions in a real VS Code (code-server) with the project's .vsix and the real
`qwill serve`: the user types a change, the prediction is shown where it goes (the removed text
struck through, the new text after it), Tab jumps there, Tab again applies it, Esc dismisses.

The prediction comes from a scripted fake engine in its own slot (`nextEdit.model`): the same
rename as tests/lsp/test_next_edit.py. Inline completion (its own fake engine) is off but in
the test of ghost text and a prediction shown together (ghost text with the real model:
test_vscode_real.py, with next edits on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..lsp.test_next_edit import ANSWER, RENAMED, SOURCE
from .vscode_workbench import Workbench

pytestmark = pytest.mark.clients

APPLIED = ANSWER.removesuffix("```")  # the rename's other uses done too


@pytest.fixture(scope="module")
def vscode_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    scripts = tmp_path_factory.mktemp("fake-engines")
    completion, next_edit = scripts / "completion.json", scripts / "next-edit.json"
    completion.write_text(json.dumps({"responses": [], "default": ", scale"}))
    next_edit.write_text(json.dumps({"responses": [], "default": ANSWER}))
    # typing `r` would open the word suggestion list (`radius`), which takes Tab while it is
    # open, as it should; these tests are about the next edit, so the list stays on Ctrl+Space.
    # Ghost text is off but in the test that turns it on (in the workspace's settings).
    return {"qwill.engine.model": f"fake:{completion}", "qwill.nextEdit.model": f"fake:{next_edit}",
            "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
            "qwill.completion.enabled": False}


# What the active editor shows of a prediction: text struck through, and text drawn after
# the buffer's characters (VS Code's `after` decorations are injected text in the line).
DECORATIONS = """
(() => {
  const editor = document.querySelector('.editor-instance .monaco-editor.focused')
    ?? document.querySelector('.editor-instance .monaco-editor');
  if (!editor) return null;
  const lines = [...editor.querySelectorAll('.view-lines .view-line')]
    .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
  const struck = [], added = [];
  lines.forEach((line, i) => {
    for (const span of line.querySelectorAll('span span')) {
      const style = getComputedStyle(span);
      if (style.textDecorationLine.includes('line-through')) struck.push([i, span.textContent]);
      const after = getComputedStyle(span, '::after').content;
      if (after && after !== 'none' && after !== 'normal') added.push([i, JSON.parse(after)]);
      else if ([...span.classList].some((c) => c.startsWith('ced-')) && !style.textDecorationLine.includes('line-through')
               && span.textContent) added.push([i, span.textContent]);
    }
  });
  return { struck, added };
})()
"""


def decorations(wb: Workbench) -> dict[str, list[Any]]:
    return wb.evaluate(DECORATIONS) or {"struck": [], "added": []}


@pytest.fixture
def wb(vscode: Workbench) -> Workbench:
    vscode.wait_status("ready", timeout=300)
    vscode.press("Escape")
    vscode.close_editors()
    return vscode


def rename(wb: Workbench, name: str) -> Path:
    """Open a copy of SOURCE and type `r` over `radius` in the signature, as a user does."""
    path = wb.server.workspace / name
    path.write_text(SOURCE)
    wb.open_file(name)
    wb.go_to(4, 10)
    wb.press("Shift+Control+ArrowRight")  # selects `radius`
    wb.type("r")
    return path


def wait_shown(wb: Workbench) -> dict[str, list[Any]]:
    return wb.wait("the next edit shown", lambda: (d if (d := decorations(wb))["struck"] else None), timeout=60)


def test_a_typed_rename_shows_its_next_edit_and_tab_tab_applies_it(wb: Workbench) -> None:
    path = rename(wb, "geo.py")
    shown = wait_shown(wb)
    assert shown["struck"] == [[5, "radius"], [5, "radius"]], shown
    assert shown["added"] == [[5, "r"], [5, "r"]], shown
    wb.screenshot("next-edit", ".part.editor", height=240)
    assert wb.cursor() == (4, 11)
    wb.press("Tab")
    wb.wait("the cursor at the next edit", lambda: wb.cursor() == (6, 22))
    assert decorations(wb)["struck"], "still shown after the jump"
    wb.press("Tab")
    wb.wait("the prediction applied", lambda: not decorations(wb)["struck"])
    assert wb.save(path) == APPLIED
    assert wb.cursor() == (6, 27)  # after the last edit
    # one undo takes back the prediction, and only it
    wb.press("Control+Z")
    assert wb.save(path) == RENAMED


def test_escape_dismisses_the_next_edit_and_leaves_the_buffer(wb: Workbench) -> None:
    path = rename(wb, "circle.py")
    wait_shown(wb)
    wb.press("Escape")
    wb.wait("the prediction hidden", lambda: not decorations(wb)["struck"] and not decorations(wb)["added"])
    wb.press("Tab")  # with nothing shown, Tab is Tab again
    text = wb.save(path)
    assert text.splitlines()[3].startswith("def area(r") and text.splitlines()[5:] == RENAMED.splitlines()[5:]


def test_typing_on_cancels_a_shown_next_edit(wb: Workbench) -> None:
    path = rename(wb, "disc.py")
    wait_shown(wb)
    wb.type("x")
    wb.wait("the prediction gone", lambda: not decorations(wb)["struck"])
    assert wb.save(path).splitlines()[3] == "def area(rx):"


def test_tab_accepts_ghost_text_first_when_both_are_shown(wb: Workbench) -> None:
    with wb.server.settings("Workspace", **{"qwill.completion.enabled": True}):
        # VS Code sees the settings file change a moment later; typing before then would ask a
        # server that still has completion off, and nothing asks again
        wb.wait("the status bar to say inline completion is on",
                lambda: "inline completion off" not in (wb.status() or {}).get("label", "inline completion off"))
        path = rename(wb, "ring.py")
        assert wb.wait_ghost_text(60) == ", scale"
        wait_shown(wb)
        wb.press("Tab")
        wb.wait("the ghost text in the buffer", lambda: wb.ghost_text() is None)
        lines = wb.save(path).splitlines()
    assert lines[3] == "def area(r, scale):"
    assert lines[5] == "    return math.pi * radius * radius"  # the prediction left alone

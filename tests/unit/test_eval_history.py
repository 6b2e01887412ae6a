"""Next-edit cases from git history: a commit that changed a file in two places close
together is an edit and the edit that followed it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from qwill.evaluation.history import has_history, hunks, mine_history
from qwill.evaluation.lsp_driver import EditAnswer
from qwill.evaluation.runner import score_next_edit

V1 = '''def area(width, height):
    """Area of a rectangle."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''
# the parameter renamed: the signature first, then its use two lines down
V2 = V1.replace("def area(width, height):", "def area(w, height):").replace(
    "    return width * height", "    return w * height")


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def _repo(root: Path) -> Path:
    _git(root, "init", "-q")
    (root / "geo.py").write_text(V1)
    (root / "notes.txt").write_text("a\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    (root / "geo.py").write_text(V2)
    (root / "notes.txt").write_text("b\n")
    _git(root, "commit", "-qam", "rename")
    return root


def test_a_commit_with_two_close_changes_is_a_case(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert has_history(root)
    (case,) = mine_history(root, seed=0)
    assert case.path == "geo.py" and case.language == "python" and case.before == V1
    assert case.edited == V1.replace("def area(width, height):", "def area(w, height):")
    assert case.truth == V2
    assert case.edited[:case.cursor].endswith("def area(w, height):")  # the cursor after the first edit
    assert mine_history(root, languages=("typescript",)) == []


def test_no_git_no_cases(tmp_path: Path) -> None:
    (tmp_path / "geo.py").write_text(V1)
    assert not has_history(tmp_path) and mine_history(tmp_path) == []


def test_hunks_are_line_ranges_of_the_old_text() -> None:
    (first, second) = hunks(V1, V2)
    assert (first.start, first.end, first.new) == (0, 1, "def area(w, height):\n")
    assert (second.start, second.end, second.new) == (2, 3, "    return w * height\n")


def test_a_prediction_is_scored_by_the_file_it_leaves_and_where_it_edits(tmp_path: Path) -> None:
    (case,) = mine_history(_repo(tmp_path))
    right = score_next_edit(case, EditAnswer(V2, "", 0.5, ((2, 2),)))
    assert right.shown and right.exact and right.located
    elsewhere = score_next_edit(case, EditAnswer(case.edited.replace("2 *", "3 *"), "", 0.5, ((6, 6),)))
    assert elsewhere.shown and not elsewhere.exact and not elsewhere.located
    near = score_next_edit(case, EditAnswer(case.edited.replace("width * height", "w*height"), "", 0.5, ((2, 2),)))
    assert near.located and not near.exact
    none = score_next_edit(case, EditAnswer(None, "no change", 0.2))
    assert not none.shown and none.reason == "no change"

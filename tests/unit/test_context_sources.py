"""Each context source on its own: definitions, scope outlines, recent edits, similar snippets."""

from __future__ import annotations

from pathlib import Path

from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.languages import get_language
from qwill.context.sources import (
    ChunkCache,
    RecentEdits,
    Situation,
    definition_candidates,
    identifiers,
    jaccard,
    recent_edit_candidates,
    scope_candidates,
    similar_candidates,
)
from qwill.context.syntax import SyntaxTree, scope_facts
from qwill.context.workspace_index import WorkspaceIndex

GEOMETRY = '''class Circle:
    """A circle."""

    def __init__(self, r):
        self.r = r

    def area(self):
        return 3.14 * self.r ** 2


def clamp(x, lo, hi):
    return max(lo, min(x, hi))
'''


def situation(text: str, offset: int, *, path: str, window: tuple[int, int] | None = None,
              uri: str | None = None) -> Situation:
    tree = SyntaxTree(get_language("python"), text)  # type: ignore[arg-type]
    start, end = window or (0, len(text))
    return Situation(uri or Path(path).as_uri(), path, text, offset, start, end,
                     scope_facts(tree, text, offset), tree)


def geometry_index(root: Path) -> WorkspaceIndex:
    (root / "geometry.py").write_text(GEOMETRY)
    index = WorkspaceIndex()
    index.build([root])
    return index


def test_definitions_resolve_names_near_the_cursor_across_files(tmp_path: Path) -> None:
    index = geometry_index(tmp_path)
    app = "from geometry import Circle, clamp\n\n\ndef total(rs):\n    shapes = [Circle(r) for r in rs]\n    return clamp("
    s = situation(app, len(app), path=str(tmp_path / "app.py"))
    cands = definition_candidates(s, index, [str(tmp_path)])
    by_name = {c.reason.split("`")[1]: c for c in cands}
    assert set(by_name) >= {"Circle", "clamp"}
    assert by_name["clamp"].path == "geometry.py"
    assert by_name["clamp"].text == "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))"
    assert "on the cursor line" in by_name["clamp"].reason
    assert by_name["clamp"].score >= by_name["Circle"].score  # nearer the cursor
    assert by_name["Circle"].text.startswith("class Circle:") and "def area(self):" in by_name["Circle"].text


def test_definitions_visible_in_the_window_are_left_out(tmp_path: Path) -> None:
    text = "def helper(x):\n    return x\n\n\ndef main():\n    return helper("
    path = str(tmp_path / "m.py")
    index = WorkspaceIndex()
    index.update_text(path, text, "python")
    s = situation(text, len(text), path=path)  # window = whole file: helper is visible
    assert definition_candidates(s, index) == []
    far = "def helper(x):\n    return x\n" + "\n" * 60 + "def main():\n    return helper("
    index.update_text(path, far, "python")
    window_start = far.index("def main")
    s = situation(far, len(far), path=path, window=(window_start, len(far)))
    (cand,) = definition_candidates(s, index)
    assert cand.text == "def helper(x):\n    return x" and cand.path == path


def test_methods_come_with_their_class_header(tmp_path: Path) -> None:
    index = geometry_index(tmp_path)
    app = "class Disc(Circle):\n    def f(self):\n        return self.area("
    s = situation(app, len(app), path=str(tmp_path / "app.py"))
    (cand,) = [c for c in definition_candidates(s, index) if "`area`" in c.reason]
    assert cand.text == "class Circle:\n    def area(self):\n        return 3.14 * self.r ** 2"


def test_members_of_unknown_receivers_are_not_looked_up(tmp_path: Path) -> None:
    """`c.area(` could be any type's `area`; `geometry.clamp(` names its module."""
    index = geometry_index(tmp_path)
    app = "import geometry\n\n\ndef f(c):\n    c.area()\n    return geometry.clamp("
    s = situation(app, len(app), path=str(tmp_path / "app.py"))
    found = {c.reason.split("`")[1] for c in definition_candidates(s, index)}
    assert "clamp" in found and "area" not in found


def test_scope_outline_only_when_the_header_is_above_the_window() -> None:
    body = "".join(f"        x{i} = {i}\n" for i in range(50))
    text = f"class Big(Base):\n    def first(self):\n        pass\n\n    def work(self, a):\n{body}        return a"
    cursor = len(text)
    inside = situation(text, cursor, path="/w/big.py")
    assert scope_candidates(inside) == []  # the window shows the headers
    start = text.index("        x40")
    (cand,) = scope_candidates(situation(text, cursor, path="/w/big.py", window=(start, len(text))))
    assert cand.source == "scope"
    assert cand.text.startswith("class Big(Base):\n    def first(self):\n        ...\n    def work(self, a):")
    assert "x3 = 3" not in cand.text
    assert "outline of class `Big`" in cand.reason and "header of method `work`" in cand.reason


def test_recent_edits_ring_merges_shifts_and_skips_the_window() -> None:
    docs = DocumentStore()
    ring = RecentEdits(capacity=3)
    docs.listeners.append(ring.on_change)
    lines = [f"line{i} = {i}" for i in range(100)]
    doc = docs.open("file:///w/a.py", "\n".join(lines) + "\n", 1, "python")
    assert ring.regions() == []  # opening is not an edit
    docs.change(doc.uri, 2, [TextChange("X", Range(Position(10, 0), Position(10, 0)))])
    docs.change(doc.uri, 3, [TextChange("Y", Range(Position(11, 0), Position(11, 0)))])
    assert ring.regions() == [("file:///w/a.py", 10, 11)]  # merged: they touch
    docs.change(doc.uri, 4, [TextChange("Z", Range(Position(50, 0), Position(50, 0)))])
    docs.change(doc.uri, 5, [TextChange("new\nnew\n", Range(Position(0, 0), Position(0, 0)))])
    assert ring.regions()[1:] == [("file:///w/a.py", 52, 52), ("file:///w/a.py", 12, 13)]  # shifted by 2
    cur = docs.get(doc.uri)
    assert cur is not None
    window = (cur.offset_at(Position(40, 0)), cur.offset_at(Position(70, 0)))
    s = situation(cur.text, window[0] + 5, path="/w/a.py", window=window, uri=doc.uri)
    cands = recent_edit_candidates(s, ring, docs, {doc.uri: "/w/a.py"})
    texts = [c.text for c in cands]
    assert any("XYline10" not in t and "Xline10 = 10" in t for t in texts)
    assert not any("Zline50" in t for t in texts)  # inside the window


def test_similar_snippets_by_jaccard() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == 1 / 3 and jaccard(set(), {"a"}) == 0.0
    assert identifiers("self.items.append(item)  # x") == {"items", "append", "item"}
    docs = DocumentStore()
    other = "\n".join(["def unrelated():", "    return 0"] * 10 + [
        "def load_config(path):", "    with open(path) as handle:", "        raw = json.load(handle)",
        "    config = parse_config(raw)", "    return validate_config(config)"])
    docs.open("file:///w/other.py", other, 1, "python")
    docs.open("file:///w/empty.py", "", 1, "python")
    text = "def reload(path):\n    with open(path) as handle:\n        raw = json.load(handle)\n    config = "
    s = situation(text, len(text), path="/w/cur.py", uri="file:///w/cur.py")
    cands = similar_candidates(s, docs, {"file:///w/other.py": "/w/other.py"}, ChunkCache())
    assert cands and cands[0].path == "/w/other.py"
    assert "parse_config(raw)" in cands[0].text and cands[0].source == "similar"
    unrelated = situation("x = 1\n", 5, path="/w/cur.py")
    assert similar_candidates(unrelated, docs, {}, ChunkCache()) == []


"""Mining `qwill eval` cases from a repository: which files, which holes, which typing
sites, and the same ones again for the same seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.evaluation.mining import MiningError, find_sources, mine, position_of

PY = '''import math


def hypot(a, b):
    """The length of the hypotenuse."""
    squares = a * a + b * b
    return math.sqrt(squares)


class Shape:
    def area(self, width, height):
        result = width * height
        if result < 0:
            raise ValueError("negative area")
        return result
'''

TS = '''export function total(prices: number[]): number {
  let sum = 0;
  for (const p of prices) {
    sum += p;
  }
  return sum;
}

export class Cart {
  items: string[] = [];

  add(item: string): number {
    this.items.push(item);
    return this.items.length;
  }
}
'''


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "geometry.py").write_text(PY)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cart.ts").write_text(TS)
    (tmp_path / "node_modules" / "dep").mkdir(parents=True)
    (tmp_path / "node_modules" / "dep" / "index.ts").write_text(TS)  # vendored: not the user's code
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "geometry.py").write_text(PY)
    (tmp_path / "ignored.py").write_text(PY)
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    (tmp_path / "README.md").write_text("# not code\n")
    return tmp_path


def test_sources_are_the_users_own_files(tmp_path: Path) -> None:
    corpus = find_sources(_project(tmp_path))
    assert sorted(f.rel for f in corpus.files) == ["pkg/geometry.py", "src/cart.ts"]
    assert corpus.languages == {"python": 1, "typescript": 1}
    only = find_sources(tmp_path, ["typescript"])
    assert [f.rel for f in only.files] == ["src/cart.ts"]


def test_bad_paths_say_why(tmp_path: Path) -> None:
    with pytest.raises(MiningError, match="is not a directory"):
        find_sources(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello\n" * 20)
    with pytest.raises(MiningError, match="no supported source files"):
        find_sources(tmp_path)
    (tmp_path / "a.py").write_text(PY)
    with pytest.raises(MiningError, match="no supported source files in rust"):
        find_sources(tmp_path, ["rust"])


def test_holes_hide_real_code_inside_functions(tmp_path: Path) -> None:
    corpus = find_sources(_project(tmp_path))
    cases = mine(corpus, seed=1, max_holes=12, block_share=0.5)
    assert cases.holes and {h.language for h in cases.holes} == {"python", "typescript"}
    for h in cases.holes:
        text = corpus.file(h.path).text
        assert text[h.offset:h.end] == h.target  # the hole is exactly the hidden text
        assert h.shown(text) + "" == text[:h.offset] + text[h.end:]
        assert h.target.strip()
        assert "import" not in h.target and '"""' not in h.target  # code, not imports or docstrings
        if h.kind == "line":
            assert "\n" not in h.target
        else:
            assert h.kind == "block" and h.target.count("\n") >= 1
    blocks = {h.target for h in cases.holes if h.kind == "block"}
    # a short body from its first statement on (the docstring stays visible)
    assert "squares = a * a + b * b\n    return math.sqrt(squares)" in blocks
    assert "this.items.push(item);\n    return this.items.length;" in blocks


def test_the_same_seed_gives_the_same_cases(tmp_path: Path) -> None:
    corpus = find_sources(_project(tmp_path))
    a = mine(corpus, seed=3, max_holes=6)
    b = mine(find_sources(tmp_path), seed=3, max_holes=6)
    assert a == b
    others = [mine(corpus, seed=s, max_holes=6).holes for s in range(4, 12)]
    assert any(o != a.holes for o in others)  # the seed does choose


def test_typing_sites_type_the_first_lines_of_a_body(tmp_path: Path) -> None:
    corpus = find_sources(_project(tmp_path))
    cases = mine(corpus, seed=0, max_sites=10, max_keystrokes=1000)
    typed = {s.typed for s in cases.sites}
    assert "result = width * height\n        if result < 0:" in typed
    for s in cases.sites:
        text = corpus.file(s.path).text
        assert text[s.offset:s.offset + len(s.typed)] == s.typed
        assert s.truth.startswith(s.typed) and text[s.offset:].startswith(s.truth)
        assert s.cleared(text) == text[:s.offset] + text[s.offset + len(s.typed):]
    few = mine(corpus, seed=0, max_sites=10, max_keystrokes=30)
    assert sum(len(s.typed) for s in few.sites) == 30  # the keystroke budget holds


def test_positions_count_utf16_columns() -> None:
    text = "a = 1\nb = '😀' + c\n"
    assert position_of(text, 0) == (0, 0)
    assert position_of(text, text.index("+")) == (1, 9)  # the emoji is two UTF-16 units

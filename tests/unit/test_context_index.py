"""The workspace symbol index: what it indexes, what it skips, how it stays current."""

from __future__ import annotations

import os
from pathlib import Path

from qwill.context.workspace_index import IndexLimits, WorkspaceIndex


def write(root: Path, rel: str, text: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def make_workspace(root: Path) -> None:
    write(root, "pkg/geometry.py", "class Circle:\n    def area(self):\n        return 1\n\nPI = 3.14\n")
    write(root, "pkg/util.py", "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n")
    write(root, "web/app.ts", "export function render(el: Element): void {}\nexport interface Props { a: number }\n")
    write(root, "node_modules/lib/index.js", "function vendored() {}\n")
    write(root, ".venv/lib/site.py", "def from_venv():\n    pass\n")
    write(root, "build/gen.py", "def generated():\n    pass\n")
    write(root, "secret/keys.py", "def ignored_by_gitignore():\n    pass\n")
    write(root, "pkg/scratch_tmp.py", "def ignored_by_pattern():\n    pass\n")
    write(root, ".gitignore", "secret/\n*_tmp.py\n")
    write(root, "pkg/.gitignore", "local.py\n")
    write(root, "pkg/local.py", "def ignored_nested():\n    pass\n")
    write(root, "pkg/blob.py", b"def binary():\n\x00\x01\x02")
    write(root, "pkg/huge.py", "def huge():\n    pass\n" + "# filler\n" * 80_000)
    write(root, "README.md", "# not code\n")
    write(root, "web/app.min.js", "function minified(){}")


def test_build_indexes_code_and_skips_what_it_should(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    index = WorkspaceIndex()
    reports: list[tuple[str, float | None]] = []
    stats = index.build([tmp_path], progress=lambda m, f: reports.append((m, f)))
    names = {s.name for p in (tmp_path / "pkg/geometry.py", tmp_path / "pkg/util.py", tmp_path / "web/app.ts")
             for s in index.symbols_in(str(p))}
    assert names == {"Circle", "area", "PI", "clamp", "render", "Props"}
    for absent in ("vendored", "from_venv", "generated", "ignored_by_gitignore", "ignored_by_pattern",
                   "ignored_nested", "binary", "huge", "minified"):
        assert index.lookup(absent) == [], absent
    assert stats.files == 3 and stats.symbols == 6
    assert reports and reports[-1][1] == 1.0
    (area,) = index.lookup("area")
    assert area.kind == "method" and area.container == "Circle" and area.line == 1
    assert area.path == (tmp_path / "pkg/geometry.py").resolve().as_posix()
    assert area.snippet == "    def area(self):\n        return 1"
    assert {s.name for s in index.search("cl")} == {"clamp", "Circle"}
    assert index.search("clamp")[0].name == "clamp"


def test_updates_from_disk_buffers_and_deletes(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    index = WorkspaceIndex()
    index.build([tmp_path])
    util = tmp_path / "pkg/util.py"
    util.write_text("def clamp(x):\n    return x\n\ndef lerp(a, b, t):\n    return a + (b - a) * t\n")
    os.utime(util, (1, 1))  # a different mtime than the first version
    assert index.update_file(util)
    assert [s.name for s in index.symbols_in(str(util))] == ["clamp", "lerp"]
    # an open buffer wins over the disk until it is released
    index.update_text(str(util), "def typed_in_editor():\n    pass\n", "python")
    assert index.update_file(util)
    assert [s.name for s in index.symbols_in(str(util))] == ["typed_in_editor"]
    assert index.lookup("lerp") == []
    index.release_text(str(util))
    assert [s.name for s in index.symbols_in(str(util))] == ["clamp", "lerp"]
    # new files, deleted files, deleted directories
    new = write(tmp_path, "pkg/sub/extra.go", "package sub\n\nfunc Extra() {}\n")
    assert index.update_file(new)
    assert index.lookup("Extra")[0].kind == "function"
    new.unlink()
    assert not index.update_file(new)
    assert index.lookup("Extra") == []
    index.remove_file(tmp_path / "pkg")
    assert index.lookup("Circle") == [] and index.lookup("render")
    assert index.is_ignored(tmp_path / "secret/keys.py")
    assert index.is_ignored(tmp_path / "node_modules/lib/index.js")
    assert index.is_ignored(tmp_path / "pkg/local.py")
    assert not index.is_ignored(tmp_path / "pkg/util.py")
    assert index.is_ignored("/somewhere/else.py")


def test_caps_bound_files_and_symbols(tmp_path: Path) -> None:
    for i in range(10):
        write(tmp_path, f"m{i}.py", "".join(f"def f{i}_{j}():\n    pass\n" for j in range(5)))
    index = WorkspaceIndex(IndexLimits(max_files=4, max_symbols=100))
    stats = index.build([tmp_path])
    assert index.file_count == 4 and stats.truncated
    index = WorkspaceIndex(IndexLimits(max_files=100, max_symbols=12))
    stats = index.build([tmp_path])
    assert index.symbol_count <= 12 and stats.truncated


def test_build_can_be_stopped(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path, f"m{i}.py", f"def f{i}():\n    pass\n")
    index = WorkspaceIndex()
    calls = [0]

    def stop() -> bool:
        calls[0] += 1
        return calls[0] > 25

    stats = index.build([tmp_path], should_stop=stop)
    assert stats.cancelled and index.file_count < 20

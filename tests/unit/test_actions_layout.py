"""Where generated tests go, per language and project layout."""

from __future__ import annotations

from pathlib import Path

from qwill.actions.test_layout import is_test_file, locate, project_root


def test_python_tests_folder_and_src_layout(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    src = tmp_path / "src" / "pkg" / "stats.py"
    src.parent.mkdir(parents=True)
    src.write_text("def mean(x): ...\n")
    where = locate(src, "python", "mean")
    assert where is not None
    assert where.path == tmp_path / "tests" / "test_stats.py"
    assert where.import_line == "from pkg.stats import mean"
    (tmp_path / "test").mkdir()
    assert locate(src, "python", "mean").path == tmp_path / "test" / "test_stats.py"  # type: ignore[union-attr]


def test_methods_import_their_class_and_workspace_roots_win(tmp_path: Path) -> None:
    inner = tmp_path / "app"
    inner.mkdir()
    (inner / "setup.py").write_text("")
    src = inner / "models.py"
    where = locate(src, "python", "area", "Circle", roots=(tmp_path,))
    assert where is not None and where.import_line == "from app.models import Circle"
    assert project_root(src, (tmp_path,)) == tmp_path
    assert project_root(src) == inner


def test_js_ts_go_rust_java(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"devDependencies": {"vitest": "^1"}}')
    ts = tmp_path / "lib" / "math.ts"
    ts.parent.mkdir()
    where = locate(ts, "typescript", "add")
    assert where is not None and where.path == tmp_path / "lib" / "math.test.ts"
    assert "Vitest" in where.framework and where.import_line == "import { add } from './math';"
    (tmp_path / "lib" / "__tests__").mkdir()
    where = locate(ts, "typescript", "add")
    assert where is not None and where.path == tmp_path / "lib" / "__tests__" / "math.test.ts"
    assert "'../math'" in where.import_line

    go = tmp_path / "geo" / "point.go"
    where = locate(go, "go", "Len", text="// doc\npackage geo\n")
    assert where is not None and where.path == tmp_path / "geo" / "point_test.go" and "`geo`" in where.note

    rs = tmp_path / "src" / "lib.rs"
    where = locate(rs, "rust", "add")
    assert where is not None and where.same_file and where.path == rs

    java = tmp_path / "src" / "main" / "java" / "com" / "ex" / "Calc.java"
    where = locate(java, "java", "add", "Calc", text="package com.ex;\n")
    assert where is not None
    assert where.path == tmp_path / "src" / "test" / "java" / "com" / "ex" / "CalcTest.java"
    assert "com.ex" in where.note


def test_test_files_and_unknown_languages_get_no_tests() -> None:
    assert is_test_file(Path("tests/test_x.py")) and is_test_file(Path("a/b.test.ts"))
    assert is_test_file(Path("x_test.go")) and not is_test_file(Path("contest.py"))
    assert locate(Path("/p/tests/test_x.py"), "python", "f") is None
    assert locate(Path("/p/x.sh"), "bash", "f") is None

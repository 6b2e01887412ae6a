"""benchmarks/typing_trace.py: the trace it types and how it scores what was shown."""

from __future__ import annotations

from pathlib import Path

from benchmarks.typing_trace import Result, make_trace, source_files, usefulness

PY = '''import os


def join_all(parts, sep):
    """Join the parts."""
    cleaned = [p.strip() for p in parts if p]
    return sep.join(cleaned)


def other(x):
    return x + 1
'''

TS = '''export function total(items: number[]): number {
  // sum them
  let sum = 0;
  for (const x of items) sum += x;
  return sum;
}
'''


def test_sites_come_from_any_directory_and_truth_is_the_authors_text(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(PY)
    (tmp_path / "pkg" / "sum.ts").write_text(TS)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.ts").write_text(TS)
    (tmp_path / "notes.txt").write_text("not code")
    files = source_files([str(tmp_path)])
    assert sorted(p.name for p in files) == ["mod.py", "sum.ts"]
    sites = make_trace(10_000, files=files)
    assert sorted(s.typed[:6] for s in sites) == ["cleane", "let su", "return"]
    py = next(s for s in sites if s.typed.startswith("cleaned"))
    ts = next(s for s in sites if s.path.name == "sum.ts")
    # the docstring stays; the first two statements are cleared and typed again
    assert py.typed == "cleaned = [p.strip() for p in parts if p]\n    return sep.join(cleaned)"
    assert '"""Join the parts."""\n    \n' in py.text and "cleaned" not in py.text
    assert py.truth(0).startswith(py.typed) and py.truth(8) == PY[PY.index("cleaned") + 8:]
    assert ts.language_id == "typescript"
    assert ts.typed == "let sum = 0;\n  for (const x of items) sum += x;"  # the comment is skipped
    assert ts.truth(4) == TS[TS.index("let sum") + 4:]


def test_usefulness_counts_empty_answers_as_misses_and_accepts_over_shown() -> None:
    r = Result("x")
    truth = "return sep.join(cleaned)\n\n\ndef other(x):\n"
    r.record(0, 1, "return sep.join(", truth, "model", 0.1)  # agrees, typed through
    r.record(0, 2, "return sep.split(x)", truth, "model", 0.1)  # disagrees
    r.record(0, 3, "", truth, "model", 0.1)  # empty
    r.record(0, 4, "return sep.join(cleaned)\n    more()", truth, "model", 0.1)  # first line only
    u = usefulness(r.records)
    assert u["keystrokes"] == 4 and u["shown"] == 3
    assert u["empty_pct"] == 25.0
    assert u["first_line_agreement_pct"] == 50.0
    assert u["whole_agreement_pct"] == 25.0
    assert u["accepted_pct"] == round(100 / 3, 1)

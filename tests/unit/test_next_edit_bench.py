"""The next-edit benchmark's cases: two releases of a file split into the user's edit(s)
and the edit that follows, and how a prediction is scored against the real change."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from benchmarks.next_edit import (
    choose,
    edited_region,
    mine_release,
    read_sdist,
    score,
    summary,
    touches_other_lines,
)
from qwill.evaluation.history import split_cases
from qwill.evaluation.lsp_driver import EditAnswer

OLD = '''import os


def load(path, mode):
    """Read a file."""
    with open(path, mode) as f:
        return f.read()


def save(path, data):
    # keep it simple
    with open(path, "w") as f:
        f.write(data)


def size(path):
    return os.path.getsize(path)
'''
# hunks at lines 3, 5, 9, 11 and 16 (zero-based) of OLD
NEW = (OLD.replace("def load(path, mode):", "def load(path, mode, encoding):")
       .replace("with open(path, mode) as f:", "with open(path, mode, encoding=encoding) as f:")
       .replace("def save(path, data):", "def save(path, data, encoding=\"utf-8\"):")
       .replace("    with open(path, \"w\") as f:", "    with open(path, \"w\", encoding=encoding) as f:")
       .replace("    return os.path.getsize(path)", "    return os.stat(path).st_size"))


def test_a_release_diff_splits_into_edit_and_next_edit() -> None:
    cases = mine_release("demo", "1.0", "1.1", {"demo/io.py": OLD, "README.py": "x = 1\n"},
                         {"demo/io.py": NEW, "README.py": "x = 1\n"}, max_gap=8, max_earlier=1)
    by_target = {c.second.start: c for c in cases}
    # each change is the next edit of the one above it (all within 8 lines)
    assert sorted(by_target) == [5, 9, 11, 16]
    first = by_target[5]
    assert first.id == "demo 1.0->1.1:demo/io.py@6" and first.path == "demo-1.0/demo/io.py"
    assert first.language == "python" and first.earlier == ()
    assert first.edited == OLD.replace("def load(path, mode):", "def load(path, mode, encoding):")
    assert first.edited[:first.cursor].endswith("def load(path, mode, encoding):")
    assert "encoding=encoding" in first.truth and "# keep it simple" in first.truth
    # the hunk above the user's edit, within the gap, is an earlier edit sent first
    last = by_target[16]
    assert [h.start for h in last.user_edits] == [9, 11]
    assert last.edited[:last.cursor].endswith('with open(path, "w", encoding=encoding) as f:')
    assert 'def save(path, data, encoding="utf-8"):' in last.edited and "getsize" in last.edited
    assert "os.stat(path).st_size" in last.truth


def test_far_apart_blank_and_comment_only_changes_are_not_cases() -> None:
    assert mine_release("demo", "1", "2", {"a.py": OLD}, {"a.py": NEW}, max_gap=0, max_earlier=0) == []
    blank = OLD.replace("def load(path, mode):", "def load(path, mode, encoding):").replace(
        "\n\ndef save", "\n\n\ndef save")
    assert mine_release("demo", "1", "2", {"a.py": OLD}, {"a.py": blank}) == []
    comment = OLD.replace("def load(path, mode):", "def load(path, mode, encoding):").replace(
        "# keep it simple", "# keep it short")
    assert mine_release("demo", "1", "2", {"a.py": OLD}, {"a.py": comment}) == []
    assert mine_release("demo", "1", "2", {"a.txt": OLD}, {"a.txt": NEW}) == []  # not Python


def test_split_cases_takes_every_pair_and_earlier_edits_within_the_gap() -> None:
    cases = split_cases("x", "a.py", "python", OLD, NEW, max_gap=30, max_earlier=2)
    assert [(tuple(h.start for h in c.earlier), c.first.start, c.second.start) for c in cases] == [
        ((), 3, 5), ((3,), 5, 9), ((3, 5), 9, 11), ((5, 9), 11, 16)]
    # the user's edits move the lines below them: the shift counts only those above
    grow = NEW.replace('        f.write(data)\n', '        f.write(data)\n        f.flush()\n')
    (*_, last) = split_cases("x", "a.py", "python", OLD, grow, max_gap=30, max_earlier=1)
    assert last.second.start == 16 and last.shift(last.second) == 1


def test_the_edited_region_is_where_prediction_or_truth_differ() -> None:
    edited = "a\nb\nc\nd\n"
    truth = "a\nB\nc\nd\n"
    assert edited_region(edited, truth, truth) == ("B\n", "B\n")
    assert edited_region(edited, edited, truth) == ("b\n", "B\n")  # predicting nothing
    assert edited_region(edited, "a\nb\nc\nD\n", truth) == ("b\nc\nD\n", "B\nc\nd\n")
    assert not touches_other_lines(edited, "a\nBee\nc\nd\n", truth)  # the right line, wrong text
    assert touches_other_lines(edited, "a\nb\nc\nD\n", truth)
    assert touches_other_lines(edited, "a\nb\nnew\nc\nd\n", truth)  # an insertion elsewhere


def test_scores_of_right_wrong_harmful_and_no_predictions() -> None:
    (case, *_) = mine_release("demo", "1.0", "1.1", {"io.py": OLD}, {"io.py": NEW})
    right = score(case, "m", EditAnswer(case.truth, "", 1.0, ((5, 5),)))
    assert right.shown and right.exact and right.similarity == 1.0 and right.located and not right.harmful
    near = score(case, "m", EditAnswer(case.truth.replace("encoding=encoding", "encoding"), "", 2.0, ((5, 5),)))
    assert not near.exact and 0.5 < near.similarity < 1.0 and not near.harmful
    broken = score(case, "m", EditAnswer(case.edited.replace("return f.read()", "return f.read("), "", 3.0,
                                         ((6, 6),)))
    assert broken.shown and broken.harmful and broken.parse_worse and not broken.exact
    elsewhere = score(case, "m", EditAnswer(case.edited.replace("import os", "import os.path"), "", 4.0, ((0, 0),)))
    assert elsewhere.harmful and not elsewhere.parse_worse
    nothing = score(case, "baseline", EditAnswer(None, "the prediction changes nothing", 0.0))
    assert not nothing.shown and nothing.noop and not nothing.exact and not nothing.harmful
    assert 0 < nothing.similarity < near.similarity
    s = summary([right, near, broken, elsewhere, nothing])
    assert (s["n"], s["exact_pct"], s["shown_pct"], s["harmful_pct"], s["noop_pct"]) == (5, 20.0, 80.0, 40.0, 20.0)
    assert s["harmful_of_shown_pct"] == 50.0 and s["p50_s"] == 2.0
    assert s["not_shown"] == {"the prediction changes nothing": 1}


def test_cases_are_drawn_round_robin_per_release() -> None:
    a = mine_release("a", "1", "2", {"x.py": OLD}, {"x.py": NEW})
    b = mine_release("b", "1", "2", {"x.py": OLD}, {"x.py": NEW})
    picked = choose([a, b], 4, seed=0, per_release=2)
    assert [c.id.split()[0] for c in picked] == ["a", "b", "a", "b"]
    assert choose([a, b], 4, seed=0, per_release=2) == picked  # the seed decides
    assert len(choose([a, b], 10, seed=0, per_release=1)) == 2


def test_an_sdist_is_read_below_its_top_folder(tmp_path: Path) -> None:
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, text in (("demo-1.0/demo/io.py", OLD), ("demo-1.0/PKG-INFO", "Name: demo\n"),
                           ("demo-1.0/demo/crlf.py", "x = 1\r\ny = 2\r\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert read_sdist(path) == {"demo/io.py": OLD, "demo/crlf.py": "x = 1\ny = 2\n"}

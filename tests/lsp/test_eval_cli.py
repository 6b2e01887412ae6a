"""`qwill eval` as a user runs it: a subprocess on a project laid out here, with the fake
engine (the real `qwill serve` over stdio underneath); and its answers to bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..unit.test_eval_history import _repo
from ..unit.test_eval_mining import PY, TS


def _eval(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qwill", "eval", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _project(root: Path) -> Path:
    (root / "proj" / "pkg").mkdir(parents=True)
    (root / "proj" / "pkg" / "geometry.py").write_text(PY)
    (root / "proj" / "web").mkdir()
    (root / "proj" / "web" / "cart.ts").write_text(TS)
    return root / "proj"


def test_eval_measures_a_project_and_writes_the_reports(tmp_path: Path, fake_script) -> None:
    _repo(_project(tmp_path))  # a git repository whose last commit renamed a parameter
    model = fake_script(default="result = width * height")
    out = _eval("proj", "--model", model, "--seed", "2", "--max-holes", "8", "--max-keystrokes", "40",
                "--budget", "120", "--out", "report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    (run,) = data["runs"]
    assert run["state"] == "ok" and run["model"] == model
    assert data["corpus"] == {"python": 2, "typescript": 1} and data["holes"] == 8
    assert len(run["fim"]) == 8 and {f["language"] for f in run["fim"]} == {"python", "typescript"}
    # every keystroke of the trace was sent and answered: 40 keystrokes and a request at each site's start
    assert len(run["keystrokes"]) == 40 + data["sites"]
    # the fake engine's one answer is right where the user types `result = width * height`
    hit = [k for k in run["keystrokes"] if k["site"].startswith("pkg/geometry.py:12") and k["typed"] == 0]
    assert hit and hit[0]["suggestion"] == "result = width * height" and hit[0]["first_line"]
    # the commit's rename replayed through qwill/nextEdit (the fake engine predicts no edit)
    assert data["next_edit_cases"] == 1
    (edit,) = run["next_edits"]
    assert edit["case"].endswith(":geo.py") and not edit["exact"]
    # the table on stdout, an HTML page beside the JSON
    assert "| model | holes | exact % |" in out.stdout and "| python |" in out.stdout
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<svg" in page and "Typing trace: latency per keystroke" in page
    # the same seed picks the same holes
    again = _eval("proj", "--model", model, "--seed", "2", "--max-holes", "8", "--max-keystrokes", "0",
                  "--out", "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    holes = [f["hole"] for f in json.loads((tmp_path / "again" / "report.json").read_text())["runs"][0]["fim"]]
    assert holes == [f["hole"] for f in run["fim"]]


def test_the_budget_stops_the_run_and_keeps_what_it_measured(tmp_path: Path, fake_script) -> None:
    _project(tmp_path)
    slow = fake_script(default="a b c d e f g h", delay=0.4)  # each answer takes ~3 s
    out = _eval("proj", "--model", slow, "--budget", "4", "--max-holes", "20", "--out", "r", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run,) = json.loads((tmp_path / "r" / "report.json").read_text())["runs"]
    assert run["state"] == "budget" and "time budget reached" in run["message"]
    assert len(run["fim"]) < 20


def test_bad_input_is_named_and_exits_2(tmp_path: Path, fake_script) -> None:
    _project(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# nothing to complete\n")
    (tmp_path / "broken.gguf").write_bytes(b"not a model at all" * 10)
    for args, why in [
        (["missing"], "is not a directory"),
        (["docs"], "no supported source files"),
        (["proj", "--languages", "rust"], "no supported source files in rust"),
        (["proj", "--model", "nonexistent.gguf"], "model 'nonexistent.gguf' cannot be loaded"),
        (["proj", "--model", str(tmp_path / "broken.gguf")], "cannot be loaded"),
        (["proj", "--budget", "0"], "--budget must be positive"),
    ]:
        out = _eval(*args, "--out", "never", cwd=tmp_path, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert why in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "never").exists()
    # a model that fails inside the server (here: an unreadable fake script) is reported too
    out = _eval("proj", "--model", f"fake:{tmp_path / 'no-such-script.json'}", "--out", "failed", cwd=tmp_path)
    assert out.returncode == 2 and "cannot read fake engine script" in out.stderr, out.stderr
    assert "next-edit: not measured" in out.stderr and "no git history" in out.stderr
    assert json.loads((tmp_path / "failed" / "report.json").read_text())["runs"][0]["state"] == "error"

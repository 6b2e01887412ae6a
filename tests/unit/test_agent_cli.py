"""`qwill agent "task"` as a user runs it: diff review, --yes, no TTY, a real TTY."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

EDIT = ('<tool_call>\n{"name": "edit_file", "arguments": {"path": "geo.py", "old_text": "3.14", '
        '"new_text": "math.pi"}}\n</tool_call>')


def setup(tmp_path: Path, fake_script) -> tuple[Path, str]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "geo.py").write_text("PI = 3.14\n")
    return root, fake_script([EDIT, "Done."])


# the edit uses math.pi; the import it lacks comes with it (qwill.agent.imports)
MATH_PI = "import math\n\nPI = math.pi\n"


def run_cli(root: Path, spec: str, *extra: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(root.parent / "cache"))
    return subprocess.run([sys.executable, "-m", "qwill", "agent", "use math.pi", "--model", spec,
                           "--root", str(root), *extra], capture_output=True, text=True, stdin=stdin,
                          timeout=120, env=env)


def test_without_a_tty_and_without_yes_nothing_is_written(tmp_path: Path, fake_script) -> None:
    root, spec = setup(tmp_path, fake_script)
    r = run_cli(root, spec, "--json")
    assert (root / "geo.py").read_text() == "PI = 3.14\n"
    result = json.loads(r.stdout)
    assert result["rejected"] == 1 and result["applied"] == 0 and result["reason"] == "done"
    assert "-PI = 3.14" in r.stderr and "+PI = math.pi" in r.stderr  # the diff was shown
    assert "--yes" in r.stderr


def test_yes_applies_and_reports(tmp_path: Path, fake_script) -> None:
    root, spec = setup(tmp_path, fake_script)
    r = run_cli(root, spec, "--yes")
    assert r.returncode == 0, r.stderr
    assert (root / "geo.py").read_text() == MATH_PI
    assert "Done." in r.stdout and "1 change sets applied" in r.stderr


def test_interactive_approval_on_a_terminal(tmp_path: Path, fake_script) -> None:
    root, spec = setup(tmp_path, fake_script)
    leader, follower = pty.openpty()
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "qwill", "agent", "use math.pi", "--model", spec,
                             "--root", str(root)], stdin=follower, stdout=subprocess.PIPE,
                            stderr=follower, text=True, env=env)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while b"Apply these changes?" not in seen and time.monotonic() < deadline:
        seen += os.read(leader, 4096)
    assert b"+PI = math.pi" in seen
    os.write(leader, b"y\n")
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    assert (root / "geo.py").read_text() == MATH_PI and "Done." in out


def test_missing_workspace_is_a_clear_error(tmp_path: Path, fake_script) -> None:
    r = run_cli(tmp_path / "nope", fake_script(["x"]))
    assert r.returncode != 0 and "not a directory" in r.stderr


def call(name: str, **args) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def test_yes_approves_commands_the_policy_asks_about_but_never_denied_ones(tmp_path: Path, fake_script) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    spec = fake_script([call("run_command", command="python3 -c 'print(6 * 7)'"),
                        call("run_command", command="curl http://example.com"), "Done."])
    r = run_cli(root, spec, "--yes", "--json")
    result = json.loads(r.stdout)
    assert result["reason"] == "done" and result["mode"] == "yolo", r.stderr
    assert "42" in r.stderr  # the asked-about command ran without a terminal
    assert "command refused" in r.stderr  # curl stays denied


def test_without_yes_a_command_that_asks_is_declined_without_a_tty(tmp_path: Path, fake_script) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    spec = fake_script([call("run_command", command="python3 -c 'print(6 * 7)'"), "Done."])
    r = run_cli(root, spec, "--json")
    assert "declined" in r.stderr and "42\n" not in r.stderr


def test_finish_runs_the_projects_tests_and_ends_when_they_pass(tmp_path: Path, fake_script) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\n")
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    spec = fake_script([call("finish", summary="nothing to do"),  # refused: the tests fail
                        call("edit_file", path="calc.py", old_text="a - b", new_text="a + b"),
                        call("finish", summary="add adds")])
    r = run_cli(root, spec, "--yes", "--json")
    result = json.loads(r.stdout)
    assert result["reason"] == "done" and result["steps"] == 3, r.stderr
    assert result["checks_passed"] is True and "passed" in result["checks"]
    assert "not finished" in r.stderr  # the first finish was sent back with the failure
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_plan_mode_without_a_tty_proposes_and_changes_nothing(tmp_path: Path, fake_script) -> None:
    root, _ = setup(tmp_path, fake_script)
    spec = fake_script([call("read_file", path="geo.py"),
                        call("edit_file", path="geo.py", old_text="3.14", new_text="math.pi"),
                        call("finish", summary="1. replace 3.14 with math.pi in geo.py")])
    r = run_cli(root, spec, "--mode", "plan", "--json")
    result = json.loads(r.stdout)
    assert r.returncode == 0 and result["reason"] == "plan", r.stderr
    assert result["message"] == "1. replace 3.14 with math.pi in geo.py"
    assert "plan mode is read-only" in r.stderr
    assert (root / "geo.py").read_text() == "PI = 3.14\n"


def test_plan_with_yes_is_carried_out(tmp_path: Path, fake_script) -> None:
    root, _ = setup(tmp_path, fake_script)
    spec = fake_script([call("finish", summary="replace 3.14"), EDIT, call("finish", summary="done")])
    r = run_cli(root, spec, "--mode", "plan", "--yes", "--json")
    result = json.loads(r.stdout)
    assert result["reason"] == "done" and result["mode"] == "yolo", r.stderr
    assert (root / "geo.py").read_text() == MATH_PI


def test_plain_progress_without_a_tty(tmp_path: Path, fake_script) -> None:
    root, spec = setup(tmp_path, fake_script)
    r = run_cli(root, spec, "--yes")
    assert "== step 1" in r.stderr and "-> edit_file" in r.stderr and "[tokens] prompt" in r.stderr
    assert "\x1b[" not in r.stderr  # no terminal codes in a log


def test_rich_progress_on_a_terminal(tmp_path: Path, fake_script) -> None:
    root, spec = setup(tmp_path, fake_script)
    leader, follower = pty.openpty()
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="100")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "qwill", "agent", "use math.pi", "--model", spec,
                             "--root", str(root), "--yes"], stdin=follower, stdout=subprocess.PIPE,
                            stderr=follower, text=True, env=env)
    os.close(follower)
    seen = b""
    while proc.poll() is None or not seen.endswith(b""):
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.communicate(timeout=60)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert "→ edit_file" in text and "step 1" in text and "\x1b[" in text
    assert "+PI = math.pi" in text

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
    assert (root / "geo.py").read_text() == "PI = math.pi\n"
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
    assert (root / "geo.py").read_text() == "PI = math.pi\n" and "Done." in out


def test_missing_workspace_is_a_clear_error(tmp_path: Path, fake_script) -> None:
    r = run_cli(tmp_path / "nope", fake_script(["x"]))
    assert r.returncode != 0 and "not a directory" in r.stderr

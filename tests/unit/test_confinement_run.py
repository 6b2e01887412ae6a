"""Allowed command lines, run for real: what ALLOW promises holds on disk.

A sample of the lines the policy allows (the ordinary ones a model writes, and
Hypothesis' combinations of them) runs through `run_command` in a real git
repository, under every sandbox that works here and under none, traced by strace.
After each: no file outside the workspace (a sibling directory, the home
directory) changed, nothing in `.git` changed, no existing workspace file changed
(ALLOW only ever creates new files), and no network socket (AF_INET, AF_INET6,
AF_PACKET) was opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwill.agent import sandbox
from qwill.agent.shell import ShellPolicy, Verdict, run_command

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="needs strace (the test set-up installs it)")

LINES = ["ls -la", "ls src", "cat a.py", "head -n 2 a.py", "tail -1 a.py", "wc -l a.py src/*.py",
         "grep -rn def src | head -20", "grep -n 'def ' a.py", "find . -name '*.py'", "find src -type f",
         "git status", "git status --short", "git diff", "git diff --stat HEAD", "git log --oneline -5",
         "git log -p -1 -- a.py", "git show HEAD:a.py", "git blame -L 1,2 a.py", "git ls-files",
         "git grep -n def", "git rev-parse --show-toplevel", "git branch --show-current", "sed -n '1,2p' a.py",
         "sed 's/def/fn/g' a.py", "sort a.py | uniq -c", "cut -d'(' -f1 a.py", "diff -u a.py src/b.py || true",
         "echo done", "printf '%s\\n' x", "pwd", "true", "echo ok > logs/new.txt", "cat a.py > /dev/null",
         "ls 2>&1 | head", "cd src && ls", "[ -f a.py ] && cat a.py", "stat a.py", "du -sh src", "env | wc -l",
         "command -v git", "timeout 30 cat a.py", "nice -n 5 ls", "pytest -q -p no:cacheprovider tests",
         "python3 -m pytest -q -p no:cacheprovider tests", "make test"]
PIECES = ["ls", "cat a.py", "git status --short", "grep -c def a.py", "echo x", "wc -l src/b.py",
          "sed -n 1p a.py", "git log --oneline -1", "sort a.py", "head -1 a.py", "find src -name '*.py'"]
SOCKET = re.compile(r"socket\((AF_INET|AF_INET6|AF_PACKET|PF_INET|PF_INET6)")


def _kinds() -> list[sandbox.SandboxKind]:
    return [k for k in sandbox.SandboxKind
            if k is sandbox.SandboxKind.NONE or sandbox.available(Path("/tmp"), k.value) is k]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("run")
    root = base / "ws"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "logs").mkdir()
    (root / "a.py").write_text("def f():\n    return 1\n")
    (root / "src" / "b.py").write_text("def g():\n    return 2\n")
    (root / "tests" / "test_a.py").write_text("def test_a():\n    assert 1 + 1 == 2\n")
    (root / "Makefile").write_text("test:\n\t@echo tests pass\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=root, check=True)
    (base / "outside").mkdir()
    (base / "outside" / "notes.txt").write_text("mine\n")
    (base / "home" / ".ssh").mkdir(parents=True)
    (base / "home" / ".ssh" / "id_rsa").write_text("KEY\n")
    return root


def _digest(top: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                out[str(p.relative_to(top))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _check_line(line: str, repo: Path, kind: sandbox.SandboxKind, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWILL_SANDBOX", kind.value)
    monkeypatch.setenv("HOME", str(repo.parent / "home"))
    decision = ShellPolicy().check(line, repo, sandboxed=kind is not sandbox.SandboxKind.NONE)
    if decision.verdict is not Verdict.ALLOW:
        assert kind is sandbox.SandboxKind.NONE, (line, decision)  # only a missing sandbox makes it ask
        return
    outside = _digest(repo.parent, skip=("ws",))
    git = _digest(repo / ".git")
    caches = ("__pycache__", ".pytest_cache", ".git", "logs")
    mine = _digest(repo, skip=caches)
    log = repo / "logs" / "strace.log"
    traced = f"{STRACE} -f -qq -e trace=socket -o {log} bash --norc --noprofile -c {shlex.quote(line)}"
    result = run_command(traced, repo, timeout=60)
    assert not result.timed_out, (line, result.output)
    assert _digest(repo.parent, skip=("ws",)) == outside, line
    assert _digest(repo / ".git") == git, line
    after = _digest(repo, skip=caches)
    assert {k: v for k, v in after.items() if k in mine} == mine, line  # existing files unchanged
    assert log.exists(), (line, result.output)  # strace ran the line
    text = log.read_text()
    log.unlink()
    assert not SOCKET.search(text), (line, text[:500])
    for p in (repo / "logs").iterdir():
        p.unlink()


@pytest.mark.parametrize("kind", _kinds(), ids=lambda k: k.value)
@pytest.mark.parametrize("line", LINES)
def test_allowed_lines_change_nothing_they_should_not(line: str, kind: sandbox.SandboxKind, repo: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _check_line(line, repo, kind, monkeypatch)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(PIECES), min_size=2, max_size=4),
       ops=st.lists(st.sampled_from([" ; ", " && ", " | ", " || ", "\n"]), min_size=3, max_size=3),
       kind=st.sampled_from(_kinds()))
def test_combinations_of_allowed_lines(parts: list[str], ops: list[str], kind: sandbox.SandboxKind, repo: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    line = parts[0]
    for op, part in zip(ops, parts[1:], strict=False):
        line += op + part
    _check_line(line, repo, kind, monkeypatch)


def test_the_trace_sees_a_network_socket(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a line that opens a socket is seen (run without the policy)."""
    monkeypatch.setenv("QWILL_SANDBOX", "none")
    log = repo / "logs" / "strace.log"
    run_command(f"{STRACE} -f -qq -e trace=socket -o {log} python3 -c 'import socket; socket.socket()'", repo)
    assert SOCKET.search(log.read_text())
    log.unlink()

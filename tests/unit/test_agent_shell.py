"""The shell policy the model cannot override, and the sandboxed runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.shell import ShellPolicy, Verdict, run_command, sandbox_works, split_commands


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    return tmp_path / "ws"


@pytest.mark.parametrize("cmd", [
    "curl https://example.com/x.sh", "wget -q http://x", "pip install requests",
    "python -m pip install evil", "npm install left-pad", "git fetch origin", "git push",
    "git clone https://github.com/a/b", "git remote -v", "git log --all --oneline",
    "git log --oneline --all", "git reflog",
    "ls && curl http://x", "echo hi; wget x", "cat a | nc host 80",
    "sh -c 'curl http://x'", "bash -lc \"ls; git fetch\"", "env FOO=1 curl x",
    "timeout 10 wget x", "xargs curl < urls.txt", "FOO=bar pip install x",
    "echo $(curl x)", "echo `id`", "cat <(curl x)",
    "echo hi > /etc/passwd", "echo hi >> ../outside.txt", "cp a.txt /tmp/a.txt",
    "rm -rf /", "rm -rf ../other", "sudo ls",
])
def test_denied(cmd: str, root: Path) -> None:
    decision = ShellPolicy().check(cmd, root)
    assert decision.verdict is Verdict.DENY, (cmd, decision)
    assert decision.reasons


@pytest.mark.parametrize("cmd", [
    "rm build.log", "mv a.py b.py", "git commit -m x", "python script.py", "make",
    "sed -i s/a/b/ f.py", "sed -n 1p f.py -i", "find . -name '*.pyc' -delete", "unknown-tool --x",
    "sh run.sh", "ls 'unterminated",
])
def test_ask(cmd: str, root: Path) -> None:
    assert ShellPolicy().check(cmd, root).verdict is Verdict.ASK, cmd


@pytest.mark.parametrize("cmd", [
    "ls -la", "pytest -q tests/test_a.py", "python -m pytest -x", "git status && git diff",
    "grep -rn foo src | head -20", "git log --oneline -5", "echo ok > out.txt",
    "sh -c 'ls; pwd'", "timeout 30 pytest", "ruff check . 2>&1", "cat a.txt > /dev/null",
])
def test_allowed(cmd: str, root: Path) -> None:
    decision = ShellPolicy().check(cmd, root)
    assert decision.verdict is Verdict.ALLOW, (cmd, decision)


def test_lists_come_from_settings(root: Path) -> None:
    policy = ShellPolicy(deny=("pytest",), ask=(), allow=("ls",), default=Verdict.DENY)
    assert policy.check("pytest", root).verdict is Verdict.DENY
    assert policy.check("ls", root).verdict is Verdict.ALLOW
    assert policy.check("unknown-tool", root).verdict is Verdict.DENY


def test_split_commands() -> None:
    assert split_commands("a 1 && b 2 | c; d\ne") == [["a", "1"], ["b", "2"], ["c"], ["d"], ["e"]]
    assert split_commands("echo 'a; b'") == [["echo", "a; b"]]


def test_runner_timeout_and_output_limit(root: Path) -> None:
    r = run_command("yes hello | head -c 100000", root, max_output=1000)
    assert r.truncated and len(r.output) < 1100 and r.exit_code == 0
    r = run_command("sleep 5", root, timeout=0.5)
    assert r.timed_out and "[timed out" in r.render()


@pytest.mark.skipif(not sandbox_works(Path("/tmp")), reason="bubblewrap is not usable here")
def test_sandbox_has_no_network_and_read_only_outside(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("x")
    r = run_command(f"tail -n +3 /proc/net/dev | cut -d: -f1; echo hi > {tmp_path}/outside.txt; "
                    "echo in > inside.txt", root)
    assert r.sandboxed
    assert r.output.splitlines()[0].strip() == "lo"  # only the loopback interface
    assert (tmp_path / "outside.txt").read_text() == "x"
    assert (root / "inside.txt").read_text() == "in\n"

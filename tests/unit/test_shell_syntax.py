"""The parser reads a line as bash does: checked against bash itself.

bash is the oracle: a line runs inside bubblewrap (nothing writable but a private
tmpfs, no network) with every builtin disabled and no PATH, so each simple command
it would run ends in `command_not_found_handle`, which prints the command's words.
Whenever the parser says it fully understood a line (no finding, every word known),
its simple commands must be exactly bash's. Lines come from Hypothesis over the
shell's tricky spots: quotes, backslashes at word and line starts, comments inside
and after words, line continuations, ANSI-C strings, operators, expansions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qwill.agent.shell import sandbox_works
from qwill.agent.shell_syntax import bash_path, parse_line

ORACLE = r"""
exec 9>&1
command_not_found_handle() { /usr/bin/printf '%s\037' "$@" $'\036' >&9; }
enable -n $(compgen -b | /usr/bin/grep -v -x -e enable -e compgen -e wait)
enable -n compgen
enable -n enable
"""
ENV = {"HOME": "/nonexistent", "PATH": "/nonexistent", "Q": "x y", "E": ""}
needs_oracle = pytest.mark.skipif(not (bash_path() and sandbox_works(Path("/tmp"))),
                                  reason="needs bash and bubblewrap (the test set-up installs bubblewrap)")


def bash_commands(line: str) -> list[list[str]]:
    env = []
    for k, v in ENV.items():
        env += ["--setenv", k, v]
    r = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--tmpfs", "/root", "--tmpfs", "/home",
                        "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent",
                        "--chdir", "/tmp", "--clearenv", *env, bash_path() or "/bin/bash", "--norc", "--noprofile",
                        "-c", ORACLE + "\n" + line + "\nwait"], capture_output=True, timeout=20)
    out = r.stdout.decode("utf-8", "surrogateescape")
    return sorted(_untimed(rec.split("\x1f")[:-1]) for rec in out.split("\x1e\x1f")[:-1])


def _untimed(words: list[str]) -> list[str]:
    """`time CMD` runs CMD (bash's reserved word at a pipeline's start, /usr/bin/time elsewhere)."""
    if words[:1] == ["time"] and words[1:] not in ([], ["-p"]):
        return words[2:] if words[1:2] == ["-p"] else words[1:]
    return words


def our_commands(line: str) -> list[list[str]] | None:
    """The parser's simple commands, or None when it did not fully understand the line."""
    parsed = parse_line(line, ENV)
    if parsed.findings:
        return None
    out = []
    for c in parsed.commands:
        words = c.argv()
        if c.assignments or c.redirects or c.declaration or not words:
            return None
        if any(w.value is None or w.glob or w.brace for w in words):
            return None
        out.append(_untimed([w.value or "" for w in words]))
    # bash calls command_not_found_handle only for names it looks up on PATH
    return sorted(x for x in out if x and "/" not in x[0])


PIECES = ["a", "b", "cu", "rl", "x y", "'q r'", '"d e"', "\\c", "\\ ", "\\#", "#", "a#b", " #c", "$HOME",
          '"$Q"', "$Q", "$E", "${HOME}", "$'\\x41'", "$'a\\nb'", "\\'", '\\"', "''", '""', ";", " ; ", "\n",
          "\n\\", "\\\n", " \\\n", "&&", " | ", " & ", "\t", " ", " ", " ", "~", "-n", "=", "a=b", "!",
          "{", "}", " { ", " } ", "then", " then ", "\r", "\x01", "time ", "=~", "*", "\\\\", ";done"]


@needs_oracle
@settings(max_examples=250, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12))
@example(pieces=["~", "=~"])  # bash: $HOME=~
def test_the_parser_reads_a_line_as_bash_does(pieces: list[str]) -> None:
    line = "w " + "".join(pieces)
    ours = our_commands(line)
    if ours is None:
        return  # not fully understood: the policy asks
    assert ours == bash_commands(line), line


@needs_oracle
@pytest.mark.parametrize("line", [
    "ls\n\\curl x", "echo a#b; curl x", "ls # x\ncurl y", "cu\\\nrl x", "ls a\\\n b", "echo $'\\x63url'",
    "ls &&\n\\curl", "a\n\n\\b c", "x\t#y\nz", "echo \"a\\\nb\"", "ls\\ x y",
])
def test_known_differentials(line: str) -> None:
    ours = our_commands(line)
    assert ours is None or ours == bash_commands(line), line


def test_words_are_expanded_as_bash_would() -> None:
    env = {"HOME": "/home/u", "X": "a b", "G": "*.py"}
    parsed = parse_line("cat ~/f $HOME/g \"$X\" ${HOME} '$HOME' $'\\x2f' a\\ b $G", env)
    words = parsed.commands[0].words
    assert [w.value for w in words] == ["cat", "/home/u/f", "/home/u/g", "a b", "/home/u", "$HOME", "/", "a b",
                                        "*.py"]
    assert words[-1].glob
    assert parse_line("cat $X", env).commands[0].words[1].value is None  # splits into two words
    assert parse_line("X=1; cat $X", env).commands[1].words[1].value is None  # the line sets it
    assert parse_line("cat $1 ${X:-y} $RANDOM", env).commands[0].words[1].value is None
    assert all(w.value is None for w in parse_line("cat $1 ${X:-y} $RANDOM", env).commands[0].words[1:])


def test_substitutions_and_unknown_constructs() -> None:
    for line in ["echo $(id)", "echo `id`", "cat <(ls)", "cat <<EOF\n$(id)\nEOF", "x=$(id)", "[[ $(id) ]]",
                 "for i in $(id); do :; done", "case $(id) in *) ;; esac"]:
        assert any(f.verdict.value == "deny" for f in parse_line(line, {}).findings), line
    for line in ["f() { ls; }", "(( x = 1 ))", "ls 'unterminated", "a[0]=1", "w\n\\"]:
        assert any(f.verdict.value == "ask" for f in parse_line(line, {}).findings), line
    assert parse_line("cat <<'EOF'\n$(id)\nEOF", {}).findings == []
    assert parse_line("ls\x00; curl x", {}).findings[0].verdict.value == "deny"

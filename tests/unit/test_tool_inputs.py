"""Hostile tool arguments are errors the model can read, never crashes.

Every tool gets arguments Hypothesis writes in the shapes a model's output can take
after JSON decoding: NUL bytes, lone surrogates, control characters, huge and
negative numbers, empty strings, very long strings. Each call either returns text
or raises ToolError; the workspace outside what the staging holds is unchanged.
Regular-expression tools are bounded in time and do not block the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwill.agent import tools as tools_mod
from qwill.agent.shell import ShellPolicy, Verdict
from qwill.agent.terminal import escape_controls
from qwill.agent.tools import TOOLS, ToolContext, ToolError, call_tool
from qwill.agent.workspace import Staging, Workspace
from qwill.context.document import DocumentStore

NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "\udcff", "\ud800x", "../../etc/passwd", "/etc/passwd", "~",
                     "file:///etc/passwd", "a" * 5000, "\x1b[2J", "(a+)+$", "[", "*", ".git/config", "\r\n",
                     "\u202e", "NUL\x00.py"]),
)
VALUES = st.one_of(NASTY, st.integers(min_value=-(2**70), max_value=2**70), st.none(), st.booleans(),
                   st.lists(NASTY, max_size=3), st.floats(allow_nan=True))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("def f():\n    return 1\n")
    (root / "README.md").write_text("hello\n")
    return Workspace(root, DocumentStore())


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tool=st.sampled_from([t for t in TOOLS if t.name not in ("run_command", "run_tests")]),
       data=st.data())
def test_any_arguments_give_text_or_a_tool_error(ws: Workspace, tool: Any, data: st.DataObject) -> None:
    props = tool.parameters.get("properties", {})
    args = {k: data.draw(VALUES) for k in props if data.draw(st.booleans())}
    before = _tree(ws.root)
    ctx = ToolContext(ws, Staging(ws))
    try:
        out = asyncio.run(call_tool(ctx, tool.name, args))
        assert isinstance(out, str)
    except ToolError as exc:
        assert str(exc)
    assert _tree(ws.root) == before  # tools stage; nothing is written unreviewed


@pytest.mark.parametrize("command", ["ls\x00; rm -rf /", "\x00", "echo \ud800", "a" * 30_000, "", "   "])
async def test_bad_command_lines_are_tool_errors(ws: Workspace, command: str) -> None:
    ctx = ToolContext(ws, Staging(ws))
    with pytest.raises(ToolError):
        await call_tool(ctx, "run_command", {"command": command})


async def test_a_catastrophic_pattern_is_stopped_and_the_loop_keeps_running(ws: Workspace,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (ws.root / "big.txt").write_text(("a" * 40 + "b\n") * 50)
    monkeypatch.setattr(tools_mod, "GREP_SECONDS", 0.5)
    ctx = ToolContext(ws, Staging(ws))
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.ensure_future(ticker())
    out = await call_tool(ctx, "grep", {"pattern": "(a|aa)+$"})
    done = True
    await t
    assert "takes too long" in out
    assert ticks > 1  # the event loop ran while the pattern was matched


async def test_grep_still_finds_things(ws: Workspace) -> None:
    ctx = ToolContext(ws, Staging(ws))
    assert "src/a.py:1" in await call_tool(ctx, "grep", {"pattern": r"def \w+\("})
    assert "src/a.py:1" in await call_tool(ctx, "grep", {"pattern": "def f("})  # not a valid regex: literal


async def test_an_allowed_write_makes_the_next_test_run_ask(ws: Workspace) -> None:
    asked: list[str] = []

    async def approve(command: str, why: str) -> bool:
        asked.append(why)
        return False

    ctx = ToolContext(ws, Staging(ws), approve_command=approve, test_command="echo TESTS")
    if not ctx.sandbox or ShellPolicy().check("echo x > new.py", ws.root).verdict is not Verdict.ALLOW:
        pytest.skip("needs a sandbox (allowed writes)")
    await call_tool(ctx, "run_command", {"command": "echo 'import os' > conftest.py"})
    assert ctx.unreviewed == {"conftest.py"}
    with pytest.raises(ToolError, match="declined"):
        await call_tool(ctx, "run_tests", {})
    assert "conftest.py" in asked[-1]
    with pytest.raises(ToolError, match="declined"):
        await call_tool(ctx, "run_command", {"command": "pytest -q"})
    assert "conftest.py" in asked[-1]


def test_the_terminal_shows_control_characters_escaped() -> None:
    assert escape_controls("rm -rf ~\r# ok") == "rm -rf ~\\x0d# ok"
    assert escape_controls("a\x1b[2Kb") == "a\\x1b[2Kb"
    assert escape_controls("x\u202ey") == "x\\u202ey"
    assert escape_controls("line\r\nnext\tcol") == "line\r\nnext\tcol"
    assert escape_controls("\x9b31m") == "\\x9b31m"


def test_file_tool_changes_to_settings_are_always_confirmed() -> None:
    from qwill.agent.changes import ChangeKind, ChangeSet, FileChange

    cs = ChangeSet(1, [FileChange(ChangeKind.CREATE, ".vscode/settings.json", None, "{}"),
                       FileChange(ChangeKind.MODIFY, "src/a.py", "a", "b"),
                       FileChange(ChangeKind.CREATE, "sub/.envrc", None, "x")])
    assert cs.flagged == [".vscode/settings.json", "sub/.envrc"]

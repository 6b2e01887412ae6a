"""MCP tools for the agent against real servers: mcp-server-time and mcp-server-git from
PyPI, and one written with the SDK (tests/mcp_server.py) over stdio and streamable HTTP.
A crashing or hanging server is reported and costs only its own tools; every call passes
the approval of the session's mode."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwill.agent.mcp_tools import McpHub, allowed, parse_servers
from qwill.agent.modes import ApprovalMode
from qwill.agent.tools import ToolContext, ToolError, call_tool
from qwill.agent.workspace import Staging, Workspace

FIXTURE = str(Path(__file__).parents[1] / "mcp_server.py")


def ctx_for(root: Path, mode: ApprovalMode = ApprovalMode.ASK, approve=None, tools=None) -> ToolContext:
    ws = Workspace(root)
    return ToolContext(ws, Staging(ws), mode=mode, approve_command=approve,
                       extra_tools={t.name: t for t in tools or []})


def fixture(notes: Path) -> dict:
    return {"command": sys.executable, "args": [FIXTURE, "stdio"],
            "env": {"NOTES_FILE": str(notes), "MCP_FIXTURE_SECRET": "given"}}


async def test_real_servers_from_pypi_and_a_written_one(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "a.txt").write_text("hello\n")
    configs, problems = parse_servers({
        "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "git": {"command": sys.executable, "args": ["-m", "mcp_server_git", "--repository", str(repo)]},
        "fx": fixture(tmp_path / "notes.txt"),
    })
    assert problems == []
    hub = McpHub(configs, allow=["time", "git", "fx"], cwd=repo)
    try:
        assert await hub.start() == []
        tools = {t.name: t for t in hub.tools()}
        assert {"time__get_current_time", "time__convert_time", "git__git_status", "fx__add"} <= set(tools)
        # the tool's own schema, as the server declares it
        assert "timezone" in tools["time__get_current_time"].parameters["properties"]
        assert tools["fx__add"].read_only and not tools["fx__note"].read_only
        ctx = ctx_for(repo, tools=list(tools.values()))
        now = json.loads(await call_tool(ctx, "time__get_current_time", {"timezone": "Europe/Paris"}))
        assert now["timezone"] == "Europe/Paris"
        status = await call_tool(ctx, "git__git_status", {"repo_path": str(repo)})
        assert "a.txt" in status
        assert await call_tool(ctx, "fx__add", {"a": 2, "b": 40}) == "42"
        # the server's environment is the SDK's safe default plus what its settings give
        assert await call_tool(ctx, "fx__env", {"name": "MCP_FIXTURE_SECRET"}) == "given"
        with pytest.raises(ToolError, match="failed on purpose"):
            await call_tool(ctx, "fx__fail", {"reason": "x"})
    finally:
        await hub.close()


async def test_a_crash_or_a_hang_is_reported_and_confined(tmp_path: Path) -> None:
    configs, _ = parse_servers({
        "fx": fixture(tmp_path / "notes.txt"),
        "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
    })
    problems: list[str] = []
    hub = McpHub(configs, allow=["fx", "time"], call_timeout=3, on_problem=problems.append)
    try:
        await hub.start()
        ctx = ctx_for(tmp_path, tools=hub.tools())
        t0 = time.monotonic()
        with pytest.raises(ToolError, match="did not answer hang within 3 s"):
            await call_tool(ctx, "fx__hang", {})
        assert time.monotonic() - t0 < 20
        assert await call_tool(ctx, "fx__add", {"a": 1, "b": 1}) == "2"  # still usable after a slow call
        with pytest.raises(ToolError, match="stopped"):
            await call_tool(ctx, "fx__crash", {})
        with pytest.raises(ToolError, match="fx"):
            await call_tool(ctx, "fx__add", {"a": 1, "b": 1})
        assert any("crashing now" in p for p in problems)  # the server's last words are reported
        # the other server is untouched
        assert "UTC" in await call_tool(ctx, "time__get_current_time", {"timezone": "UTC"})
    finally:
        await hub.close()


async def test_a_server_that_cannot_start_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    configs, problems = parse_servers({
        "missing": {"command": str(tmp_path / "no-such-program")},
        "silent": {"command": sys.executable, "args": ["-c", "import time; time.sleep(60)"]},
        "both": {"command": "x", "url": "http://127.0.0.1:1/mcp"},
        "ftp": {"url": "ftp://example.com"},
    })
    assert len(problems) == 2 and "either" in problems[0] and "http" in problems[1]
    hub = McpHub(configs, start_timeout=3)
    t0 = time.monotonic()
    found = await hub.start()
    assert time.monotonic() - t0 < 20
    assert any("missing" in p and "could not start" in p for p in found)
    assert any("silent" in p and "did not answer within 3 s" in p for p in found)
    assert hub.tools() == []
    await hub.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streamable_http_server_with_headers(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, FIXTURE, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        configs, _ = parse_servers({"web": {"url": f"http://127.0.0.1:{port}/mcp",
                                            "headers": {"Authorization": "Bearer t"}}})
        hub = McpHub(configs, allow=["web/add"])
        try:
            assert await hub.start() == []
            ctx = ctx_for(tmp_path, tools=hub.tools())
            assert await call_tool(ctx, "web__add", {"a": 20, "b": 22}) == "42"
        finally:
            await hub.close()
    finally:
        proc.kill()
        proc.wait()


async def test_approval_follows_the_mode_and_the_users_allow_list(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    configs, _ = parse_servers({"fx": fixture(notes)})
    hub = McpHub(configs, allow=["fx/add"])
    asked: list[str] = []

    async def no(what: str, why: str) -> bool:
        asked.append(what)
        return False

    try:
        await hub.start()
        tools = hub.tools()
        # allowed by the user's settings: not asked
        assert await call_tool(ctx_for(tmp_path, approve=no, tools=tools), "fx__add", {"a": 1, "b": 2}) == "3"
        # ask (default): asked, declined, not run
        with pytest.raises(ToolError, match="declined"):
            await call_tool(ctx_for(tmp_path, approve=no, tools=tools), "fx__note", {"text": "x"})
        assert asked == ['fx: note {"text": "x"}'] and not notes.exists()
        # nobody to ask: refused
        with pytest.raises(ToolError, match="nobody can give it"):
            await call_tool(ctx_for(tmp_path, tools=tools), "fx__note", {"text": "x"})
        # plan: only tools the server marks read-only
        with pytest.raises(ToolError, match="plan mode is read-only"):
            await call_tool(ctx_for(tmp_path, ApprovalMode.PLAN, approve=no, tools=tools), "fx__note", {"text": "x"})
        assert await call_tool(ctx_for(tmp_path, ApprovalMode.PLAN, tools=tools), "fx__add", {"a": 1, "b": 1}) == "2"
        # yolo: what would be asked runs
        out = await call_tool(ctx_for(tmp_path, ApprovalMode.YOLO, tools=tools), "fx__note", {"text": "yes"})
        assert out == "noted: yes" and notes.read_text() == "yes\n"
    finally:
        await hub.close()


def test_allow_patterns() -> None:
    assert allowed(["git"], "git", "git_status")
    assert allowed(["git/git_status"], "git", "git_status")
    assert not allowed(["git/git_status"], "git", "git_commit")
    assert not allowed(["gi", "git/*"], "git", "git_commit")  # no wildcards: an allow names what it allows

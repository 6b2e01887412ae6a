"""`qwill acp` driven by the agent-client-protocol package's own client side."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import acp
import pytest
from acp import schema as s

MCP_SERVER = str(Path(__file__).parents[1] / "mcp_server.py")


def call(name: str, **args: Any) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


class EditorClient:
    """An ACP client with unsaved buffers, a permission prompt and a log of updates."""

    def __init__(self, *, allow: str = "allow", buffers: dict[str, str] | None = None) -> None:
        self.allow = allow
        self.buffers = dict(buffers or {})
        self.updates: list[Any] = []
        self.permissions: list[s.ToolCallUpdate] = []
        self.writes: list[tuple[str, str]] = []
        self.reads: list[str] = []

    async def request_permission(self, session_id: str, tool_call: s.ToolCallUpdate, options: list, **kw: Any):
        self.permissions.append(tool_call)
        if self.allow == "cancel":
            return s.RequestPermissionResponse(outcome=s.DeniedOutcome(outcome="cancelled"))
        return s.RequestPermissionResponse(outcome=s.AllowedOutcome(option_id=self.allow, outcome="selected"))

    async def session_update(self, session_id: str, update: Any, **kw: Any) -> None:
        self.updates.append(update)

    async def read_text_file(self, session_id: str, path: str, line=None, limit=None, **kw: Any):
        self.reads.append(path)
        if path in self.buffers:
            return s.ReadTextFileResponse(content=self.buffers[path])
        return s.ReadTextFileResponse(content=Path(path).read_text())

    async def write_text_file(self, session_id: str, path: str, content: str, **kw: Any):
        self.writes.append((path, content))
        self.buffers[path] = content  # the editor's buffer; saving is the user's call
        return s.WriteTextFileResponse()

    async def create_terminal(self, *a: Any, **kw: Any):
        raise acp.RequestError.method_not_found("terminal/create")

    async def ext_method(self, method: str, params: dict) -> dict:
        return {}

    async def ext_notification(self, method: str, params: dict) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        pass

    def text(self) -> str:
        return "".join(u.content.text for u in self.updates if getattr(u, "session_update", "") == "agent_message_chunk")


async def drive(client: EditorClient, spec: str, cwd: Path, prompt: str, *, fs: bool = True,
                cancel_after: float | None = None, mcp_servers: list | None = None, mode: str | None = None,
                seen: dict | None = None):
    env = dict(os.environ, XDG_CACHE_HOME=str(cwd.parent / "cache"))
    async with acp.spawn_agent_process(lambda agent: client, sys.executable, "-m", "qwill", "acp",
                                       "--model", spec, env=env) as (conn, _proc):
        init = await asyncio.wait_for(conn.initialize(
            protocol_version=acp.PROTOCOL_VERSION,
            client_capabilities=s.ClientCapabilities(fs=s.FileSystemCapabilities(
                read_text_file=fs, write_text_file=fs)),
            client_info=s.Implementation(name="pytest", version="0")), 30)
        assert init.agent_info.name == "qwill"
        session = await conn.new_session(cwd=str(cwd), mcp_servers=mcp_servers or [])
        if seen is not None:
            seen["init"], seen["session"] = init, session
        if mode is not None:
            await conn.set_session_mode(mode_id=mode, session_id=session.session_id)
        run = asyncio.ensure_future(conn.prompt(session_id=session.session_id,
                                                prompt=[acp.text_block(prompt)]))
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            await conn.cancel(session_id=session.session_id)
        resp = await asyncio.wait_for(run, 60)
        return resp, session.session_id


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "geo.py").write_text("def area(r):\n    return 3.14 * r * r\n")
    (root / "notes.md").write_text("3.14\n")
    return root


async def test_prompt_edits_unsaved_buffer_through_fs_with_permission(repo: Path, fake_script) -> None:
    geo = str(repo / "geo.py")
    unsaved = "# unsaved\ndef area(r):\n    return 3.14 * r * r\n"
    client = EditorClient(buffers={geo: unsaved})
    script = [call("read_file", path="geo.py"),
              call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2")
              + call("delete_file", path="notes.md"),
              "Done: area uses math.pi."]
    resp, _ = await drive(client, fake_script(script), repo, "use math.pi")
    assert resp.stop_reason == "end_turn"
    assert geo in client.reads
    # the live buffer (not the disk) was edited, through fs/write_text_file
    # the edit's missing import comes with it, after the comment at the top
    assert client.writes == [(geo, "# unsaved\n\nimport math\n\n\ndef area(r):\n    return math.pi * r ** 2\n")]
    assert (repo / "geo.py").read_text() == "def area(r):\n    return 3.14 * r * r\n"
    assert not (repo / "notes.md").exists()  # no fs op for deletes: done on disk after permission
    (perm,) = client.permissions
    assert perm.kind == "edit" and "notes.md" in perm.title
    diffs = [c for c in perm.content if getattr(c, "type", "") == "diff"]
    assert {Path(d.path).name for d in diffs} == {"geo.py", "notes.md"}
    kinds = [getattr(u, "session_update", "") for u in client.updates]
    assert "tool_call" in kinds and "tool_call_update" in kinds and "agent_message_chunk" in kinds
    done = [u for u in client.updates if getattr(u, "session_update", "") == "tool_call_update"]
    assert all(u.status == "completed" for u in done)
    assert "Done: area uses math.pi." in client.text()


async def test_rejected_permission_changes_nothing_and_tells_the_model(repo: Path, fake_script) -> None:
    client = EditorClient(allow="reject")
    script = [call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2"),
              "OK, leaving it."]
    resp, _ = await drive(client, fake_script(script), repo, "use math.pi", fs=False)
    assert resp.stop_reason == "end_turn"
    assert client.writes == [] and "3.14" in (repo / "geo.py").read_text()
    assert "OK, leaving it." in client.text()


async def test_without_fs_capability_edits_go_to_disk(repo: Path, fake_script) -> None:
    client = EditorClient()
    script = [call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2"), "done"]
    await drive(client, fake_script(script), repo, "use math.pi", fs=False)
    assert client.writes == [] and client.reads == []
    assert "math.pi" in (repo / "geo.py").read_text()


async def test_command_needing_approval_asks_permission(repo: Path, fake_script) -> None:
    client = EditorClient(allow="reject")
    script = [call("run_command", command="rm notes.md"), "fine"]
    await drive(client, fake_script(script), repo, "clean", fs=False)
    assert client.permissions[0].kind == "execute" and "rm notes.md" in client.permissions[0].title
    assert (repo / "notes.md").exists()


async def test_cancel_ends_the_turn(repo: Path, fake_script) -> None:
    client = EditorClient()
    spec = fake_script(["thinking " * 300, "never"], delay=0.03)
    resp, _ = await drive(client, spec, repo, "slow", cancel_after=1.0)
    assert resp.stop_reason == "cancelled"


async def test_modes_are_session_modes_and_auto_edit_applies_without_asking(repo: Path, fake_script) -> None:
    client = EditorClient(allow="reject")  # would refuse, if it were asked
    script = [call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2"), "done"]
    seen: dict = {}
    await drive(client, fake_script(script), repo, "use math.pi", fs=False, mode="auto-edit", seen=seen)
    modes = seen["session"].modes
    assert modes.current_mode_id == "ask"
    assert [m.id for m in modes.available_modes] == ["plan", "ask", "auto-edit", "yolo"]
    assert client.permissions == [] and "math.pi" in (repo / "geo.py").read_text()


async def test_plan_mode_asks_to_carry_out_the_plan(repo: Path, fake_script) -> None:
    client = EditorClient(allow="ask")  # "carry out, reviewing each change", then allow the edit
    script = [call("finish", summary="1. use math.pi in geo.py"),
              call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2"),
              call("finish", summary="done")]
    await drive(client, fake_script(script), repo, "use math.pi", fs=False, mode="plan")
    assert client.permissions[0].title == "Carry out this plan?"
    mode_updates = [u for u in client.updates if getattr(u, "session_update", "") == "current_mode_update"]
    assert [u.current_mode_id for u in mode_updates] == ["ask"], [getattr(u, "session_update", "") for u in client.updates]


async def test_mcp_servers_from_session_new_are_the_sessions_tools(repo: Path, fake_script, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    server = s.McpServerStdio(name="fx", command=sys.executable, args=[MCP_SERVER, "stdio"],
                              env=[s.EnvVariable(name="NOTES_FILE", value=str(notes))])
    client = EditorClient(allow="allow")
    script = [call("fx__note", text="hello from the agent"), call("fx__add", a=2, b=3), "done"]
    seen: dict = {}
    await drive(client, fake_script(script), repo, "note it", fs=False, mcp_servers=[server], seen=seen)
    assert seen["init"].agent_capabilities.mcp_capabilities.http is True
    assert notes.read_text() == "hello from the agent\n"
    asked = [p.title for p in client.permissions]
    assert any("fx: note" in t for t in asked) and any("fx: add" in t for t in asked)
    results = [u for u in client.updates if getattr(u, "session_update", "") == "tool_call_update"]
    assert any("5" == (u.raw_output or "").strip() for u in results)

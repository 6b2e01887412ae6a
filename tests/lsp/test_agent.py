"""Agent mode end to end over stdio: the real server, the fake engine, an editor
that applies (or rejects) workspace edits, undo, rewind and cancel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import lsp_session, open_doc


def call(name: str, **args: Any) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def plain(value: Any) -> Any:
    """pygls hands custom notifications over as namedtuples: make them dicts again."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Editor:
    """What an editor does with workspace/applyEdit: buffers for open files, disk for
    the others, version checks, and a user who may say no."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.buffers: dict[str, tuple[int, str]] = {}
        self.accept = True
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.events: list[dict[str, Any]] = []
        self.asked: list[str] = []
        self.run_commands = False
        self.plan_answer = "Don't"

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            self.edits.append(params)
            if not self.accept:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="rejected in review")
            return self._apply(params.edit)

        @client.feature("qwill/agentEvent")
        def on_event(ls: Any, params: Any) -> None:
            self.events.append(plain(params))

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(ls: Any, params: types.ShowMessageRequestParams) -> types.MessageActionItem:
            self.asked.append(params.message)
            titles = [a.title for a in params.actions or []]
            if "Carry out (auto-edit)" in titles:  # a proposed plan
                return types.MessageActionItem(title=self.plan_answer)
            if "Use them" in titles:  # editor settings that widen the policy: the user confirms
                return types.MessageActionItem(title="Use them")
            return types.MessageActionItem(title="Run" if self.run_commands else "Deny")

    def open(self, path: Path) -> None:
        uri = path.as_uri()
        text = path.read_text()
        self.buffers[uri] = (1, text)
        open_doc(self.client, uri, text)

    def _apply(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        for change in edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                uri = change.text_document.uri
                if uri in self.buffers:
                    version, text = self.buffers[uri]
                    if change.text_document.version not in (None, version):
                        return types.ApplyWorkspaceEditResult(applied=False, failure_reason="version mismatch")
        for change in edit.document_changes or []:
            if isinstance(change, types.CreateFile):
                target = Path(change.uri.removeprefix("file://"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("")
            elif isinstance(change, types.DeleteFile):
                Path(change.uri.removeprefix("file://")).unlink()
            elif isinstance(change, types.RenameFile):
                Path(change.old_uri.removeprefix("file://")).rename(change.new_uri.removeprefix("file://"))
            else:
                uri = change.text_document.uri
                path = Path(uri.removeprefix("file://"))
                version, text = self.buffers.get(uri, (0, path.read_text()))
                from qwill.context.document import Position, Range, TextChange, TextDocument

                doc = TextDocument(uri, text)
                doc.apply([TextChange(e.new_text, Range(Position(e.range.start.line, e.range.start.character),
                                                        Position(e.range.end.line, e.range.end.character)))
                           for e in reversed(change.edits)])
                if uri in self.buffers:  # a live buffer: tell the server
                    self.buffers[uri] = (version + 1, doc.text)
                    self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=doc.text)]))
                else:
                    path.write_text(doc.text)
        return types.ApplyWorkspaceEditResult(applied=True)


def make_repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "geo.py").write_text("def area(r):\n    return 3.14 * r * r\n")
    (root / "README.md").write_text("area uses 3.14\n")
    return root


async def run(client: LanguageClient, **arg: Any) -> dict[str, Any]:
    result = await asyncio.wait_for(client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="qwill.agent.run", arguments=[arg])), 60)
    return plain(result)


EDIT = call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2")


async def test_agent_edits_live_buffer_through_apply_edit(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    script = [call("read_file", path="geo.py"),
              EDIT + call("edit_file", path="README.md", old_text="3.14", new_text="math.pi")
              + call("create_file", path="tests/test_geo.py", content="def test_area():\n    pass\n"),
              "Done: area uses math.pi."]
    async with lsp_session(fake_script(script)) as (client, _):
        editor = Editor(client)
        editor.open(root / "geo.py")
        # an unsaved change in the buffer: the agent must see it, not the disk
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=(root / "geo.py").as_uri(), version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(
                text="# unsaved\ndef area(r):\n    return 3.14 * r * r\n")]))
        editor.buffers[(root / "geo.py").as_uri()] = (2, "# unsaved\ndef area(r):\n    return 3.14 * r * r\n")
        result = await run(client, task="use math.pi", root=root.as_uri())
        assert result["status"] == "done", result
        assert result["message"] == "Done: area uses math.pi." and result["applied"] == 1
        # one WorkspaceEdit for the step: versioned buffer edit, disk edit, create
        (params,) = editor.edits
        kinds = [type(c).__name__ for c in params.edit.document_changes]
        assert kinds.count("TextDocumentEdit") == 3 and "CreateFile" in kinds
        geo = next(c for c in params.edit.document_changes if isinstance(c, types.TextDocumentEdit)
                   and c.text_document.uri.endswith("geo.py"))
        assert geo.text_document.version == 2
        anns = params.edit.change_annotations
        assert anns["qwill-agent"].needs_confirmation is True
        assert anns["qwill-agent-tests"].description == "tests/test_geo.py"
        # the edit's missing import comes with it, after the comment at the top
        assert editor.buffers[(root / "geo.py").as_uri()][1] == ("# unsaved\n\nimport math\n\n\n"
                                                              "def area(r):\n    return math.pi * r ** 2\n")
        assert (root / "README.md").read_text() == "area uses math.pi\n"
        assert (root / "tests" / "test_geo.py").exists()
        kinds_seen = [e["kind"] for e in editor.events]
        for kind in ("start", "step", "tool_call", "tool_result", "changes", "applied", "stats", "done"):
            assert kind in kinds_seen, kind
        assert all(e["sessionId"] == result["sessionId"] for e in editor.events)
        # step 4: the finish reviewed once (the test file it wrote does not test geo.py), the
        # next one says nothing and the user is told what the first said
        assert [s["step"] for s in result["stats"]] == [1, 2, 3, 4] and result["reviews"] == 1

        # undo the last step: the buffer, the disk file and the created file come back exactly
        undo = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.agent.undoStep", arguments=[{"sessionId": result["sessionId"]}]))
        assert undo["status"] == "applied" and undo["step"] == 2
        assert editor.buffers[(root / "geo.py").as_uri()][1] == "# unsaved\ndef area(r):\n    return 3.14 * r * r\n"
        assert (root / "README.md").read_text() == "area uses 3.14\n"
        assert not (root / "tests" / "test_geo.py").exists()


async def test_rejected_edit_is_told_to_the_model_and_nothing_changes(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    async with lsp_session(fake_script([EDIT, "Understood; I left it."])) as (client, _):
        editor = Editor(client)
        editor.accept = False
        result = await run(client, task="use math.pi", root=root.as_uri())
        assert result["status"] == "done" and result["rejected"] == 1 and result["applied"] == 0
        assert (root / "geo.py").read_text() == "def area(r):\n    return 3.14 * r * r\n"
        rejected = [e for e in editor.events if e["kind"] == "rejected"]
        assert rejected and "rejected in review" in rejected[0]["reason"]
        results = [e for e in editor.events if e["kind"] == "tool_result"]
        assert results[0]["name"] == "edit_file"


async def test_rewind_to_the_first_step(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    script = [EDIT, call("edit_file", path="README.md", old_text="3.14", new_text="math.pi"), "done"]
    async with lsp_session(fake_script(script)) as (client, _):
        Editor(client)
        result = await run(client, task="use math.pi", root=root.as_uri())
        assert "math.pi" in (root / "geo.py").read_text() and "math.pi" in (root / "README.md").read_text()
        out = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.agent.rewind", arguments=[{"sessionId": result["sessionId"], "step": 1}]))
        assert out["status"] == "applied" and out["step"] == 1
        assert (root / "geo.py").read_text() == "def area(r):\n    return 3.14 * r * r\n"
        assert (root / "README.md").read_text() == "area uses 3.14\n"
        again = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.agent.undoStep", arguments=[{"sessionId": result["sessionId"]}]))
        assert again["status"] == "error" and "nothing to undo" in again["message"]


async def test_cancel_stops_a_running_agent(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    spec = fake_script(["thinking " * 200, "never"], delay=0.05)
    async with lsp_session(spec) as (client, _):
        editor = Editor(client)
        task = asyncio.ensure_future(run(client, task="slow", root=root.as_uri()))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if any(e["kind"] == "text" for e in editor.events):
                break
        sid = editor.events[0]["sessionId"]
        out = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.agent.cancel", arguments=[{"sessionId": sid}]))
        assert out["status"] == "cancelled"
        result = await asyncio.wait_for(task, 10)
        assert result["status"] == "cancelled"


async def test_command_needing_approval_asks_the_user(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    script = [call("run_command", command="rm README.md"), "ok"]
    async with lsp_session(fake_script(script)) as (client, _):
        editor = Editor(client)
        result = await run(client, task="clean up", root=root.as_uri())
        assert result["status"] == "done"
        assert editor.asked and "rm README.md" in editor.asked[0]
        assert (root / "README.md").exists()  # the user said Deny
        out = next(e for e in editor.events if e["kind"] == "tool_result")
        assert "declined" in out["output"]


async def test_bad_arguments_are_clear_errors(fake_script, tmp_path: Path) -> None:
    async with lsp_session(fake_script([])) as (client, _):
        Editor(client)
        out = await run(client)
        assert out["status"] == "error" and "task" in out["message"]
        out = await run(client, task="x", sessionId="nope")
        assert out["status"] == "error" and "nope" in out["message"]
        out = await run(client, task="x")  # no workspace folder, no root
        assert out["status"] == "error" and "workspace" in out["message"]


MCP_SERVER = str(Path(__file__).parents[1] / "mcp_server.py")


async def test_approval_mode_is_in_the_status_and_auto_edit_needs_no_confirmation(fake_script, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    monkeypatch.setenv("QWILL_STATE_DIR", str(tmp_path / "state"))  # the server inherits it
    root = make_repo(tmp_path)
    opts = {"agent": {"approvalMode": "auto-edit"}}
    async with lsp_session(fake_script([EDIT, "done"]), init_options=opts) as (client, status):
        editor = Editor(client)
        assert status.statuses[-1]["agentMode"] == "auto-edit"
        result = await run(client, task="use math.pi", root=root.as_uri())
        assert result["status"] == "done" and result["mode"] == "auto-edit"
        (params,) = editor.edits
        assert params.edit.change_annotations["qwill-agent"].needs_confirmation is False
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"agent": {"approvalMode": "plan"}}))
        for _ in range(100):
            if status.statuses[-1]["agentMode"] == "plan":
                break
            await asyncio.sleep(0.05)
        assert status.statuses[-1]["agentMode"] == "plan"


async def test_plan_mode_proposes_and_the_editor_carries_it_out(fake_script, tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    script = [call("edit_file", path="geo.py", old_text="3.14 * r * r", new_text="x"),  # refused: read-only
              call("finish", summary="1. use math.pi in geo.py"), EDIT, call("finish", summary="done")]
    async with lsp_session(fake_script(script)) as (client, _):
        editor = Editor(client)
        editor.plan_answer = "Carry out (auto-edit)"
        result = await run(client, task="use math.pi", root=root.as_uri(), mode="plan")
        assert result["status"] == "done" and result["mode"] == "auto-edit", result
        assert any("1. use math.pi in geo.py" in m for m in editor.asked)
        kinds = [e["kind"] for e in editor.events]
        assert "plan_proposed" in kinds and "mode" in kinds
        refused = next(e for e in editor.events if e["kind"] == "tool_result")
        assert "plan mode is read-only" in refused["output"]
        assert "math.pi" in (root / "geo.py").read_text()


async def test_mcp_server_from_settings_is_usable_from_the_editor(fake_script, tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setenv("QWILL_STATE_DIR", str(tmp_path / "state"))  # the server inherits it
    root = make_repo(tmp_path)
    notes = tmp_path / "notes.txt"
    opts = {"agent": {"mcpServers": {"fx": {"command": sys.executable, "args": [MCP_SERVER, "stdio"],
                                             "env": {"NOTES_FILE": str(notes)}}},
                      "mcpAllow": ["fx/add"]}}
    script = [call("fx__add", a=20, b=22) + call("fx__note", text="from the editor"), "done"]
    async with lsp_session(fake_script(script), init_options=opts) as (client, _):
        editor = Editor(client)
        editor.run_commands = True
        result = await asyncio.wait_for(run(client, task="add and note", root=root.as_uri()), 120)
        assert result["status"] == "done", result
        outputs = [e["output"] for e in editor.events if e["kind"] == "tool_result"]
        assert outputs[0] == "42"  # allowed by mcpAllow: not asked
        asked = [m for m in editor.asked if "fx: " in m]
        assert len(asked) == 1 and "fx: note" in asked[0]
        assert any("start the MCP servers `fx`" in m for m in editor.asked)  # confirmed once
        assert notes.read_text() == "from the editor\n"

"""No lost work: an edit computed against an older buffer is refused, reported, and the
user's typing survives (the agent's and the code actions' applyEdit, over stdio).

The editor here types into the buffer at the worst moment: after the server has
computed its edit and sent `workspace/applyEdit`, before the editor applies it.
The edit names the version it was computed against, so the editor refuses it;
the server must report that (to the model, to the user) and must not touch the
buffer another way; the next attempt is computed against the new text.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from . import test_agent as agent_t
from . import test_code_actions as actions_t
from .conftest import lsp_session

TYPED = "# the user typed this while the edit was on its way\n"


class TypingAgentEditor(agent_t.Editor):
    """The agent test's editor, with a user who types just before the first edit lands."""

    def __init__(self, client: LanguageClient) -> None:
        super().__init__(client)
        self.typed = False
        self.versions_seen: list[int | None] = []

    def _apply(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        for change in edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                self.versions_seen.append(change.text_document.version)
        if not self.typed:
            self.typed = True
            for uri, (version, text) in list(self.buffers.items()):
                self.buffers[uri] = (version + 1, TYPED + text)
                self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=TYPED + text)]))
        return super()._apply(edit)


async def test_agent_edit_against_a_stale_buffer_is_refused_reported_and_redone(fake_script, tmp_path: Path) -> None:
    root = agent_t.make_repo(tmp_path)
    script = [agent_t.EDIT, agent_t.call("read_file", path="geo.py"), agent_t.EDIT, "Done."]
    async with lsp_session(fake_script(script)) as (client, _):
        editor = TypingAgentEditor(client)
        editor.open(root / "geo.py")
        uri = (root / "geo.py").as_uri()
        result = await agent_t.run(client, task="use math.pi", root=root.as_uri())
        assert result["status"] == "done", result
        # the first edit named version 1 and was refused; the second was made on version 2
        assert editor.versions_seen == [1, 2]
        assert result["rejected"] == 1 and result["applied"] == 1
        rejected = [e for e in editor.events if e["kind"] == "rejected"]
        assert rejected and "version mismatch" in rejected[0]["reason"]
        # the user's line is there, and the agent's change was made once, on top of it
        version, text = editor.buffers[uri]
        assert version == 3
        # (with the import the edit lacked, after the comment at the top)
        assert text == TYPED + "\nimport math\n\n\ndef area(r):\n    return math.pi * r ** 2\n"
        # nothing went around the editor to the disk
        assert (root / "geo.py").read_text() == "def area(r):\n    return 3.14 * r * r\n"


class TypingActionEditor(actions_t.Editor):
    def __init__(self, client: LanguageClient) -> None:
        super().__init__(client)
        self.type_before_next_edit = True
        self.refusals: list[str | None] = []

    def apply(self, edit: types.WorkspaceEdit) -> tuple[bool, str | None]:
        if self.type_before_next_edit:
            self.type_before_next_edit = False
            uri = next(iter(self.docs))
            self.type(uri, 0, 0, TYPED)
        ok, reason = super().apply(edit)
        if not ok:
            self.refusals.append(reason)
        return ok, reason


async def test_code_action_edit_against_a_stale_buffer_is_refused_and_the_user_told(fake_script,
                                                                                  tmp_path: Path) -> None:
    uri, path = actions_t._project(tmp_path)
    answer = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"
    async with lsp_session(fake_script([answer, answer])) as (client, _):
        editor = TypingActionEditor(client)
        editor.open(uri, actions_t.SOURCE)
        actions = await client.text_document_code_action_async(actions_t._params(uri, 10, 0, (12, 0)))
        rewrite = actions_t._by_title(actions, "Rewrite")
        assert rewrite.command is not None
        args = [*rewrite.command.arguments, "use ** for the square"]
        first = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.rewrite", arguments=args))
        assert first["status"] == "error" and "not applied" in first["message"], first
        assert editor.refusals and "version" in (editor.refusals[0] or "")
        assert editor.text(uri) == TYPED + actions_t.SOURCE  # the user's typing, nothing else
        shown = [m.message for m in client.messages]  # window/showMessage
        assert any("not applied" in m for m in shown), shown
        # the same action again is computed on the buffer as it is now, and applies
        actions = await client.text_document_code_action_async(actions_t._params(uri, 11, 0, (13, 0)))
        rewrite = actions_t._by_title(actions, "Rewrite")
        assert rewrite.command is not None
        second = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.rewrite", arguments=[*rewrite.command.arguments, "use ** for the square"]))
        assert second["status"] == "applied", second
        text = editor.text(uri)
        assert text.startswith(TYPED) and "return math.pi * r ** 2\n" in text and "def average" in text
        assert path.read_text() == actions_t.SOURCE  # the disk is the editor's business

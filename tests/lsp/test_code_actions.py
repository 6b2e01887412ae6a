"""Code actions end to end: the real server over stdio, the scripted fake engine.

An `Editor` stands in for the client's buffers: it applies the server's
`workspace/applyEdit` requests the way an editor does (checking document
versions, creating files) and sends the resulting didChange back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Union

import attrs
import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from qwill.actions.syntax_check import parse, spec_for, syntax_errors
from qwill.context.document import Position, Range, TextChange, TextDocument

from .conftest import lsp_session, open_doc

SOURCE = '''import math


def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(value)


def area(r):
    return math.pi * r * r
'''

FIXED = '''```python
def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)
```'''

DOC_WORDS = "Return the arithmetic mean of `values`.\n\nRaises ZeroDivisionError when it is empty."

TESTS = '''```python
import math

from calc import area


def test_area_of_unit_circle():
    assert area(1) == math.pi
```'''

UNDEFINED = types.Diagnostic(
    range=types.Range(start=types.Position(line=7, character=23), end=types.Position(line=7, character=28)),
    message="undefined name 'value'", source="pyflakes", severity=types.DiagnosticSeverity.Error)


def _structure_code_actions_correctly(client: LanguageClient) -> None:
    """lsprotocol reads any list item with a `command` key as a Command, so a CodeAction
    carrying a command (what clients without resolve get) would arrive garbled."""
    conv = client.protocol._converter

    def hook(obj: Any, _: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return conv.structure(obj, types.Command)
        return conv.structure(obj, types.CodeAction)

    conv.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


class Editor:
    """The client's side of the buffers: applies workspace edits, reports changes."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        _structure_code_actions_correctly(client)
        self.docs: dict[str, TextDocument] = {}
        self.applied: list[types.ApplyWorkspaceEditParams] = []

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            ok, reason = self.apply(params.edit)
            if ok:
                self.applied.append(params)
            return types.ApplyWorkspaceEditResult(applied=ok, failure_reason=reason)

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.docs[uri] = TextDocument(uri, text, 1, language)
        open_doc(self.client, uri, text, language, 1)

    def type(self, uri: str, line: int, character: int, text: str) -> None:
        doc = self.docs[uri]
        pos = Position(line, character)
        doc.apply([TextChange(text, Range(pos, pos))])
        doc.version += 1
        lp = types.Position(line=line, character=character)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=lp, end=lp), text=text)]))

    def apply(self, edit: types.WorkspaceEdit) -> tuple[bool, str | None]:
        """All or nothing, as VS Code's `textOnlyTransactional` does for text edits."""
        for change in edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                doc = self.docs.get(change.text_document.uri)
                v = change.text_document.version
                if doc is not None and v is not None and v != doc.version:
                    return False, f"version {v} is not the buffer's version {doc.version}"
        for change in edit.document_changes or []:
            if isinstance(change, types.CreateFile):
                path = Path(change.uri.removeprefix("file://"))
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("")
                if change.uri not in self.docs:
                    self.open(change.uri, "")
            elif isinstance(change, types.TextDocumentEdit):
                self._edit(change.text_document.uri, list(change.edits))
        for uri, edits in (edit.changes or {}).items():
            self._edit(uri, list(edits))
        return True, None

    def _edit(self, uri: str, edits: list[Any]) -> None:
        doc = self.docs.get(uri)
        if doc is None:
            path = Path(uri.removeprefix("file://"))
            self.open(uri, path.read_text() if path.exists() else "")
            doc = self.docs[uri]
        ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
        changes = [TextChange(e.new_text, Range(Position(e.range.start.line, e.range.start.character),
                                                 Position(e.range.end.line, e.range.end.character)))
                   for e in ordered]
        doc.apply(changes)
        doc.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=e.range.start, end=e.range.end), text=e.new_text) for e in ordered]))

    def text(self, uri: str) -> str:
        return self.docs[uri].text


def _project(tmp_path: Path) -> tuple[str, Path]:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'calc'\n")
    src = tmp_path / "calc.py"
    src.write_text(SOURCE)
    return src.as_uri(), src


def _params(uri: str, line: int, col: int, end: tuple[int, int] | None = None,
            diagnostics: list[types.Diagnostic] | None = None,
            only: list[str] | None = None) -> types.CodeActionParams:
    start = types.Position(line=line, character=col)
    stop = types.Position(line=end[0], character=end[1]) if end else start
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(start=start, end=stop),
        context=types.CodeActionContext(diagnostics=diagnostics or [], only=only))


def _by_title(actions: list[Any], word: str) -> types.CodeAction:
    found = [a for a in actions if isinstance(a, types.CodeAction) and word in a.title]
    assert found, f"no action with {word!r} in {[a.title for a in actions]}"
    return found[0]


def _parses(text: str) -> bool:
    tree = parse(text, spec_for("python", "x.py"))
    assert tree is not None
    return syntax_errors(tree).count == 0


def _apply_resolved(editor: Editor, action: types.CodeAction) -> None:
    assert action.edit is not None
    ok, reason = editor.apply(action.edit)
    assert ok, reason


async def test_the_list_is_instant_and_offers_every_action(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([DOC_WORDS]), workspace=str(tmp_path)) as (client, _):
        caps = client.server_capabilities
        assert isinstance(caps.code_action_provider, types.CodeActionOptions)
        assert caps.code_action_provider.resolve_provider
        assert {"qwill.fix", "qwill.explain", "qwill.docstring", "qwill.tests", "qwill.rewrite"} <= set(
            caps.execute_command_provider.commands)
        editor = Editor(client)
        editor.open(uri, SOURCE)
        # cursor on the broken line, with the linter's diagnostic; a selection for rewrite/explain
        actions = await client.text_document_code_action_async(
            _params(uri, 7, 4, (7, 30), diagnostics=[UNDEFINED]))
        titles = [a.title for a in actions]
        assert any("Fix" in t and "undefined name 'value'" in t for t in titles)
        assert "Qwill: Explain selection" in titles
        assert "Qwill: Add a docstring to `average`" in titles
        assert "Qwill: Generate tests for `average` in tests/test_calc.py" in titles
        assert "Qwill: Rewrite selection…" in titles
        # the list ran no model: the first scripted answer is still there for the docstring
        doc = _by_title(actions, "docstring")
        assert doc.edit is None and doc.data is not None
        resolved = await client.code_action_resolve_async(doc)
        _apply_resolved(editor, resolved)
        assert '    """Return the arithmetic mean of `values`.' in editor.text(uri)


async def test_only_filter_and_unopened_document(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script()) as (client, _):
        assert await client.text_document_code_action_async(_params(uri, 3, 4)) is None
        Editor(client).open(uri, SOURCE)
        quick = await client.text_document_code_action_async(
            _params(uri, 7, 4, diagnostics=[UNDEFINED], only=["quickfix"]))
        assert [a.kind for a in quick] == ["quickfix.qwill"]


async def test_resolve_docstring_places_it_under_the_signature(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([DOC_WORDS])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 5, 8))
        resolved = await client.code_action_resolve_async(_by_title(actions, "docstring"))
        edit = resolved.edit
        assert edit is not None and edit.change_annotations
        assert [a.label for a in edit.change_annotations.values()] == ["Qwill: Document `average`"]
        _apply_resolved(editor, resolved)
        text = editor.text(uri)
        lines = text.splitlines()
        at = lines.index("def average(values):")
        assert lines[at + 1] == '    """Return the arithmetic mean of `values`.'
        assert lines[at + 2] == ""
        assert lines[at + 3] == "    Raises ZeroDivisionError when it is empty."
        assert lines[at + 4] == '    """'
        assert lines[at + 5] == "    total = 0"
        assert _parses(text)


async def test_resolve_fix_replaces_only_the_broken_line(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([FIXED + "\n\nThe name was misspelled."])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 7, 25, diagnostics=[UNDEFINED]))
        fix = _by_title(actions, "Fix")
        assert fix.kind == "quickfix.qwill" and fix.is_preferred
        assert fix.diagnostics and fix.diagnostics[0].message == UNDEFINED.message
        resolved = await client.code_action_resolve_async(fix)
        changes = resolved.edit.document_changes
        assert len(changes) == 1 and changes[0].text_document.version == 1
        assert [e.new_text for e in changes[0].edits] == ["    return total / len(values)\n"]
        _apply_resolved(editor, resolved)
        assert editor.text(uri) == SOURCE.replace("len(value)", "len(values)")


async def test_resolve_tests_creates_the_test_file_in_one_edit(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([TESTS]), workspace=str(tmp_path)) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 11, 8))
        resolved = await client.code_action_resolve_async(_by_title(actions, "Generate tests"))
        changes = resolved.edit.document_changes
        test_uri = (tmp_path / "tests" / "test_calc.py").as_uri()
        assert isinstance(changes[0], types.CreateFile) and changes[0].uri == test_uri
        assert isinstance(changes[1], types.TextDocumentEdit) and changes[1].text_document.uri == test_uri
        _apply_resolved(editor, resolved)
        text = editor.text(test_uri)
        assert "from calc import area" in text and "def test_area_of_unit_circle():" in text
        assert _parses(text)
        assert (tmp_path / "tests" / "test_calc.py").exists()


async def test_resolve_tests_appends_to_an_existing_test_file(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    existing = "from calc import area\n\n\ndef test_zero():\n    assert area(0) == 0\n"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(existing)
    async with lsp_session(fake_script([TESTS]), workspace=str(tmp_path)) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 11, 8))
        resolved = await client.code_action_resolve_async(_by_title(actions, "Generate tests"))
        changes = resolved.edit.document_changes
        assert not any(isinstance(c, types.CreateFile) for c in changes)
        _apply_resolved(editor, resolved)
        text = editor.text((tmp_path / "tests" / "test_calc.py").as_uri())
        assert text.startswith(existing)
        assert text.count("from calc import area") == 1
        assert "def test_area_of_unit_circle" in text and _parses(text)


@pytest.mark.parametrize(("answer", "why"), [
    ("I think the problem is the name `value`; you should use `values`.", "no code block"),
    ("<<<<<<< SEARCH\n    return total / len(vals)\n=======\n    return 0\n>>>>>>> REPLACE\n", "not found"),
    ("```python\ndef average(values):\n    total = (0\n    return total / len(values)\n```", "syntax errors"),
])
async def test_bad_answers_are_refused_with_a_message(fake_script, tmp_path, answer, why) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([answer])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 7, 25, diagnostics=[UNDEFINED]))
        resolved = await client.code_action_resolve_async(_by_title(actions, "Fix"))
        assert resolved.edit is None
        await asyncio.sleep(0.1)
        assert any(why in m.message and m.message.startswith("Qwill:") for m in client.messages), (
            [m.message for m in client.messages])
        assert editor.text(uri) == SOURCE


async def test_clients_without_resolve_get_commands_that_apply_edits(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([FIXED]), client_name="emacs") as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 7, 25, diagnostics=[UNDEFINED]))
        fix = _by_title(actions, "Fix")
        assert fix.data is None and fix.command is not None and fix.command.command == "qwill.fix"
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=fix.command.command, arguments=fix.command.arguments))
        assert result["status"] == "applied"
        assert editor.applied and editor.applied[0].label == "Qwill: Fix “undefined name 'value'”"
        assert editor.text(uri) == SOURCE.replace("len(value)", "len(values)")


async def test_rewrite_command_takes_the_instruction(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    answer = "```python\ndef area(r):\n    return math.pi * r ** 2\n```"
    async with lsp_session(fake_script([answer])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 10, 0, (12, 0)))
        rewrite = _by_title(actions, "Rewrite")
        assert rewrite.command is not None and rewrite.command.command == "qwill.rewrite"
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.rewrite", arguments=[*rewrite.command.arguments, "use ** for the square"]))
        assert result["status"] == "applied"
        edit = editor.applied[0].edit
        assert edit.change_annotations and next(iter(edit.change_annotations.values())).label == "Qwill: Rewrite"
        assert "return math.pi * r ** 2\n" in editor.text(uri)
        assert "def average" in editor.text(uri)


async def test_rewrite_without_instruction_and_nobody_to_ask_changes_nothing(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script(["```python\nx = 1\n```"])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.rewrite", arguments=[{"uri": uri, "range": {
                "start": {"line": 10, "character": 0}, "end": {"line": 12, "character": 0}}}]))
        assert result["status"] == "error" and "instruction" in result["message"]
        assert editor.text(uri) == SOURCE and not editor.applied


async def test_explain_returns_markdown_and_opens_it_for_plain_clients(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    answer = "It computes the **area** of a circle of radius `r`."
    async with lsp_session(fake_script([answer])) as (client, _):
        Editor(client).open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 11, 8))
        explain = _by_title(actions, "Explain")
        assert explain.command.command == "qwill.explain"
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.explain", arguments=explain.command.arguments))
        assert result["status"] == "ok"
        assert result["markdown"].startswith("### Explain `area`")
        assert "**area** of a circle" in result["markdown"]
        assert [d.uri for d in client.shown_documents] == [result["uri"]]
        assert Path(result["uri"].removeprefix("file://")).read_text() == result["markdown"]


async def test_explain_in_our_clients_stays_in_the_result(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    caps = client_capabilities("visual-studio-code")
    caps = attrs.evolve(caps, experimental={"qwill": {"explainView": True}})
    async with lsp_session(fake_script(["Adds numbers."]), capabilities=caps) as (client, _):
        Editor(client).open(uri, SOURCE)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.explain", arguments=[{"uri": uri, "range": {
                "start": {"line": 4, "character": 0}, "end": {"line": 7, "character": 30}}}]))
        assert "Adds numbers." in result["markdown"] and "uri" not in result
        assert client.shown_documents == []


async def test_progress_streams_and_cancel_stops_the_model(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    slow = "```python\n" + "x = 1\n" * 60 + "```"
    async with lsp_session(fake_script([slow, FIXED], delay=0.05)) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        args = [{"uri": uri, "range": {"start": {"line": 7, "character": 23}, "end": {"line": 7, "character": 28}},
                 "diagnostics": [{"message": "undefined name 'value'", "range": {
                     "start": {"line": 7, "character": 23}, "end": {"line": 7, "character": 28}}}]}]
        before = set(client.progress_reports)
        task = asyncio.ensure_future(client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="qwill.fix", arguments=args)))
        token = None
        for _ in range(200):
            await asyncio.sleep(0.05)
            fresh = [t for t in client.progress_reports if t not in before]
            if fresh and any(isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports[fresh[0]]):
                token = fresh[0]
                break
        assert token is not None, "no progress report arrived"
        reports = client.progress_reports[token]
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
        assert any(isinstance(r, types.WorkDoneProgressReport) and r.message for r in reports)
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(task, 10)
        assert result == {"status": "cancelled"}
        assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
        assert editor.text(uri) == SOURCE and not editor.applied
        # the engine is free again: the next action gets the next scripted answer
        again = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="qwill.fix", arguments=args))
        assert again["status"] == "applied"


async def test_typing_while_the_model_works_rebases_onto_the_live_buffer(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([FIXED], delay=0.05)) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 7, 25, diagnostics=[UNDEFINED]))
        task = asyncio.ensure_future(client.code_action_resolve_async(_by_title(actions, "Fix")))
        await asyncio.sleep(0.2)
        editor.type(uri, 0, 0, "# a comment typed meanwhile\n")
        resolved = await asyncio.wait_for(task, 10)
        change = resolved.edit.document_changes[0]
        assert change.text_document.version == 2
        _apply_resolved(editor, resolved)
        assert editor.text(uri) == "# a comment typed meanwhile\n" + SOURCE.replace("len(value)", "len(values)")


async def test_bad_command_arguments_are_errors_and_the_server_stays_up(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([FIXED])) as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        bad = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.fix", arguments=[{"uri": uri}]))
        assert bad["status"] == "error" and "range" in bad["message"]
        none = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qwill.fix", arguments=[{"uri": uri, "range": {
                "start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}}]))
        assert none["status"] == "error" and "no problem to fix" in none["message"]
        actions = await client.text_document_code_action_async(_params(uri, 7, 25, diagnostics=[UNDEFINED]))
        assert _by_title(actions, "Fix")


async def test_a_client_that_cannot_create_files_is_told_so(fake_script, tmp_path) -> None:
    uri, _ = _project(tmp_path)
    async with lsp_session(fake_script([TESTS]), client_name="emacs") as (client, _):
        editor = Editor(client)
        editor.open(uri, SOURCE)
        actions = await client.text_document_code_action_async(_params(uri, 11, 8))
        tests = _by_title(actions, "Generate tests")
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=tests.command.command, arguments=tests.command.arguments))
        assert result["status"] == "error" and "cannot create files" in result["message"]
        assert not editor.applied and not (tmp_path / "tests").exists()

"""`qwill/nextEdit` end to end: the real server over stdio, the scripted fake engine.

The fake engine answers for the next-edit prompt with a rewritten region; the test edits
the document as an editor does (didChange per keystroke) and checks the proposal, its
code-action form, the inline-completion item, the counters and bad input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from qwill.actions.syntax_check import parse, spec_for, syntax_errors

from .conftest import lsp_session
from .test_code_actions import Editor

SOURCE = """import math


def area(radius):
    '''The area of a circle.'''
    return math.pi * radius * radius


def main():
    print(area(2))
"""
RENAMED = SOURCE.replace("def area(radius)", "def area(r)")
# what the model writes: the whole region (here the whole file, it is shorter than the region)
ANSWER = RENAMED.replace("math.pi * radius * radius", "math.pi * r * r") + "```"


def _rename(editor: Editor, uri: str) -> None:
    """`radius` -> `r` in the signature: select and type over it, as an editor sends it."""
    doc = editor.docs[uri]
    from qwill.context.document import Position, Range, TextChange

    doc.apply([TextChange("r", Range(Position(3, 9), Position(3, 15)))])
    doc.version += 1
    editor.client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=3, character=9), end=types.Position(line=3, character=15)),
            text="r")]))


def _open_renamed(client: Any, tmp_path: Path) -> tuple[Editor, str]:
    """geo.py opened with SOURCE and `radius` renamed in the signature: the edit to follow."""
    editor = Editor(client)
    uri = (tmp_path / "geo.py").as_uri()
    editor.open(uri, SOURCE)
    _rename(editor, uri)
    return editor, uri


async def _next_edit(client: Any, uri: str, line: int, character: int) -> dict[str, Any]:
    result = await client.protocol.send_request_async(
        "qwill/nextEdit", {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
    return _plain(result)


def _plain(obj: Any) -> Any:
    """pygls hands custom results back as namedtuple-like objects: make them dicts."""
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_asdict"):
        return [_plain(x) for x in obj]
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _apply_json(editor: Editor, uri: str, edits: list[dict[str, Any]]) -> None:
    editor._edit(uri, [types.TextEdit(
        range=types.Range(start=types.Position(**e["range"]["start"]), end=types.Position(**e["range"]["end"])),
        new_text=e["newText"]) for e in edits])


def _parses(text: str) -> bool:
    tree = parse(text, spec_for("python", "x.py"))
    assert tree is not None
    return syntax_errors(tree).count == 0


async def test_a_rename_gets_its_next_edit_and_one_apply_lands_it(fake_script, tmp_path) -> None:
    async with lsp_session(fake_script([ANSWER])) as (client, _):
        editor, uri = _open_renamed(client, tmp_path)
        result = await _next_edit(client, uri, 3, 10)
        assert result["id"], result
        assert result["version"] == editor.docs[uri].version
        assert [(e["range"]["start"], e["newText"]) for e in result["edits"]] == [
            ({"line": 5, "character": 21}, "r"), ({"line": 5, "character": 30}, "r")]
        assert result["jump"] == {"line": 5, "character": 21}
        assert result["cursor"] == {"line": 5, "character": 26}
        assert result["format"] == "instruct"
        client.protocol.notify("qwill/nextEdit/shown", {"id": result["id"]})

        # a plain client gets the same edit as a code action
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[])))
        predicted = [a for a in actions if isinstance(a, types.CodeAction) and "predicted edit" in a.title]
        assert predicted and predicted[0].title == "Qwill: Apply predicted edit (line 6)"
        assert predicted[0].edit is not None

        _apply_json(editor, uri, result["edits"])
        client.protocol.notify("qwill/nextEdit/accepted", {"id": result["id"]})
        text = editor.text(uri)
        assert "return math.pi * r * r" in text and _parses(text)
        stats = _plain(await client.protocol.send_request_async("qwill/completionStats", {}))
        ne = stats["nextEdit"]
        assert (ne["requests"], ne["predictions"], ne["shown"], ne["accepted"]) == (1, 1, 1, 1)


async def test_a_rejected_prediction_says_why_and_changes_nothing(fake_script, tmp_path) -> None:
    async with lsp_session(fake_script([SOURCE + "```", "Sure! I changed it.\n```\nDone."])) as (client, _):
        editor, uri = _open_renamed(client, tmp_path)
        undo = await _next_edit(client, uri, 3, 10)
        assert undo["id"] is None and undo["edits"] == []
        assert "undoes your last edit" in undo["reason"]
        prose = await _next_edit(client, uri, 3, 10)
        assert prose["id"] is None and prose["reason"]
        assert editor.text(uri) == RENAMED
        stats = _plain(await client.protocol.send_request_async("qwill/completionStats", {}))
        assert stats["nextEdit"]["rejected"] == {"undo": 1, "shrinks": 1}


async def test_a_same_line_insertion_at_the_cursor_is_also_ghost_text(fake_script, tmp_path) -> None:
    source = "def greet(name, greeting):\n    return f'{greeting}, {name}'\n\n\nprint(greet('Ada'))\n"
    typed = source.replace("print(greet('Ada'", "print(greet('Ada', ")
    # the region starts three lines above the cursor's line: the model writes lines 1-4
    region = "".join(typed.splitlines(keepends=True)[1:])
    answer = region.replace("greet('Ada', )", "greet('Ada', 'Hello')") + "```"
    async with lsp_session(fake_script([answer], default="")) as (client, _):
        editor = Editor(client)
        uri = (tmp_path / "hello.py").as_uri()
        editor.open(uri, source)
        editor.type(uri, 4, 17, ",")
        editor.type(uri, 4, 18, " ")
        assert editor.text(uri) == typed
        result = await _next_edit(client, uri, 4, 19)
        assert result.get("reason") is None, result
        at = {"line": 4, "character": 19}
        assert result["edits"] == [{"range": {"start": at, "end": at}, "newText": "'Hello'"}]
        items = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=19),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        assert items is not None
        assert "'Hello'" in [i.insert_text for i in items.items]


async def test_the_next_keystroke_cancels_a_running_prediction(fake_script, tmp_path) -> None:
    slow = " ".join(["word"] * 400)
    async with lsp_session(fake_script([slow], delay=0.02)) as (client, _):
        editor, uri = _open_renamed(client, tmp_path)
        pending = asyncio.ensure_future(_next_edit(client, uri, 3, 10))
        await asyncio.sleep(0.5)
        editor.type(uri, 9, 4, "#")
        result = await asyncio.wait_for(pending, 30)
        assert result["id"] is None and result["reason"] == "cancelled"
        # the server is still there and answers
        again = await _next_edit(client, uri, 3, 10)
        assert again["id"] is None


@pytest.mark.parametrize("params", [
    {"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}},
    {"textDocument": {}, "position": {"line": 0, "character": 0}},
    {"position": {"line": "x"}},
    None,
])
async def test_bad_requests_get_a_clear_error_and_the_server_stays_up(fake_script, tmp_path, params) -> None:
    async with lsp_session(fake_script([ANSWER])) as (client, _):
        editor = Editor(client)
        uri = (tmp_path / "geo.py").as_uri()
        editor.open(uri, SOURCE)
        with pytest.raises(JsonRpcException) as err:
            await client.protocol.send_request_async("qwill/nextEdit", params)
        assert "textDocument" in str(err.value) or "not open" in str(err.value)
        beyond = {"textDocument": {"uri": uri}, "position": {"line": 99, "character": 0}}
        with pytest.raises(JsonRpcException):
            await client.protocol.send_request_async("qwill/nextEdit", beyond)
        _rename(editor, uri)
        result = await _next_edit(client, uri, 3, 10)
        assert result["id"] and editor.text(uri) == RENAMED


async def test_a_plain_client_predicts_and_applies_through_the_code_action_menu(fake_script, tmp_path) -> None:
    async with lsp_session(fake_script([ANSWER])) as (client, _):
        editor = Editor(client)
        uri = (tmp_path / "geo.py").as_uri()
        editor.open(uri, SOURCE)

        async def menu() -> list[Any]:
            return list(await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=3, character=10), end=types.Position(line=3, character=10)),
                context=types.CodeActionContext(diagnostics=[]))) or [])

        # nothing edited yet: nothing to follow, no entry
        assert not [a for a in await menu() if "next edit" in a.title]
        _rename(editor, uri)
        entries = [a for a in await menu() if isinstance(a, types.CodeAction) and "next edit" in a.title]
        assert [a.title for a in entries] == ["Qwill: Predict the next edit"]
        assert entries[0].edit is None  # the model runs only when it is chosen
        resolved = await client.code_action_resolve_async(entries[0])
        assert resolved.edit is not None
        ok, reason = editor.apply(resolved.edit)
        assert ok, reason
        assert "return math.pi * r * r" in editor.text(uri) and _parses(editor.text(uri))

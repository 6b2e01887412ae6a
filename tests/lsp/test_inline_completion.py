"""The real server over stdio with the fake engine: the protocol behaviour."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .conftest import inline_params, lsp_session, open_doc

URI = "file:///work/example.py"
TEXT = "def add(a, b):\n    \n\nprint(add(1, 2))\n"


async def test_initialize_advertises_inline_and_fallback_completion(fake_script) -> None:
    async with lsp_session(fake_script(["return a + b"])) as (client, _):
        caps = client.server_capabilities
        assert caps is not None
        assert caps.inline_completion_provider
        assert caps.completion_provider is not None
        sync = caps.text_document_sync
        assert getattr(sync, "change", sync) == types.TextDocumentSyncKind.Incremental


async def test_inline_completion_returns_the_model_suggestion(fake_script) -> None:
    async with lsp_session(fake_script(["return a + b\n\nprint('x')"])) as (client, status):
        assert status.statuses[-1]["state"] == "ready"
        open_doc(client, URI, TEXT)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert isinstance(result, types.InlineCompletionList)
        assert [i.insert_text for i in result.items] == ["return a + b"]
        rng = result.items[0].range
        assert rng is not None and (rng.start.line, rng.start.character) == (1, 4)


async def test_incremental_changes_are_applied_before_completing(fake_script) -> None:
    async with lsp_session(fake_script(default="b")) as (client, _):
        open_doc(client, URI, TEXT)
        # type "return a + " on the empty body line, one keystroke at a time
        col = 4
        for version, ch in enumerate("return a + ", start=2):
            pos = types.Position(line=1, character=col)
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=pos, end=pos), text=ch)]))
            col += 1
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, col))
        assert isinstance(result, types.InlineCompletionList)
        assert [i.insert_text for i in result.items] == ["b"]


async def test_typing_into_a_shown_suggestion_needs_no_model_call(fake_script) -> None:
    async with lsp_session(fake_script(["return a + b"])) as (client, _):
        open_doc(client, URI, TEXT)
        first = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert first.items[0].insert_text == "return a + b"
        pos = types.Position(line=1, character=4)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=pos, end=pos), text="ret")]))
        # The fake engine has no second response queued: an answer proves the cache.
        second = await client.text_document_inline_completion_async(inline_params(URI, 1, 7))
        assert [i.insert_text for i in second.items] == ["urn a + b"]


async def test_completion_fallback_for_clients_without_inline_completion(fake_script) -> None:
    async with lsp_session(fake_script(["return a + b"]), client_name="neovim@v0.10.0") as (client, _):
        open_doc(client, URI, TEXT)
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=1, character=4)))
        assert isinstance(result, types.CompletionList)
        assert len(result.items) == 1
        item = result.items[0]
        assert isinstance(item.text_edit, types.TextEdit)
        assert item.text_edit.new_text == "return a + b"
        assert item.text_edit.range.start == types.Position(line=1, character=4)


async def test_position_outside_the_document_is_an_error_and_server_stays_up(fake_script) -> None:
    async with lsp_session(fake_script(["x"], default="y")) as (client, _):
        open_doc(client, URI, TEXT)
        for line, col in ((99, 0), (1, 80)):
            with pytest.raises(JsonRpcException) as err:
                await client.text_document_inline_completion_async(inline_params(URI, line, col))
            assert "outside" in str(err.value) or "past the end" in str(err.value)
        ok = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert ok.items and ok.items[0].insert_text == "x"


async def test_unopened_document_is_an_error(fake_script) -> None:
    async with lsp_session(fake_script(["x"])) as (client, _):
        with pytest.raises(JsonRpcException, match="not open"):
            await client.text_document_inline_completion_async(
                inline_params("file:///nowhere.py", 0, 0))


async def test_request_before_model_ready_answers_empty_at_once(tmp_path) -> None:
    script = tmp_path / "slow.json"
    script.write_text('{"responses": ["never"]}')
    # A model that is still assembling: a path that does not exist yet makes
    # loading fail, but the request arrives before `initialized` starts it.
    async with lsp_session(f"fake:{script}", wait=False) as (client, status):
        open_doc(client, URI, TEXT)
        if status.ready.is_set():
            pytest.skip("model became ready before the first request")  # pragma: no cover
        result = await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(URI, 1, 4)), 2)
        assert isinstance(result, types.InlineCompletionList)


async def test_bad_settings_are_reported_and_defaults_used(fake_script) -> None:
    opts = {"completion": {"maxTokens": "lots", "bogus": 1}, "logLevel": "loud"}
    async with lsp_session(fake_script(["return a + b"]), init_options=opts) as (client, _):
        await asyncio.sleep(0.2)
        text = " ".join(m.message for m in client.messages)
        assert "completion.maxTokens" in text
        assert "completion.bogus" in text
        assert "logLevel" in text
        open_doc(client, URI, TEXT)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert result.items[0].insert_text == "return a + b"


async def test_did_change_configuration_bad_value_keeps_server_working(fake_script) -> None:
    async with lsp_session(fake_script(["return a + b", "return a - b"])) as (client, _):
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"completion": {"maxTokens": -5}}))
        await asyncio.sleep(0.2)
        assert any("maxTokens" in m.message for m in client.messages)
        open_doc(client, URI, TEXT)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert result.items[0].insert_text == "return a + b"


async def test_missing_model_reports_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "nope.gguf"
    async with lsp_session(str(missing)) as (client, status):
        final = status.statuses[-1]
        assert final["state"] == "error"
        assert "nope.gguf" in final["message"]
        await asyncio.sleep(0.2)
        assert any("nope.gguf" in m.message for m in client.messages)
        open_doc(client, URI, TEXT)
        result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
        assert list(result.items) == []


async def test_unknown_request_gets_method_not_found(fake_script) -> None:
    async with lsp_session(fake_script()) as (client, _):
        with pytest.raises(JsonRpcException) as err:
            await asyncio.wait_for(client.protocol.send_request_async("qwill/noSuchThing", {}), 5)
        assert "-32601" in str(err.value) or "not found" in str(err.value).lower()


def _type(client, version: int, line: int, col: int, text: str) -> None:
    pos = types.Position(line=line, character=col)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos, end=pos), text=text)]))


async def test_newer_request_supersedes_older_one(fake_script) -> None:
    spec = fake_script(["one two three four five six seven eight", "a + b"], delay=0.2)
    async with lsp_session(spec) as (client, _):
        open_doc(client, URI, TEXT)
        slow = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(URI, 1, 4)))
        await asyncio.sleep(0.3)
        _type(client, 2, 1, 4, "return ")  # does not continue "one two ...": a new generation
        fast = await client.text_document_inline_completion_async(inline_params(URI, 1, 11))
        old = await asyncio.wait_for(slow, 5)
        assert list(old.items) == []
        assert [i.insert_text for i in fast.items] == ["a + b"]


async def test_typing_what_is_being_generated_joins_the_running_generation(fake_script) -> None:
    # Only one response is scripted: a second model call would answer nothing.
    spec = fake_script(["return a + b"], delay=0.15)
    async with lsp_session(spec) as (client, _):
        open_doc(client, URI, TEXT)
        first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(URI, 1, 4)))
        await asyncio.sleep(0.2)
        _type(client, 2, 1, 4, "re")
        second = await client.text_document_inline_completion_async(inline_params(URI, 1, 6))
        assert [i.insert_text for i in second.items] == ["turn a + b"]
        assert [i.insert_text for i in (await first).items] == ["return a + b"]


async def test_cancel_request_stops_generation(fake_script) -> None:
    spec = fake_script(["one two three four five six seven eight nine ten", "return a + b"], delay=0.2)
    async with lsp_session(spec) as (client, _):
        open_doc(client, URI, TEXT)
        task = asyncio.ensure_future(client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(URI, 1, 4), msg_id="cancel-me"))
        await asyncio.sleep(0.3)
        client.cancel_request(types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcException, match="cancel"):
            await asyncio.wait_for(task, 2)
        nxt = await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(URI, 1, 4)), 5)
        assert [i.insert_text for i in nxt.items] == ["return a + b"]


async def test_selected_completion_item_is_the_start_of_the_suggestion(fake_script) -> None:
    text = "import os\n\nos.pa\n"
    async with lsp_session(fake_script(["('a', 'b')"])) as (client, _):
        open_doc(client, URI, text)
        params = inline_params(URI, 2, 5)
        params.context.selected_completion_info = types.SelectedCompletionInfo(
            range=types.Range(start=types.Position(line=2, character=3),
                              end=types.Position(line=2, character=5)),
            text="path.join")
        result = await client.text_document_inline_completion_async(params)
        item = result.items[0]
        assert item.insert_text == "path.join('a', 'b')"
        assert item.range == types.Range(start=types.Position(line=2, character=3),
                                         end=types.Position(line=2, character=5))


async def test_model_loading_reports_progress_begin_to_end(fake_script) -> None:
    async with lsp_session(fake_script(["x"])) as (client, _):
        for _ in range(50):
            tokens = [t for t in client.progress_reports if str(t).startswith("qwill-model-")]
            if tokens and isinstance(client.progress_reports[tokens[0]][-1], types.WorkDoneProgressEnd):
                break
            await asyncio.sleep(0.1)
        assert len(tokens) == 1
        reports = client.progress_reports[tokens[0]]
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and "loading model" in (reports[0].message or "")
        assert isinstance(reports[-1], types.WorkDoneProgressEnd) and "ready" in (reports[-1].message or "")

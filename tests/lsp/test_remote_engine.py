"""`qwill serve` with a remote backend: problems reach the user, the editor stays responsive."""

from __future__ import annotations

import asyncio
import socket

from lsprotocol import types

from ..remote_peer import Peer, completion_events, json_reply, openai_models, sequence, sse
from .conftest import inline_params, lsp_session, open_doc

URI = "file:///work/example.py"
TEXT = "def add(a, b):\n    \n\nprint(add(1, 2))\n"


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


async def test_dead_remote_engine_is_reported_and_completion_answers_empty_at_once() -> None:
    url = f"http://127.0.0.1:{dead_port()}"
    opts = {"engine": {"backend": "openai", "url": url, "retries": 0}}
    async with lsp_session("default", init_options=opts) as (client, status):
        final = status.statuses[-1]
        assert final["state"] == "error"
        assert url in final["message"] and "cannot connect" in final["message"]
        await asyncio.sleep(0.2)
        assert any(url in m.message for m in client.messages)  # window/showMessage
        open_doc(client, URI, TEXT)
        result = await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(URI, 1, 4)), 2)
        assert list(result.items) == []


async def test_remote_engine_completes_and_a_failing_server_degrades_the_status() -> None:
    peer = Peer()
    peer.route("GET", "/v1/models", openai_models("Qwen2.5-Coder-7B"))
    peer.route("POST", "/v1/completions", sequence(
        sse(completion_events(["return a + b"], finish="stop")),
        json_reply(500, {"error": {"message": "worker died"}})))
    opts = {"engine": {"backend": "openai", "url": peer.url, "retries": 0}}
    try:
        async with lsp_session("default", init_options=opts) as (client, status):
            ready = status.statuses[-1]
            model = ready["model"]
            name = model["name"] if isinstance(model, dict) else model.name
            assert ready["state"] == "ready" and name == "Qwen2.5-Coder-7B"
            open_doc(client, URI, TEXT)
            result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
            assert [i.insert_text for i in result.items] == ["return a + b"]
            # the next request meets a 500: empty answer, a warning naming the cause
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(
                    text="def sub(a, b):\n    \n")]))
            result = await client.text_document_inline_completion_async(inline_params(URI, 1, 4))
            assert list(result.items) == []
            for _ in range(50):
                if status.statuses[-1]["state"] == "degraded":
                    break
                await asyncio.sleep(0.05)
            assert status.statuses[-1]["state"] == "degraded"
            assert "worker died" in status.statuses[-1]["message"]
            assert any("worker died" in m.message for m in client.messages)
    finally:
        peer.close()

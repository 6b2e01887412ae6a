"""The model runs in a child process: killing it does not take the server down."""

from __future__ import annotations

import asyncio
import os
import signal

from lsprotocol import types

from .conftest import inline_params, lsp_session, open_doc

URI = "file:///work/iso.py"
TEXT = "def add(a, b):\n    \n"


async def test_engine_crash_is_reported_and_the_engine_restarts(fake_script) -> None:
    spec = fake_script(["one two three four five six seven eight nine ten"],
                       default="return a + b", delay=0.3)
    async with lsp_session(spec) as (client, status):
        ready = status.statuses[-1]
        pid = (ready.get("model") or {}).get("engineProcess") if isinstance(ready.get("model"), dict) \
            else getattr(ready.get("model"), "engineProcess", None)
        assert pid and pid != os.getpid()
        open_doc(client, URI, TEXT)
        pending = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(URI, 1, 4)))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)  # llama.cpp crashing mid-generation
        crashed = await asyncio.wait_for(pending, 10)
        assert list(crashed.items) == []  # answered, not hung
        # the user is told, and the engine comes back by itself
        for _ in range(100):
            states = [s["state"] for s in status.statuses]
            if "degraded" in states and states[-1] == "ready":
                break
            await asyncio.sleep(0.1)
        assert "degraded" in states and states[-1] == "ready"
        assert any("stopped unexpectedly" in m.message for m in client.messages)
        # a fresh request is served by the restarted engine (script replayed from its start)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=1, character=4),
                                  end=types.Position(line=1, character=4)), text="x = ")]))
        result = await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(URI, 1, 8)), 20)
        assert result.items and result.items[0].insert_text.startswith("one two")

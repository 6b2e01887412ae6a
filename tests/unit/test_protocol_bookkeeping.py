"""The server keeps no per-message state once a message is handled (no growth per keystroke),
and keeps one copy of each document.

pygls files the future of each async or generator handler under a message id
and only a request's answer removed it: every didOpen/didChange/didClose left
one behind (about 1 kB a keystroke, found by benchmarks/load_replay.py). The
server is driven in-process here, message by message, through the same entry
point the stdio loop uses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from qwill.config import parse_settings
from qwill.lsp.framing import handle_body
from qwill.lsp.server import create_server
from qwill.session import Session


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def close(self) -> None:
        pass


async def test_no_future_is_kept_after_notifications_and_requests_end() -> None:
    server = create_server(Session(parse_settings({"engine": {"model": "fake:"}}).settings))
    sink = Sink()
    server.protocol.set_writer(sink)

    def send(msg: dict[str, Any]) -> None:
        handle_body(server.protocol, json.dumps({"jsonrpc": "2.0", **msg}).encode())

    send({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
    send({"method": "initialized", "params": {}})
    await asyncio.sleep(0.2)
    for k in range(20):
        uri = f"file:///doc{k}.py"
        send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": "def f():\n    \n"}}})
        for i in range(25):
            send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": i + 2},
                "contentChanges": [{"range": {"start": {"line": 1, "character": 4 + i},
                                              "end": {"line": 1, "character": 4 + i}}, "text": "x"}]}})
            send({"id": f"c{k}-{i}", "method": "textDocument/inlineCompletion", "params": {
                "textDocument": {"uri": uri}, "position": {"line": 1, "character": 5 + i},
                "context": {"triggerKind": 2}}})
            if i % 2:
                send({"method": "$/cancelRequest", "params": {"id": f"c{k}-{i}"}})
            await asyncio.sleep(0)
        # pygls' own copy of the document (ls.workspace) is the store's text, not a rebuild
        assert server.workspace.get_text_document(uri).source is server.session.documents.get(uri).text
        send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
        await asyncio.sleep(0.01)
    for _ in range(200):
        if not server.protocol._request_futures:
            break
        await asyncio.sleep(0.01)
    assert server.protocol._request_futures == {}
    answered = [json.loads(chunk.split(b"\r\n\r\n", 1)[1]) for chunk in sink.out]
    ids = {m.get("id") for m in answered if "id" in m}
    assert {f"c{k}-{i}" for k in range(20) for i in range(25)} <= ids  # answered or cancelled
    server.session.close()

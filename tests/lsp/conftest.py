"""Drive the real `qwill serve` over stdio with pytest-lsp's client."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client


class StatusClient:
    """Collects `qwill/status` notifications."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.statuses: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

        @client.feature("qwill/status")
        def on_status(ls: Any, params: Any) -> None:
            data = params if isinstance(params, dict) else {
                "state": getattr(params, "state", None), "message": getattr(params, "message", ""),
                "model": getattr(params, "model", None), "agentMode": getattr(params, "agentMode", None)}
            self.statuses.append(data)
            if data["state"] in ("ready", "error"):
                self.ready.set()

    async def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        await asyncio.wait_for(self.ready.wait(), timeout)
        return self.statuses[-1]


@contextlib.asynccontextmanager
async def lsp_session(
    model: str,
    *,
    init_options: dict[str, Any] | None = None,
    client_name: str = "visual-studio-code",
    wait: bool = True,
    extra_args: tuple[str, ...] = (),
    workspace: str | None = None,
    capabilities: types.ClientCapabilities | None = None,
) -> AsyncIterator[tuple[LanguageClient, StatusClient]]:
    client = make_test_lsp_client()
    status = StatusClient(client)
    await client.start_io(sys.executable, "-m", "qwill", "serve", "--model", model, *extra_args)
    opts = {"engine": {"model": model}}
    if init_options:
        for key, value in init_options.items():
            if isinstance(value, dict) and isinstance(opts.get(key), dict):
                opts[key].update(value)
            else:
                opts[key] = value
    try:
        result = await client.initialize_session(types.InitializeParams(
            capabilities=capabilities or client_capabilities(client_name),
            initialization_options=opts,
            client_info=types.ClientInfo(name="pytest"),
            workspace_folders=[types.WorkspaceFolder(uri=Path(workspace).as_uri(), name="ws")]
            if workspace else None,
        ))
        client.server_capabilities = result.capabilities  # type: ignore[attr-defined]
        if wait:
            await status.wait_ready()
        yield client, status
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 15)


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)))


def inline_params(uri: str, line: int, character: int, invoked: bool = False) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind))

"""initialize / initialized / didChangeConfiguration / shutdown: settings, model loading,
the agent's MCP servers stopped at shutdown, the usage counts kept (every minute and at
shutdown)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...context.document import position_encoding

if TYPE_CHECKING:
    from ..server import QwillServer


def _report(server: QwillServer, problems: list[str]) -> None:
    if problems:
        server.show("; ".join(problems))


def register(server: QwillServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: QwillServer, params: types.InitializeParams) -> None:
        caps = params.capabilities
        ls.client_supports_progress = bool(caps.window and caps.window.work_done_progress)
        ls.client_supports_configuration = bool(caps.workspace and caps.workspace.configuration)
        ls.client_name = params.client_info.name if params.client_info else ""
        # pygls chose the encoding (the client's first of utf-8, utf-16, utf-32) and says so
        # in the server's capabilities; every position Qwill reads or writes counts in it
        chosen = ls.workspace.position_encoding
        ls.session.documents.use_encoding(
            position_encoding(types.PositionEncodingKind(chosen).value if chosen is not None else None))
        result = ls.session.update_settings(params.initialization_options or {})
        # window/showMessage is not allowed before `initialized`; keep them until then.
        ls.pending_problems = result.problems

    @server.feature(types.INITIALIZED)
    def initialized(ls: QwillServer, params: types.InitializedParams) -> None:
        _report(ls, ls.pending_problems)
        ls.pending_problems = []
        ls.background["load"] = asyncio.ensure_future(ls.load_model_with_progress())
        ls.background["usage"] = asyncio.ensure_future(_flush_usage(ls))
        for hook in ls.on_initialized:  # features that start background work (workspace index)
            hook()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: QwillServer, params: None) -> None:
        ls.session.usage.flush()
        await ls.session.agent_runs.aclose()  # the agent's MCP servers

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: QwillServer, params: types.DidChangeConfigurationParams) -> None:
        raw: Any = params.settings
        if raw is None and ls.client_supports_configuration:
            items = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="qwill")]))
            raw = items[0] if items else None
        if raw is None:
            return
        mode = ls.session.settings.agent.approval_mode
        result = ls.session.update_settings(raw)
        _report(ls, result.problems)
        if ls.session.settings.agent.approval_mode != mode:
            ls.resend_status()
        if result.engine_changed:
            await ls.load_model_with_progress(changed_only=True)


USAGE_FLUSH_SECONDS = 60.0  # a server that dies loses at most this much of the usage counts


async def _flush_usage(ls: QwillServer) -> None:
    while True:
        await asyncio.sleep(USAGE_FLUSH_SECONDS)
        ls.session.usage.flush()

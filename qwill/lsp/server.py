"""The Qwill language server: a pygls server that owns one Session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .. import __version__
from ..session import ModelState, ModelStatus, Session
from .pygls_compat import QwillProtocol

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "qwill/status"


class QwillServer(LanguageServer):
    def __init__(self, session: Session | None = None) -> None:
        super().__init__(
            "qwill", __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=QwillProtocol,
        )
        self.session = session or Session()
        self.session.status_listeners.append(self._on_status)
        self.session.agent_status_listeners.append(self._on_agent_status)
        self.client_supports_progress = False
        self.client_supports_configuration = False
        self.client_name = ""
        # called after `initialized` (model loading has started), e.g. the workspace index
        self.on_initialized: list[Callable[[], None]] = []
        # settings problems found in `initialize`, shown once `initialized` allows messages
        self.pending_problems: list[str] = []
        # the protocol's own background work: model loading, workspace indexing, file watching
        self.background: dict[str, asyncio.Future[object]] = {}
        # warm-ups of the prompt at a new place (kept referenced until done)
        self.warm_tasks: set[asyncio.Future[None]] = set()
        # documents the user was told are too large for suggestions
        self.told_too_large: set[str] = set()

    # -- transports: our reader checks framing and JSON-RPC before pygls (framing.py) --
    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        from .framing import serve_stdio

        serve_stdio(self, stdin, stdout)

    def start_tcp(self, host: str, port: int) -> None:
        from .framing import serve_tcp

        serve_tcp(self, host, port)

    def shutdown(self) -> None:
        # the transport ended (after `exit`, or the editor went away): keep the usage counts
        self.session.usage.flush()
        super().shutdown()  # type: ignore[no-untyped-call]

    # -- helpers used by features -------------------------------------------------
    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"Qwill: {message}"))

    def log_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def _on_status(self, status: ModelStatus) -> None:
        info = status.info
        payload: dict[str, Any] = {"state": status.state.value, "message": status.message,
                                   "agentMode": self.session.settings.agent.approval_mode}
        if info is not None:
            payload["model"] = {
                "name": info.name, "path": info.path, "architecture": info.architecture,
                "fileSize": info.file_size, "contextLength": info.context_length,
                "parameters": info.parameters, "expertCount": info.expert_count,
                "expertUsedCount": info.expert_used_count, "fimTemplate": info.fim_template,
                "activeParameters": info.active_parameters or info.parameters,
                "placement": info.placement, "memory": info.memory,
                "engineProcess": int(info.extra["pid"]) if info.extra.get("pid", "").isdigit() else None,
            }
        self.protocol.notify(STATUS_NOTIFICATION, payload)
        if status.state is ModelState.ERROR:
            self.show(status.message, types.MessageType.Error)
        elif status.state is ModelState.DEGRADED:  # a remote engine's server is failing
            self.show(status.message, types.MessageType.Warning)

    def resend_status(self) -> None:
        """Tell the client the status again (the agent's approval mode changed)."""
        self._on_status(self.session.status)

    def _on_agent_status(self, status: ModelStatus) -> None:
        # Only a separate agent engine (agentEngine.backend) reports here.
        if status.state in (ModelState.ERROR, ModelState.DEGRADED):
            self.show(status.message, types.MessageType.Warning)

    async def load_model_with_progress(self, *, changed_only: bool = False) -> None:
        """Load the model in the background, reporting `$/progress` to the client
        (`changed_only`: only the engines whose settings changed, see Session.load_model)."""
        from .progress import WorkProgress

        progress = await WorkProgress.start(
            self, "model", "Qwill", f"loading model {self.session.settings.engine.model}")
        status = await self.session.load_model(progress.report, changed_only=changed_only)
        progress.end(status.message)


def create_server(session: Session | None = None) -> QwillServer:
    from .features import (
        code_action,
        completion,
        execute_command,
        inline_completion,
        lifecycle,
        next_edit,
        stats,
        text_sync,
        workspace,
    )

    server = QwillServer(session)
    for module in (lifecycle, text_sync, inline_completion, completion, workspace, stats, code_action,
                   execute_command, next_edit):
        module.register(server)
    from .features import agent as agent_feature
    agent_feature.register(server)
    return server

"""Every place Qwill reaches past pygls' public API, in one module, each with its reason.

pygls is the protocol layer Qwill builds on; where its behaviour costs a user something
(memory that grows per keystroke, a second copy of every buffer, a position rewritten in
place) Qwill overrides a method, and where framing.py answers messages pygls cannot read
it needs a few of pygls' private attributes. All of that is here, so an upgrade of pygls
has one file to re-check, and tests/unit/test_pygls_compat.py fails when what these rely
on changes: a private name gone, a signature changed, a pygls version not checked yet,
or an upstream fix that makes an override unnecessary.

Checked against pygls 2.1 (`VERIFIED`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future as ThreadFuture
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from .server import QwillServer

log = logging.getLogger(__name__)

# pygls major.minor versions these overrides and accessors were checked against
VERIFIED = ("2.1",)

# (class, name): every private attribute or overridden method this module relies on,
# for the test that checks they still exist as used.
OVERRIDDEN = (
    (LanguageServerProtocol, "_execute_handler"),
    (LanguageServerProtocol, "lsp_text_document__did_change"),
)
PRIVATE_METHODS = (
    (LanguageServerProtocol, "_get_handler"),
    (LanguageServerProtocol, "_send_data"),
)
# set in __init__, so checked on an instance
PRIVATE_ATTRIBUTES = ("_request_futures", "_shutdown", "_workspace", "_server")
SERVER_ATTRIBUTES = ("_stop_event", "_server")


class QwillProtocol(LanguageServerProtocol):
    """pygls' LanguageServerProtocol with two overrides (reasons inline)."""

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any,
                         args: Any = None, kwargs: Any = None) -> None:
        # Memory, per keystroke: pygls files the future of every async/generator handler
        # in `_request_futures` under its message id, and gives each notification a fresh
        # uuid as its id (json_rpc._handle_notification); only a request's answer takes a
        # future out again, so each didOpen/didChange/didClose left one behind for good,
        # ~1 kB a keystroke (the sibling leaks upstream: pygls#607, #608). Take it out when
        # done.
        def done(future: Any) -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]
            callback(future)
            # An error has been answered (and logged): its traceback's frames (a handler's
            # locals, e.g. a 10 MB document) sit in a reference cycle with this future until
            # a full garbage collection, 60 MB a time for a too-large document. Cut it now.
            exc = None if future.cancelled() else future.exception()
            for _ in range(8):  # the chain (cause, context) is short
                if exc is None:
                    break
                exc.__traceback__ = None
                exc = exc.__cause__ or exc.__context__

        super()._execute_handler(msg_id, handler, done, args, kwargs)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        # Qwill's DocumentStore is the buffer every feature reads. pygls keeps a second
        # copy (ls.workspace) that it re-splits and rebuilds on every change (~0.9 s a
        # keystroke on a 10 MB file), and it clamped a column past the end of a line by
        # rewriting the client's Position in place (one short), which our store then read.
        # So the store applies the change first and pygls' copy takes its text by reference.
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
        server = cast("QwillServer", self._server)
        doc = server.session.documents.get(params.text_document.uri)
        if doc is not None:
            try:
                self.workspace.update_text_document(
                    params.text_document, types.TextDocumentContentChangeWholeDocument(text=doc.text))
            except Exception:
                log.exception("pygls' copy of %s could not be updated", params.text_document.uri)


# -- private state framing.py needs ---------------------------------------------------------
# framing.py reads and checks every message before pygls does (pygls' reader trusts its
# input: see framing.py), so it answers some messages itself and must know what pygls
# would: whether a method has a handler, whether `initialize` has run, whether `shutdown`
# has; and it sends raw JSON-RPC errors for messages pygls cannot represent.

def send_data(protocol: LanguageServerProtocol, data: dict[str, Any]) -> None:
    """Write one JSON-RPC message as it is (an error for a message pygls cannot parse)."""
    protocol._send_data(data)


def has_handler(protocol: LanguageServerProtocol, method: str) -> bool:
    try:
        protocol._get_handler(method)
    except JsonRpcMethodNotFound:
        return False
    return True


def shutting_down(protocol: LanguageServerProtocol) -> bool:
    """`shutdown` has been received (pygls sets `_shutdown` in lsp_shutdown)."""
    return bool(protocol._shutdown)


def initialized(protocol: LanguageServerProtocol) -> bool:
    """`initialize` has run (pygls creates the workspace there; `.workspace` raises before)."""
    return protocol._workspace is not None


# -- transports -----------------------------------------------------------------------------
# framing.py replaces pygls' reader loops (start_io / start_tcp) with its checked one; pygls'
# shutdown() still has to stop them, which it does through these two attributes.

def install_stop_event(server: LanguageServer) -> threading.Event:
    """The event `server.shutdown()` sets to end the reader loop."""
    event = threading.Event()
    server._stop_event = event
    return event


def register_tcp_server(server: LanguageServer, tcp: Any) -> None:
    """So that `server.shutdown()` closes the listening socket, as pygls' own start_tcp does."""
    server._server = tcp


def stdout_writer(stream: BinaryIO) -> StdoutWriter:
    """pygls' framed writer for stdout (pygls.io_ is not documented as public)."""
    return StdoutWriter(stream)


# -- work-done progress ---------------------------------------------------------------------

def progress_future(ls: LanguageServer, token: str) -> ThreadFuture[Any] | None:
    """The future pygls cancels when the client sends window/workDoneProgress/cancel."""
    return ls.work_done_progress.tokens.get(token)


def forget_progress(ls: LanguageServer, token: str) -> None:
    """pygls keeps every token's future after `end` (pygls#607); drop it."""
    ls.work_done_progress.tokens.pop(token, None)


# -- the client side (qwill demo) -----------------------------------------------------------

def client_stderr(client: Any) -> Any:
    """The stderr pipe of the server process a pygls LanguageClient started (`start_io`)."""
    process = client._server
    return process.stderr if process is not None else None

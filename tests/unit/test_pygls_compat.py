"""What qwill/lsp/pygls_compat.py relies on in pygls is still there, and still needed.

Fails when pygls changes under Qwill: a version the overrides were not checked
against, a private name gone, a signature changed, or an upstream fix that makes one
of the overrides unnecessary (then the message says which one can go).
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import pytest
from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.client import LanguageClient
from pygls.lsp.server import LanguageServer
from pygls.progress import Progress
from pygls.protocol import LanguageServerProtocol

from qwill.lsp import pygls_compat
from qwill.lsp.server import create_server


def test_the_installed_pygls_is_a_version_the_overrides_were_checked_against() -> None:
    installed = ".".join(version("pygls").split(".")[:2])
    assert installed in pygls_compat.VERIFIED, (
        f"pygls {version('pygls')} is installed; qwill/lsp/pygls_compat.py was checked against "
        f"{pygls_compat.VERIFIED}. Re-read each override and accessor there against this pygls, "
        "then add the version to VERIFIED.")


@pytest.mark.parametrize(("owner", "name"), pygls_compat.OVERRIDDEN + pygls_compat.PRIVATE_METHODS)
def test_each_private_method_still_exists(owner: type, name: str) -> None:
    assert callable(getattr(owner, name, None)), f"pygls has no {owner.__name__}.{name} any more"


def test_the_overridden_methods_keep_the_signatures_we_call() -> None:
    params = list(inspect.signature(LanguageServerProtocol._execute_handler).parameters)
    assert params == ["self", "msg_id", "handler", "callback", "args", "kwargs"]
    assert list(inspect.signature(LanguageServerProtocol._send_data).parameters) == ["self", "data"]
    assert list(inspect.signature(LanguageServerProtocol._get_handler).parameters) == ["self", "feature_name"]
    # pygls registers built-in features by the method name lsp_method sets
    assert LanguageServerProtocol.lsp_text_document__did_change.method_name == types.TEXT_DOCUMENT_DID_CHANGE


def test_our_protocol_is_the_one_in_use_and_replaces_the_builtin_did_change() -> None:
    server = create_server()
    protocol = server.protocol
    assert isinstance(protocol, pygls_compat.QwillProtocol)
    builtin = protocol.fm.builtin_features[types.TEXT_DOCUMENT_DID_CHANGE]
    assert builtin.__func__ is pygls_compat.QwillProtocol.lsp_text_document__did_change
    for name in pygls_compat.PRIVATE_ATTRIBUTES:
        assert hasattr(protocol, name), f"pygls' protocol has no {name} any more"
    assert isinstance(protocol._request_futures, dict) and protocol._shutdown is False
    assert protocol._server is server
    assert not pygls_compat.initialized(protocol) and not pygls_compat.shutting_down(protocol)
    assert pygls_compat.has_handler(protocol, types.TEXT_DOCUMENT_DID_CHANGE)
    assert not pygls_compat.has_handler(protocol, "qwill/noSuchMethod")
    for name in pygls_compat.SERVER_ATTRIBUTES:
        assert hasattr(server, name), f"pygls' server has no {name} any more"
    assert pygls_compat.install_stop_event(server) is server._stop_event


def test_the_writer_the_progress_tokens_and_the_client_process_are_where_we_read_them() -> None:
    assert callable(getattr(StdoutWriter, "write", None))
    assert hasattr(LanguageClient("t", "1"), "_server")
    assert isinstance(Progress(LanguageServer("t", "1").protocol).tokens, dict)


# -- the upstream behaviour each override works around, still there ------------------------
class _Sink:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:
        pass


async def test_stock_pygls_still_keeps_a_future_per_notification() -> None:
    ls = LanguageServer("stock", "1")
    ls.protocol.set_writer(_Sink())
    for n in range(3):
        ls.protocol.handle_message(ls.protocol.structure_message({
            "jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_DID_OPEN,
            "params": {"textDocument": {"uri": f"file:///{n}.py", "languageId": "python", "version": 1,
                                        "text": "x = 1\n"}}}))
    await asyncio.sleep(0.05)
    assert len(ls.protocol._request_futures) >= 3, (
        "pygls no longer keeps a future per notification: QwillProtocol._execute_handler's clean-up "
        "(pygls_compat.py) may go")


def test_stock_pygls_still_keeps_progress_tokens_after_end() -> None:
    ls = LanguageServer("stock", "1")
    ls.protocol.set_writer(_Sink())
    ls.work_done_progress.begin("t", types.WorkDoneProgressBegin(title="x"))
    ls.work_done_progress.end("t", types.WorkDoneProgressEnd())
    assert "t" in ls.work_done_progress.tokens, (
        "pygls now forgets a progress token at its end (pygls#607): pygls_compat.forget_progress may go")

"""API keys never reach the log or the client, even at `--log-level debug`.

pygls logs the initialize params (with initializationOptions) at info level and
configuration results at debug level; `engine.apiKey` travels in both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .raw_client import RawServer

KEY = "sk-qwill-test-0123456789abcdef"


@pytest.mark.parametrize("level", ["info", "debug"])
def test_the_api_key_is_not_in_the_log_or_any_message(tmp_path: Path, level: str) -> None:
    log = tmp_path / "server.log"
    srv = RawServer("default", "--log-level", level, stderr_path=log, env={"MY_TEAM_API_KEY": KEY + "-env"})
    srv.start()
    try:
        # a remote engine that cannot be reached: connection errors get logged and shown
        srv.initialize(init_options={"engine": {"backend": "llama-server", "url": "http://127.0.0.1:9",
                                                "apiKey": KEY, "model": "m", "retries": 0}})
        status = srv.wait_ready(90)
        assert status["state"] == "error"
        srv.notify("workspace/didChangeConfiguration", {"settings": {"engine": {
            "apiKey": KEY + "-new", "apiKeyEnv": "MY_TEAM_API_KEY"}}})
        srv.ping()
        srv.request("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///x.py"},
                                                      "position": {"line": 0, "character": 0},
                                                      "context": {"triggerKind": 1}})
    finally:
        srv.close()
    text = log.read_text(errors="replace")
    assert "apiKey" in text or level == "info"  # the messages were logged, only redacted
    assert KEY not in text
    seen = json.dumps([srv.notifications, srv.server_requests, list(srv.responses.values())])
    assert KEY not in seen

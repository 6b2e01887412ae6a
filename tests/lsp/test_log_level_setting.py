"""The `logLevel` setting sets the server's log verbosity, from initializationOptions and
as it changes; `--log-level` on the command line overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .raw_client import RawServer


def _levels(text: str) -> set[str]:
    """The levels of the log lines in `text` (the CLI's format: date time LEVEL name: ...)."""
    return {parts[2] for line in text.splitlines() if len(parts := line.split(" ", 3)) > 3
            and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR")}


def _session(srv: RawServer, log: Path, init: dict[str, object], change: dict[str, object]) -> tuple[str, str]:
    """The log written while the server runs with `init`, then once `change` is applied
    (the notification carrying it is logged at the old level)."""
    srv.initialize(init_options=init)
    srv.wait_ready(60)
    srv.ping()
    srv.notify("workspace/didChangeConfiguration", {"settings": change})
    srv.ping()
    before = log.read_text(errors="replace")
    srv.request("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///not-open.py"},
                                                  "position": {"line": 0, "character": 0},
                                                  "context": {"triggerKind": 1}})
    srv.ping()
    return before, log.read_text(errors="replace")[len(before):]


def test_the_setting_sets_the_level_and_follows_changes(fake_script, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with RawServer(fake_script(), stderr_path=log) as srv:
        before, after = _session(srv, log, {"logLevel": "debug"}, {"logLevel": "error"})
    assert "DEBUG" in _levels(before)  # requests received, logged at debug
    assert _levels(after) <= {"ERROR"}, after


def test_the_default_keeps_message_bodies_out(fake_script, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with RawServer(fake_script(), stderr_path=log) as srv:
        before, after = _session(srv, log, {}, {"completion": {"maxTokens": 32}})
    assert not _levels(before + after) & {"DEBUG", "INFO"}, before + after


@pytest.mark.parametrize("flag", ["warning", "debug"])
def test_the_command_line_flag_overrides_the_setting(fake_script, tmp_path: Path, flag: str) -> None:
    log = tmp_path / "server.log"
    other = "debug" if flag == "warning" else "error"
    with RawServer(fake_script(), "--log-level", flag, stderr_path=log) as srv:
        before, after = _session(srv, log, {"logLevel": other}, {"logLevel": other})
    seen = _levels(before + after)
    if flag == "warning":
        assert not seen & {"DEBUG", "INFO"}
    else:
        assert "DEBUG" in seen

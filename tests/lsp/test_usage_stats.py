"""Shown/accepted counts survive a restart: two real servers in a row (fake engine),
each shows and accepts suggestions; `qwill doctor` then shows the sum of both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from .conftest import lsp_session
from .test_next_edit import ANSWER, _next_edit, _open_renamed


async def _inline(client: Any, uri: str, line: int, character: int) -> types.InlineCompletionList:
    items = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert isinstance(items, types.InlineCompletionList) and items.items, items
    return items


async def _session(fake_script: Any, tmp_path: Path, outcome: str) -> None:
    """One editor session: a next edit shown and then `outcome`, one inline suggestion shown
    and accepted (the item's command, as VS Code runs it)."""
    async with lsp_session(fake_script([ANSWER], default="print(area(3))")) as (client, _):
        _, uri = _open_renamed(client, tmp_path)
        result = await _next_edit(client, uri, 3, 10)
        assert result["id"], result
        client.protocol.notify("qwill/nextEdit/shown", {"id": result["id"]})
        client.protocol.notify(f"qwill/nextEdit/{outcome}", {"id": result["id"]})
        items = await _inline(client, uri, 10, 0)
        command = items.items[0].command
        assert command is not None
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))


async def test_counts_survive_a_restart_and_doctor_shows_them(fake_script, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("QWILL_STATE_DIR", str(state))  # the servers inherit it
    await _session(fake_script, tmp_path, "accepted")
    first = json.loads((state / "usage-stats.json").read_text())
    assert (first["next_edit_shown"], first["next_edit_accepted"], first["inline_accepted"]) == (1, 1, 1)
    await _session(fake_script, tmp_path, "rejected")
    out = subprocess.run([sys.executable, "-m", "qwill", "doctor", "--json", "--no-load"], capture_output=True,
                         text=True, timeout=120, check=False)
    usage = json.loads(out.stdout)["facts"]["usage"]
    assert (usage["next_edit_shown"], usage["next_edit_accepted"], usage["next_edit_dismissed"]) == (2, 1, 1)
    assert usage["inline_accepted"] == 2 and usage["inline_shown"] >= 2
    assert usage["path"] == str(state / "usage-stats.json")

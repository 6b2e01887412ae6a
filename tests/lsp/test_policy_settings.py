"""Policy settings sent by an editor are used only once the user confirms them.

A workspace's own settings file can carry `qwill.agent.testCommand` or
`shellAllow`; the real server, driven over stdio, asks once
(window/showMessageRequest) before the agent uses such values, keeps running with
the built-in policy when the user says no, and does not ask again for values the
user confirmed (the answer is stored in the state directory, here a temporary one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from .conftest import lsp_session
from .test_agent import call, make_repo, plain, run


class User:
    """Answers the server's questions: confirm policy settings or not; never runs commands."""

    def __init__(self, client: Any, confirm: bool) -> None:
        self.asked: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.confirm = confirm

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(ls: Any, params: types.ShowMessageRequestParams) -> types.MessageActionItem:
            self.asked.append(params.message)
            titles = [a.title for a in params.actions or []]
            if "Use them" in titles:
                return types.MessageActionItem(title="Use them" if self.confirm else "Ignore")
            return types.MessageActionItem(title="Deny")

        @client.feature("qwill/agentEvent")
        def on_event(ls: Any, params: Any) -> None:
            self.events.append(plain(params))

    def result_of(self, tool: str) -> str:
        return next(e["output"] for e in self.events if e["kind"] == "tool_result" and e["name"] == tool)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("QWILL_STATE_DIR", str(d))  # the server inherits it
    return d


async def test_a_test_command_from_the_editor_runs_only_once_confirmed(fake_script, tmp_path: Path,
                                                                        state_dir: Path) -> None:
    root = make_repo(tmp_path)
    opts = {"agent": {"testCommand": "echo TESTS-RAN-HERE"}}
    script = [call("run_tests"), "done"]
    async with lsp_session(fake_script(script), init_options=opts) as (client, _):
        user = User(client, confirm=False)
        assert (await run(client, task="test it", root=root.as_uri()))["status"] == "done"
        assert len(user.asked) == 1 and "echo TESTS-RAN-HERE" in user.asked[0]
        assert "TESTS-RAN-HERE" not in user.result_of("run_tests")
        assert "testCommand" in user.result_of("run_tests")  # built-in policy: no test command
    async with lsp_session(fake_script(script), init_options=opts) as (client, _):
        user = User(client, confirm=True)
        assert (await run(client, task="test it", root=root.as_uri()))["status"] == "done"
        assert len(user.asked) == 1
        assert "TESTS-RAN-HERE" in user.result_of("run_tests")
    async with lsp_session(fake_script(script), init_options=opts) as (client, _):
        user = User(client, confirm=False)
        assert (await run(client, task="test it", root=root.as_uri()))["status"] == "done"
        assert user.asked == []  # confirmed once: not asked again for the same value
        assert "TESTS-RAN-HERE" in user.result_of("run_tests")


async def test_allow_patterns_from_the_editor_are_ignored_unless_confirmed(fake_script, tmp_path: Path,
                                                                           state_dir: Path) -> None:
    root = make_repo(tmp_path)
    opts = {"agent": {"shellAllow": ["awk"]}}
    script = [call("run_command", command="awk 'BEGIN{print 42}'"), "done"]
    async with lsp_session(fake_script(script), init_options=opts) as (client, _):
        user = User(client, confirm=False)
        assert (await run(client, task="x", root=root.as_uri()))["status"] == "done"
        assert any("awk" in q for q in user.asked[:1])
        # not confirmed: awk is not on the allow list, so the command itself is asked about (and denied)
        assert any("wants to run" in q for q in user.asked)
        assert "declined" in user.result_of("run_command")

"""The agent on a remote engine that parses tool calls itself (OpenAI `tools` /
`tool_calls`), against a scripted HTTP server on 127.0.0.1 (tests/remote_peer.py): the
tools go in the request, the calls come back streamed, results answer each call id, and
the agent falls back to its text formats when the server refuses the tools or its
model writes the calls as text. Everything the server sends is hostile input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwill.agent.appliers import DiskApplier
from qwill.agent.loop import Agent, AgentEvent, new_session
from qwill.config import AgentSettings
from qwill.engine.remote import HttpOptions, RemoteEngine, RemoteOptions
from qwill.engine.worker import EngineWorker

from ..remote_peer import (
    Peer,
    chat_answer,
    completion_events,
    json_reply,
    openai_models,
    sequence,
    sse,
)

APP = "def area(r):\n    return 3.14 * r * r\n"
EDIT = {"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2"}
FAST = HttpOptions(connect_timeout=2.0, read_timeout=5.0, retries=0, retry_backoff=0.01)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "geo.py").write_text(APP)
    return root


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    p.route("GET", "/v1/models", openai_models("qwen2.5-coder-1.5b-instruct"))
    yield p
    p.close()


class Run:
    def __init__(self, peer: Peer, repo: Path, tmp: Path, settings: AgentSettings | None = None) -> None:
        self.peer = peer
        self.worker = EngineWorker()
        self.worker.load(lambda: RemoteEngine(RemoteOptions(backend="openai", url=peer.url, http=FAST))).result()
        self.events: list[AgentEvent] = []
        self.session = new_session(repo, store_dir=tmp / "store")
        self.agent = Agent(self.worker, settings or AgentSettings(), DiskApplier(repo),
                           on_event=self.events.append, context_size=8192)

    async def run(self, task: str = "use math.pi in geo.py"):
        try:
            return await self.agent.run(self.session, task)
        finally:
            self.worker.shutdown(wait=False)

    def kinds(self, kind: str) -> list[AgentEvent]:
        return [e for e in self.events if e.kind == kind]

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.peer.requests_to("/v1/chat/completions")]


async def test_tools_go_to_the_server_and_its_calls_are_run(peer: Peer, repo: Path, tmp_path: Path) -> None:
    peer.route("POST", "/v1/chat/completions", sequence(
        chat_answer(("read_file", {"path": "geo.py"}), text="Reading."),
        chat_answer(("edit_file", EDIT)),
        chat_answer(text="Done: area uses math.pi.")))
    r = Run(peer, repo, tmp_path)
    result = await r.run()
    assert result.reason == "done" and result.message == "Done: area uses math.pi."
    assert (repo / "geo.py").read_text() == "import math\n\n\ndef area(r):\n    return math.pi * r ** 2\n"
    assert result.server_tools and not result.grammar
    assert result.tool_calls == 2 and result.malformed_calls == 0 and result.invalid_calls == 0
    assert [e.data["format"] for e in r.kinds("tool_call")] == ["server", "server"]
    assert peer.requests_to("/v1/completions") == []  # no text-format request at all
    bodies = r.chat_bodies()
    assert len(bodies) == 3
    names = {t["function"]["name"] for t in bodies[0]["tools"]}
    assert {"read_file", "edit_file", "finish"} <= names
    # the system turn does not list the tools a second time: the server renders them
    assert "<tool_call>" not in bodies[0]["messages"][0]["content"]
    # the second request carries the call and its result, tied by the call's id
    second = bodies[1]["messages"]
    assistant = second[-2]
    assert assistant["role"] == "assistant" and assistant["content"] == "Reading."
    assert assistant["tool_calls"] == [{"id": "call_0_read_file", "type": "function",
                                        "function": {"name": "read_file", "arguments": '{"path": "geo.py"}'}}]
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_0_read_file"
    assert "1| def area(r):" in second[-1]["content"]
    # history is append-only: each request extends the one before
    assert bodies[2]["messages"][: len(second)] == second
    assert "edited geo.py" in bodies[2]["messages"][-1]["content"]
    # prose streamed as it came; prefill from the server's usage
    assert "".join(e.data["text"] for e in r.kinds("text")).startswith("Reading.")
    assert result.stats[0].prompt_tokens == 120


async def test_a_server_that_refuses_tools_gets_the_text_formats(peer: Peer, repo: Path, tmp_path: Path) -> None:
    peer.route("POST", "/v1/chat/completions", json_reply(
        500, {"error": {"message": "tools param requires --jinja flag"}}))
    edit = '<tool_call>\n' + json.dumps({"name": "edit_file", "arguments": EDIT}) + '\n</tool_call>'
    peer.route("POST", "/v1/completions", sequence(
        sse(completion_events([edit], finish="stop")), sse(completion_events(["All done."], finish="stop"))))
    r = Run(peer, repo, tmp_path)
    result = await r.run()
    assert result.reason == "done" and result.message == "All done."
    assert "math.pi" in (repo / "geo.py").read_text()
    assert not result.server_tools and r.session.server_tools is False
    assert len(r.chat_bodies()) == 1  # asked once, then never again
    prompts = [q.body["prompt"] for q in peer.requests_to("/v1/completions")]
    assert len(prompts) == 2
    # the text formats: the tool list in the system turn, results as <tool_response>
    assert prompts[0].count('"name": "edit_file"') == 1 and "<tool_call>" in prompts[0]
    assert prompts[1].startswith(prompts[0]) and "<tool_response>" in prompts[1]
    (notice,) = r.kinds("notice")
    assert "--jinja" in notice.data["message"] and "text formats" in notice.data["message"]


async def test_calls_written_as_text_are_run_then_the_text_formats_take_over(
        peer: Peer, repo: Path, tmp_path: Path) -> None:
    # a server that takes `tools` but does not parse its model's calls (llama-cpp-python
    # on a GGUF's own template): the call arrives as text in `content`
    text_call = '<tool_call>\n' + json.dumps({"name": "edit_file", "arguments": EDIT}) + '\n</tool_call>'
    peer.route("POST", "/v1/chat/completions", sequence(
        chat_answer(("read_file", {"path": "geo.py"})), chat_answer(text=text_call)))
    peer.route("POST", "/v1/completions", sse(completion_events(["Finished."], finish="stop")))
    r = Run(peer, repo, tmp_path)
    result = await r.run()
    assert result.reason == "done" and "math.pi" in (repo / "geo.py").read_text()
    assert [e.data["format"] for e in r.kinds("tool_call")] == ["server", "hermes"]
    assert len(r.chat_bodies()) == 2 and r.session.server_tools is False
    (prompt,) = [q.body["prompt"] for q in peer.requests_to("/v1/completions")]
    # the whole history in the text form: the server's call as a <tool_call> block, its
    # result and the text call's as <tool_response>
    assert '<tool_call>\n{"name": "read_file", "arguments": {"path": "geo.py"}}\n</tool_call>' in prompt
    assert prompt.count("<tool_response>") == 2 and "edited geo.py" in prompt
    assert prompt.count('"name": "edit_file"') >= 2  # the tool list, and the model's call


async def test_hostile_calls_are_answered_with_errors_and_the_run_goes_on(
        peer: Peer, repo: Path, tmp_path: Path) -> None:
    peer.route("POST", "/v1/chat/completions", sequence(
        # arguments that are not JSON, a repeated id, a tool that does not exist, no name
        chat_answer(("read_file", "{path: geo.py"), ("read_file", {"path": "geo.py"}),
                    ("rm_rf", {"path": "/"}), ("", {}), ids=["x", "x", None, "y" * 500]),
        chat_answer(text="Nothing to change.")))
    r = Run(peer, repo, tmp_path)
    result = await r.run("look at geo.py")
    assert result.reason == "done" and (repo / "geo.py").read_text() == APP
    assert result.malformed_calls == 1
    messages = r.chat_bodies()[1]["messages"]
    calls = messages[-5]["tool_calls"]
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == 4 and all(len(i) <= 64 for i in ids)
    # arguments in the history are always a JSON object, whatever the server sent
    assert all(isinstance(json.loads(c["function"]["arguments"]), dict) for c in calls)
    answers = messages[-4:]
    assert [m["tool_call_id"] for m in answers] == ids
    assert "could not be read" in answers[0]["content"]
    assert "1| def area(r):" in answers[1]["content"]
    assert answers[2]["content"].startswith("error:") and "rm_rf" in answers[2]["content"]
    assert "no function name" in answers[3]["content"]


async def test_setting_off_keeps_the_text_formats(peer: Peer, repo: Path, tmp_path: Path) -> None:
    peer.route("POST", "/v1/completions", sse(completion_events(["Nothing to do."], finish="stop")))
    r = Run(peer, repo, tmp_path, AgentSettings(constrain_tool_calls=False))
    result = await r.run("look at geo.py")
    assert result.reason == "done" and not result.server_tools
    assert r.chat_bodies() == [] and len(peer.requests_to("/v1/completions")) == 1

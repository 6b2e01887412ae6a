"""The agent's tool calls through a real server's own tool-call support: llama-cpp-python's
OpenAI-compatible server (`python -m llama_cpp.server`) on the default GGUF.

Two ways users run it: on the GGUF's own chat template (the server takes `tools` and renders
them, but leaves the model's calls in the text), and with `--chat_format
chatml-function-calling` (it parses calls and streams `tool_calls`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.llama_cpp_server import LlamaCppServer, ServerFailed, llama_cpp_server
from qwill.agent.appliers import DiskApplier
from qwill.agent.loop import Agent, AgentEvent, new_session
from qwill.agent.server_tool_calls import read_server_calls
from qwill.agent.toolcalls import tool_specs
from qwill.agent.tools import TOOLS_BY_NAME, schema_problems
from qwill.config import AgentSettings, EngineSettings
from qwill.engine.loader import load_engine
from qwill.engine.remote import RemoteEngine
from qwill.engine.worker import EngineWorker

pytestmark = pytest.mark.model


def _serve(model: Path, tmp: pytest.TempPathFactory, *extra: str) -> Iterator[LlamaCppServer]:
    log = tmp.mktemp("llama-server") / "server.log"
    try:
        with llama_cpp_server(model, log, ctx=4096, threads=2, timeout=180, extra=extra) as server:
            yield server
    except ServerFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def template_server(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    yield from _serve(default_model_path, tmp_path_factory)


@pytest.fixture(scope="module")
def calling_server(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    yield from _serve(default_model_path, tmp_path_factory, "--chat_format", "chatml-function-calling")


def test_streamed_tool_calls_of_a_real_server_are_read_and_valid(calling_server: LlamaCppServer) -> None:
    engine = load_engine(EngineSettings(backend="openai", url=calling_server.url))
    assert isinstance(engine, RemoteEngine)
    tool = TOOLS_BY_NAME["read_file"]
    streamed: list[str] = []
    result = engine.chat([{"role": "system", "content": "You are a coding agent."},
                          {"role": "user", "content": "Show me what geo.py contains."}],
                         tools=[tool.schema()], tool_choice={"type": "function", "function": {"name": "read_file"}},
                         max_tokens=64, on_text=streamed.append)
    assert result.tool_calls, (result.text, result.finish_reason)
    turn = read_server_calls(result.tool_calls, tool_specs([tool.schema()]))
    assert turn.errors == {}
    (call,) = turn.calls
    assert call.name == "read_file" and call.format == "server" and call.id
    assert schema_problems(tool, call.arguments) == []
    assert turn.history[0]["function"]["name"] == "read_file"


@pytest.mark.parametrize("server", ["template_server", "calling_server"])
async def test_an_agent_run_through_the_servers_tools_ends_cleanly(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    srv: LlamaCppServer = request.getfixturevalue(server)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "geo.py").write_text("def area(r):\n    return 3.14 * r * r\n")
    worker = EngineWorker()
    worker.load(lambda: load_engine(EngineSettings(backend="openai", url=srv.url))).result()
    events: list[AgentEvent] = []
    session = new_session(repo, store_dir=tmp_path / "store")
    agent = Agent(worker, AgentSettings(max_steps=4, max_tokens_per_step=256), DiskApplier(repo),
                  on_event=events.append, context_size=4096)
    try:
        result = await agent.run(session, "Read geo.py with the read_file tool, then replace 3.14 with math.pi.")
    finally:
        worker.shutdown(wait=False)
    print(result.as_dict(), [e.as_dict() for e in events if e.kind in ("tool_call", "notice")])
    # whatever the model answers, the run ends on its own terms, never on a server error
    assert result.reason in ("done", "loop", "max_steps"), result.message
    assert srv.proc.poll() is None, srv.tail()
    calls = [e for e in events if e.kind == "tool_call"]
    notices = [e for e in events if e.kind == "notice"]
    if any(c.data["format"] != "server" for c in calls):
        # the model wrote a call as text: read from the text, and the session fell back
        assert session.server_tools is False and notices
    else:
        assert session.server_tools is True and not notices and result.server_tools

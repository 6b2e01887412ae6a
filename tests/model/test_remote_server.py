"""Remote engine against a real server: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`) on 127.0.0.1 with the default GGUF, started once
for this module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.llama_cpp_server import LlamaCppServer, ServerFailed, llama_cpp_server
from qwill.completion.service import CompletionRequest
from qwill.config import EngineSettings, Settings
from qwill.doctor import run_doctor
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import TEMPLATES
from qwill.engine.loader import load_engine
from qwill.engine.remote import RemoteEngine
from qwill.engine.worker import EngineWorker
from qwill.session import ModelState, Session

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def llama_server(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    try:
        with llama_cpp_server(default_model_path, log, ctx=2048, timeout=180) as server:
            yield server
    except ServerFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server_url(llama_server: LlamaCppServer) -> str:
    return llama_server.url


@pytest.fixture(autouse=True)
def _server_alive(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that fails because the server died says so, with the server's log."""
    yield
    if "llama_server" in request.fixturenames:
        server: LlamaCppServer = request.getfixturevalue("llama_server")
        assert server.proc.poll() is None, server.tail()


@pytest.fixture(scope="module")
def worker(server_url: str) -> Iterator[EngineWorker]:
    w = EngineWorker()
    w.load(lambda: load_engine(EngineSettings(backend="openai", url=f"{server_url}/v1"))).result()
    yield w
    w.shutdown()


async def test_fim_completion_through_the_service_continues_the_prefix(server_url: str) -> None:
    session = Session(Settings.model_validate({"engine": {"backend": "openai", "url": server_url}}))
    try:
        status = await session.load_model()
        assert status.state is ModelState.READY, status.message
        # the template comes from the model name the server reports (the GGUF's file name)
        assert status.info is not None and status.info.fim_template == "qwen"
        text = "def fibonacci(n):\n    if n < 2:\n        return n\n    return \n\nprint(fibonacci(10))\n"
        offset = text.index("return \n") + len("return ")
        s = await session.completion.complete(CompletionRequest(
            uri="file:///fib.py", text=text, offset=offset, path="fib.py", invoked=True))
        assert s is not None
        assert "fibonacci(n - 1)" in s.text.replace("n-1", "n - 1")
    finally:
        session.close()


def test_pieces_stream_in_and_cancel_closes_the_request(worker: EngineWorker) -> None:
    tpl = TEMPLATES["qwen"]
    prompt = tpl.render("# The first hundred prime numbers\nPRIMES = [\n    2,\n", "")
    cancel, stats, got = CancelToken(), GenerationStats(), []
    for piece in worker.generate_sync(GenerationRequest(prompt, max_tokens=200), cancel, stats):
        got.append(piece)
        if len(got) == 3:
            cancel.cancel("test")
    assert stats.stop_reason == "cancelled"
    assert 3 <= len(got) <= 4
    # the server dropped that generation and serves the next request
    again, stats2 = [], GenerationStats()
    again = list(worker.generate_sync(GenerationRequest(prompt, max_tokens=4), CancelToken(), stats2))
    assert again and stats2.stop_reason == "length"


def test_chat_answers_through_chat_completions(worker: EngineWorker) -> None:
    def ask(engine: object) -> object:
        assert isinstance(engine, RemoteEngine)
        return engine.chat([{"role": "system", "content": "You answer with code only."},
                            {"role": "user", "content": "Python: print the text hello"}],
                           max_tokens=24)

    result = worker.submit(lambda: ask(worker.engine)).result()
    assert "print" in result.text  # type: ignore[attr-defined]
    assert result.tool_calls == []  # type: ignore[attr-defined]


def test_tokenize_uses_the_servers_tokenizer(worker: EngineWorker, default_model_path: Path) -> None:
    remote = worker.submit(lambda: worker.engine.tokenize("def add(a, b):")).result()  # type: ignore[union-attr]
    local = load_engine(EngineSettings(model=str(default_model_path), context_size=256))
    try:
        expected = local.tokenize("def add(a, b):")
    finally:
        local.close()
    # llama-cpp-python's /extras/tokenize adds no BOS; Qwen has none either
    assert remote == expected


def test_doctor_reports_the_endpoint_and_the_served_model(server_url: str, default_model_path: Path) -> None:
    report = run_doctor(Settings.model_validate({"engine": {"backend": "openai", "url": server_url}}))
    assert report.ok, report.render()
    facts = report.facts["engine"]
    assert facts["url"] == server_url
    assert facts["model"] == str(default_model_path)
    assert facts["fim_template"] == "qwen"

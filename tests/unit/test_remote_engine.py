"""RemoteEngine against a real HTTP peer on 127.0.0.1: streaming, cancel, failures.

The peer (tests/remote_peer.py) is a standard-library HTTP server scripted per
test; the engine's own sockets, timeouts, retries and TLS are exercised.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwill.config import EngineSettings, Settings
from qwill.engine.base import CancelToken, EngineError, GenerationRequest, GenerationStats
from qwill.engine.fim import TEMPLATES, FimParts
from qwill.engine.loader import load_engine
from qwill.engine.remote import HttpOptions, RemoteEngine, RemoteOptions
from qwill.engine.remote.transport import RemoteError

from ..remote_peer import (
    Peer,
    completion_events,
    drop,
    hang,
    json_reply,
    openai_models,
    sequence,
    sse,
    wait_for,
)

FAST = HttpOptions(connect_timeout=2.0, read_timeout=2.0, retries=2, retry_backoff=0.01)
PROMPT = TEMPLATES["qwen"].render("def add(a, b):\n    return ", "\n")


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    p.route("GET", "/v1/models", openai_models("qwen2.5-coder-7b"))
    yield p
    p.close()


def engine_for(peer: Peer, backend: str = "openai", **kw: object) -> RemoteEngine:
    opts = {"backend": backend, "url": peer.url, "http": FAST, **kw}
    return RemoteEngine(RemoteOptions(**opts))  # type: ignore[arg-type]


def run(engine: RemoteEngine, req: GenerationRequest, cancel: CancelToken | None = None
        ) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    return list(engine.generate(req, cancel or CancelToken(), stats)), stats


# -- streaming -----------------------------------------------------------------------------
def test_openai_completion_streams_pieces_and_applies_stops(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", sse(completion_events(
        ["a", " +", " b", "<|endoftext|>", "junk"], finish="stop",
        usage={"prompt_tokens": 40, "completion_tokens": 4})))
    engine = engine_for(peer)
    assert engine.model == "qwen2.5-coder-7b"
    assert engine.info.fim_template == "qwen"  # from the server's model name
    pieces, stats = run(engine, GenerationRequest(PROMPT, max_tokens=16, stop=("<|endoftext|>",)))
    assert pieces == ["a", " +", " b"]
    assert stats.stop_reason == "stop"
    body = peer.requests_to("/v1/completions")[0].body
    assert body["prompt"] == PROMPT and body["model"] == "qwen2.5-coder-7b" and body["stream"] is True


def test_usage_from_the_server_fills_the_stats(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", sse(completion_events(
        ["x", "y"], usage={"prompt_tokens": 40, "completion_tokens": 2,
                           "prompt_tokens_details": {"cached_tokens": 32}})))
    pieces, stats = run(engine_for(peer), GenerationRequest(PROMPT))
    assert pieces == ["x", "y"]
    assert (stats.prompt_tokens, stats.prompt_eval_tokens, stats.generated_tokens) == (40, 8, 2)
    assert stats.stop_reason == "length"


def test_llama_server_completion_pins_the_slot_and_caches_the_prompt(peer: Peer) -> None:
    peer.route("POST", "/completion", sse([
        {"content": "a", "stop": False}, {"content": " + b", "stop": False},
        {"content": "", "stop": True, "stop_type": "eos",
         "timings": {"prompt_n": 3, "cache_n": 37, "predicted_n": 2, "prompt_ms": 5.0,
                     "predicted_ms": 30.0}}], done=False))
    pieces, stats = run(engine_for(peer, "llama-server", slot_id=2), GenerationRequest(PROMPT))
    assert "".join(pieces) == "a + b"
    assert stats.stop_reason == "eos" and stats.prompt_eval_tokens == 3 and stats.reused_tokens == 37
    body = peer.requests_to("/completion")[0].body
    assert body["cache_prompt"] is True and body["id_slot"] == 2 and body["prompt"] == PROMPT


def test_llama_server_infill_sends_the_parts(peer: Peer) -> None:
    peer.route("POST", "/infill", sse([{"content": "a + b", "stop": False},
                                       {"content": "", "stop": True, "stop_type": "eos"}]))
    parts = FimParts("def add(a, b):\n    return ", "\n", middle="a")
    pieces, _ = run(engine_for(peer, "llama-server", infill=True), GenerationRequest(fim=parts))
    assert pieces == ["a + b"]
    body = peer.requests_to("/infill")[0].body
    assert (body["input_prefix"], body["input_suffix"], body["prompt"]) == (
        "def add(a, b):\n    return ", "\n", "a")
    assert body["stop"] == list(TEMPLATES["qwen"].stop)  # the engine adds its format's stops
    # without `infill` the same parts are rendered in the model's template for /completion
    peer.route("POST", "/completion", sse([{"content": "a + b", "stop": False},
                                           {"content": "", "stop": True, "stop_type": "eos"}]))
    run(engine_for(peer, "llama-server"), GenerationRequest(fim=parts))
    assert peer.requests_to("/completion")[0].body["prompt"] == TEMPLATES["qwen"].render_parts(parts)


def test_ollama_generate_is_raw_and_reads_ndjson(peer: Peer) -> None:
    peer.route("GET", "/api/tags", json_reply(200, {"models": [{"name": "qwen2.5-coder:1.5b-base"}]}))
    peer.route("POST", "/api/generate", sse([
        {"response": "a", "done": False}, {"response": " + b", "done": False},
        {"response": "", "done": True, "done_reason": "stop", "prompt_eval_count": 12,
         "eval_count": 2}], ndjson=True))
    engine = engine_for(peer, "ollama")
    assert engine.model == "qwen2.5-coder:1.5b-base" and engine.info.fim_template == "qwen"
    pieces, stats = run(engine, GenerationRequest(PROMPT))
    assert "".join(pieces) == "a + b" and stats.prompt_tokens == 12
    body = peer.requests_to("/api/generate")[0].body
    assert body["raw"] is True and body["model"] == "qwen2.5-coder:1.5b-base"


def test_chat_returns_text_and_native_tool_calls(peer: Peer) -> None:
    peer.route("POST", "/v1/chat/completions", sse([
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Reading it."}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                                                            "function": {"name": "read_file",
                                                                         "arguments": "{\"path\":"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                                                            "function": {"arguments": " \"a.py\"}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 12}}]))
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    streamed: list[str] = []
    result = engine_for(peer).chat([{"role": "user", "content": "open a.py"}], tools=tools,
                                   on_text=streamed.append)
    assert result.text == "Reading it." and streamed == ["Reading it."]
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == [{"id": "call_9", "type": "function",
                                  "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}]
    assert result.stats.prompt_tokens == 50
    body = peer.requests_to("/v1/chat/completions")[0].body
    assert body["tools"] == tools and body["messages"][0]["content"] == "open a.py"


# -- cancellation ----------------------------------------------------------------------------
def test_cancel_closes_the_stream(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", sse(completion_events([f" t{i}" for i in range(200)]),
                                               delay=0.05))
    engine = engine_for(peer)
    cancel, stats, got = CancelToken(), GenerationStats(), []
    for piece in engine.generate(GenerationRequest(PROMPT, max_tokens=500), cancel, stats):
        got.append(piece)
        if len(got) == 3:
            threading.Thread(target=cancel.cancel, args=("newer keystroke",)).start()
    assert stats.stop_reason == "cancelled"
    assert len(got) <= 4
    # the server noticed: its next write failed long before the 200 events were out
    assert wait_for(peer.disconnected.is_set)
    assert peer.sent_events < 100


def test_cancel_while_waiting_for_the_first_byte(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", hang())
    engine = RemoteEngine(RemoteOptions("openai", peer.url, http=HttpOptions(read_timeout=600)))
    cancel, stats = CancelToken(), GenerationStats()
    threading.Timer(0.2, cancel.cancel).start()
    assert list(engine.generate(GenerationRequest(PROMPT), cancel, stats)) == []
    assert stats.stop_reason == "cancelled"


# -- failures: each one a clear message ---------------------------------------------------------
def test_server_down_is_a_clear_error_at_load() -> None:
    dead = Peer()
    url = dead.url
    dead.close()  # nothing listens on this port any more
    with pytest.raises(EngineError) as err:
        load_engine(EngineSettings(backend="openai", url=url, retries=1, retry_backoff=0.01))
    msg = str(err.value)
    assert "cannot connect" in msg and url in msg and "connection refused" in msg


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match=r"engine\.url is not set"):
        load_engine(EngineSettings(backend="ollama"))


def test_5xx_before_the_first_byte_is_retried_then_succeeds(peer: Peer) -> None:
    busy = json_reply(503, {"error": {"message": "all slots are busy"}})
    peer.route("POST", "/v1/completions", sequence(busy, busy, sse(completion_events(["ok"]))))
    pieces, _ = run(engine_for(peer), GenerationRequest(PROMPT))
    assert pieces == ["ok"]
    assert len(peer.requests_to("/v1/completions")) == 3


def test_persistent_500_gives_up_with_the_servers_reason(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", json_reply(500, {"error": {"message": "CUDA out of memory"}}))
    engine = engine_for(peer)
    with pytest.raises(RemoteError) as err:
        run(engine, GenerationRequest(PROMPT))
    msg = str(err.value)
    assert "HTTP 500" in msg and "CUDA out of memory" in msg and "after 3 attempts" in msg
    assert len(peer.requests_to("/v1/completions")) == 3
    assert engine.problem == msg


def test_a_stream_that_breaks_after_tokens_is_not_retried(peer: Peer) -> None:
    half = completion_events(["a", "b"])[:2]
    peer.route("POST", "/v1/completions", sse([*half, b"data: {\"choi"], done=False))
    got: list[str] = []
    with pytest.raises(RemoteError, match="malformed stream"):
        for piece in engine_for(peer).generate(GenerationRequest(PROMPT), CancelToken(), GenerationStats()):
            got.append(piece)
    assert got == ["a", "b"]
    assert len(peer.requests_to("/v1/completions")) == 1


def test_connection_dropped_before_answering_is_retried(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", sequence(drop(), sse(completion_events(["ok"]))))
    pieces, _ = run(engine_for(peer), GenerationRequest(PROMPT))
    assert pieces == ["ok"]
    assert len(peer.requests_to("/v1/completions")) == 2


def test_slow_server_times_out_with_the_setting_named(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", hang())
    engine = RemoteEngine(RemoteOptions("openai", peer.url, http=HttpOptions(read_timeout=0.3)))
    with pytest.raises(RemoteError, match=r"did not answer within 0\.3 s \(engine\.readTimeout\)"):
        run(engine, GenerationRequest(PROMPT))
    assert len(peer.requests_to("/v1/completions")) == 1  # a slow server is not hammered


def test_wrong_backend_is_named_in_the_error(peer: Peer) -> None:
    peer.route("POST", "/v1/completions", lambda h, rec: (
        h.start(200, "text/html"), h.write(b"<html>welcome to nginx</html>\n")))
    with pytest.raises(RemoteError, match=r"malformed stream.*engine\.backend"):
        run(engine_for(peer), GenerationRequest(PROMPT))


def test_unknown_model_lists_what_the_server_has(peer: Peer) -> None:
    with pytest.raises(RemoteError, match=r"serves: qwen2\.5-coder-7b"):
        engine_for(peer, model="gpt-5")


def test_auth_refused_says_what_to_set_and_never_shows_the_key(
        peer: Peer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-team-0123456789"

    def check(h, rec) -> None:  # type: ignore[no-untyped-def]
        auth = rec.headers.get("authorization", "")
        if auth == f"Bearer {key}":
            openai_models("qwen")(h, rec)
        else:  # echo the header back, as some proxies do
            json_reply(401, {"error": {"message": f"invalid token in '{auth}'"}})(h, rec)

    peer.route("GET", "/v1/models", check)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EngineError) as err:
        load_engine(EngineSettings(backend="openai", url=peer.url, api_key="sk-wrong-key-42"))
    assert "HTTP 401" in str(err.value) and "API key was refused" in str(err.value)
    assert "sk-wrong-key-42" not in str(err.value)
    with pytest.raises(EngineError, match=r"engine\.apiKeyEnv"):
        load_engine(EngineSettings(backend="openai", url=peer.url, api_key_env="QWILL_TEST_NO_KEY"))
    # the key from the environment variable named in the settings
    monkeypatch.setenv("QWILL_TEST_KEY", key)
    engine = load_engine(EngineSettings(backend="openai", url=peer.url, api_key_env="QWILL_TEST_KEY"))
    assert engine.info.name == "qwen"
    assert key not in caplog.text and "sk-wrong-key-42" not in caplog.text


# -- TLS -----------------------------------------------------------------------------------------
@pytest.fixture
def tls_peer(peer: Peer, tmp_path: Path) -> Iterator[tuple[Peer, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = peer._server
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    yield peer, cert


def test_tls_is_verified_and_a_ca_bundle_makes_a_private_ca_trusted(tls_peer: tuple[Peer, Path]) -> None:
    peer, cert = tls_peer
    url = peer.url.replace("http://", "https://")
    with pytest.raises(EngineError, match=r"could not be verified.*engine\.caBundle"):
        load_engine(EngineSettings(backend="openai", url=url, retries=0))
    engine = load_engine(EngineSettings(backend="openai", url=url, ca_bundle=str(cert)))
    assert engine.info.name == "qwen2.5-coder-7b"


# -- the session stays responsive and tells the user ---------------------------------------------
async def test_session_reports_a_failing_server_and_recovers(peer: Peer) -> None:
    from qwill.completion.service import CompletionRequest
    from qwill.session import ModelState, Session

    peer.route("POST", "/v1/completions", sequence(
        json_reply(500, {"error": {"message": "GPU fell off the bus"}}),
        sse(completion_events(["a + b"], finish="stop"))))
    settings = Settings.model_validate({"engine": {"backend": "openai", "url": peer.url, "retries": 0}})
    session = Session(settings)
    try:
        status = await session.load_model()
        assert status.state is ModelState.READY and session.completion.ready
        seen: list[tuple[str, str]] = []
        session.status_listeners.append(lambda s: seen.append((s.state.value, s.message)))
        req = CompletionRequest(uri="file:///a.py", text="def add(a, b):\n    return \n", offset=26)
        assert await session.completion.complete(req) is None
        await asyncio.sleep(0.05)
        assert session.status.state is ModelState.DEGRADED
        assert "GPU fell off the bus" in session.status.message
        req2 = CompletionRequest(uri="file:///a.py", text="def add(a, b):\n    return \n\n", offset=26)
        suggestion = await session.completion.complete(req2)
        assert suggestion is not None and suggestion.text == "a + b"
        await asyncio.sleep(0.05)
        assert session.status.state is ModelState.READY
        assert [state for state, _ in seen] == ["degraded", "ready"]
    finally:
        session.close()


async def test_separate_agent_engine_gets_its_own_worker(peer: Peer, fake_script) -> None:
    from qwill.session import ModelState, Session

    settings = Settings.model_validate({
        "engine": {"model": fake_script(["x"])},
        "agentEngine": {"backend": "openai", "url": peer.url}})
    session = Session(settings)
    try:
        await session.load_model()
        assert session.status.state is ModelState.READY
        assert session.agent_worker is not session.worker
        assert type(session.agent_engine) is type(session.engine)  # one slot type for both engines
        assert session.actions.worker is session.agent_worker  # code actions use the agent's engine
        assert session.agent_status.state is ModelState.READY
        assert session.agent_status.info is not None and session.agent_status.info.name == "qwen2.5-coder-7b"
        session.update_settings({"agentEngine": {"backend": "same"}})
        await session.load_model()
        assert session.agent_worker is session.worker
        assert session.agent_status is session.status
        assert session.actions.worker is session.worker
    finally:
        session.close()

"""The remote engines' wire formats and settings, without a server."""

from __future__ import annotations

import pytest

from qwill.config import parse_settings
from qwill.engine.base import GenerationRequest, GenerationStats
from qwill.engine.fim import TEMPLATES, ContextFile, FimParts
from qwill.engine.remote import wire
from qwill.engine.remote.transport import Endpoint, RemoteError, redact


def test_payloads_read_sse_and_ndjson_and_skip_comments() -> None:
    lines = [b": keep-alive\n", b"event: message\n", b'data: {"a": 1}\n', b"\n",
             b'{"b": 2}\n', b"data: [DONE]\n"]
    assert list(wire.payloads(lines)) == ['{"a": 1}', '{"b": 2}', "[DONE]"]


def test_payloads_reject_html_and_decode_rejects_non_json() -> None:
    with pytest.raises(wire.MalformedStream):
        list(wire.payloads([b"<html><body>Bad Gateway</body></html>\n"]))
    with pytest.raises(wire.MalformedStream):
        wire.decode("{not json")
    with pytest.raises(wire.MalformedStream):
        wire.decode("[1, 2]")


def test_openai_usage_with_cached_tokens_fills_stats() -> None:
    delta = wire.openai_completion_delta({"choices": [], "usage": {
        "prompt_tokens": 120, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 100}}})
    stats = GenerationStats()
    wire.apply_stats(stats, delta.stats)
    assert (stats.prompt_tokens, stats.prompt_eval_tokens, stats.generated_tokens) == (120, 20, 9)
    assert stats.reused_tokens == 100


def test_llama_server_final_event_has_timings_and_stop_type() -> None:
    delta = wire.llama_server_delta({"content": "", "stop": True, "stop_type": "eos", "timings": {
        "prompt_n": 4, "cache_n": 96, "prompt_ms": 20.0, "predicted_n": 7, "predicted_ms": 140.0}})
    assert delta.done and delta.finish == "eos"
    stats = GenerationStats()
    wire.apply_stats(stats, delta.stats)
    assert (stats.prompt_tokens, stats.prompt_eval_tokens, stats.generated_tokens) == (100, 4, 7)
    assert stats.prompt_seconds == pytest.approx(0.02)


def test_ollama_final_line_maps_counts_and_nanoseconds() -> None:
    delta = wire.ollama_delta({"response": "", "done": True, "done_reason": "length",
                               "prompt_eval_count": 30, "eval_count": 5,
                               "prompt_eval_duration": 250_000_000, "eval_duration": 1_000_000_000})
    assert delta.done and delta.finish == "length"
    assert delta.stats["generate_seconds"] == pytest.approx(1.0)


def test_error_inside_a_stream_is_found_in_every_shape() -> None:
    assert wire.error_message({"error": {"message": "model overloaded"}}) == "model overloaded"
    assert wire.error_message({"error": "boom"}) == "boom"
    assert wire.error_message({"error": '{"code": 500, "message": "slot busy"}'}) == "slot busy"
    assert wire.error_message({"choices": []}) is None


def test_request_bodies_carry_each_backends_fields() -> None:
    req = GenerationRequest("<p>", max_tokens=12, stop=("\n",), temperature=0.2)
    body = wire.openai_completion_body(req, "qwen")
    assert body["prompt"] == "<p>" and body["stream"] is True and body["stop"] == ["\n"]
    body = wire.llama_server_body(req, 3)
    assert body["cache_prompt"] is True and body["id_slot"] == 3 and body["n_predict"] == 12
    body = wire.ollama_body(req, "qwen2.5-coder:1.5b")
    assert body["raw"] is True and body["options"]["num_predict"] == 12


def test_tool_call_fragments_are_joined_by_index() -> None:
    acc = wire.ToolCallAccumulator()
    acc.add([{"index": 0, "id": "c1", "type": "function",
              "function": {"name": "read_file", "arguments": '{"pa'}}])
    acc.add([{"index": 0, "function": {"arguments": 'th": "a.py"}'}}])
    acc.add([{"index": 1, "function": {"name": "list_dir", "arguments": {"path": "."}}}])
    calls = acc.calls()
    assert calls[0] == {"id": "c1", "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    assert calls[1]["function"]["name"] == "list_dir" and calls[1]["id"] == "call_1"


def test_a_name_repeated_in_every_fragment_is_kept_once() -> None:
    # llama-cpp-python (chatml-function-calling) sends the function's name with each fragment
    acc = wire.ToolCallAccumulator()
    for part in ('{"path"', ': "geo.py"', "}"):
        acc.add([{"index": 0, "id": "call_x", "function": {"name": "read_file", "arguments": part}}])
    # a name split over fragments is joined; one sent whole again after a partial is kept whole
    acc.add([{"index": 1, "function": {"name": "edit_", "arguments": ""}}])
    acc.add([{"index": 1, "function": {"name": "file", "arguments": "{}"}}])
    acc.add([{"index": 2, "function": {"name": "gr", "arguments": ""}}])
    acc.add([{"index": 2, "function": {"name": "grep", "arguments": "{}"}}])
    calls = acc.calls()
    assert [c["function"]["name"] for c in calls] == ["read_file", "edit_file", "grep"]
    assert calls[0]["function"]["arguments"] == '{"path": "geo.py"}'


def test_infill_fields_carry_the_requests_fim_parts() -> None:
    ctx = (ContextFile("util.py", "def helper():\n    return 1\n\n"),)
    parts = FimParts("def f():\n    ret", "\n\nf()\n", middle="urn", path="main.py", context=ctx)
    req = GenerationRequest(fim=parts).rendered(TEMPLATES["qwen"])
    body = wire.llama_server_body(req, 1, TEMPLATES["qwen"])
    assert (body["input_prefix"], body["input_suffix"], body["prompt"]) == ("def f():\n    ret", "\n\nf()\n", "urn")
    assert body["input_extra"] == [{"filename": "util.py", "text": "def helper():\n    return 1\n"}]
    assert body["stop"] == list(TEMPLATES["qwen"].stop)
    # a format without repository tokens keeps its context ahead of the prefix
    fields = wire.infill_fields(parts, TEMPLATES["deepseek"])
    assert fields["input_prefix"] == "# util.py\ndef helper():\n    return 1\n\ndef f():\n    ret"
    assert fields["input_extra"] == []
    # /infill needs a middle token: Codestral's suffix-first format goes to /completion
    assert wire.infill_supported(TEMPLATES["qwen"]) and not wire.infill_supported(TEMPLATES["codestral"])
    assert "input_prefix" not in wire.llama_server_body(req, 1)


def test_endpoint_parsing_drops_v1_and_hides_credentials() -> None:
    ep = Endpoint.parse("https://bob:hunter22@llm.example.com/v1/")
    assert (ep.host, ep.port, ep.base_path) == ("llm.example.com", 443, "")
    assert ep.display == "https://llm.example.com"
    assert Endpoint.parse("http://127.0.0.1:8080/team/v1").base_path == "/team"
    with pytest.raises(RemoteError, match="must look like") as err:
        Endpoint.parse("ftp://bob:hunter22@host")
    assert "hunter22" not in str(err.value)


def test_redact_replaces_every_occurrence() -> None:
    assert redact("Bearer sk-abc123 and sk-abc123", ["sk-abc123"]) == "Bearer *** and ***"


def test_remote_settings_validate_and_keep_the_key_secret() -> None:
    result = parse_settings({"engine": {"backend": "llama-server", "url": "http://127.0.0.1:8080",
                                        "apiKey": "sk-topsecret", "readTimeout": -1},
                             "agentEngine": {"backend": "openai", "url": "https://llm.example.com"}})
    engine = result.settings.engine
    assert engine.backend == "llama-server"
    assert engine.read_timeout == 60.0
    assert any("engine.readTimeout" in p for p in result.problems)
    assert "sk-topsecret" not in repr(result.settings)
    assert engine.api_key is not None and engine.api_key.get_secret_value() == "sk-topsecret"
    assert result.settings.agent_engine.backend == "openai"
    bad = parse_settings({"engine": {"backend": "tgi", "url": "llm:8080"}})
    assert bad.settings.engine.backend == "local" and bad.settings.engine.url is None
    assert len(bad.problems) == 2


def test_agent_engine_defaults_to_the_completion_engine() -> None:
    assert parse_settings({}).settings.agent_engine.backend == "same"

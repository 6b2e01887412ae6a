"""The log filter that keeps secrets out of whatever a library logs."""

from __future__ import annotations

import logging

import pytest

from qwill.log_redaction import RedactingFilter, redact


@pytest.mark.parametrize("text", [
    "initialization_options={'engine': {'apiKey': 'sk-abc123', 'model': 'm'}}",
    '{"engine": {"apiKey": "sk-abc123", "url": "http://x"}}',
    "api_key=sk-abc123 other=1",
    "Authorization: Bearer sk-abc123",
    '{"headers": {"Authorization": "Bearer sk-abc123"}}',
    "token=sk-abc123; password: sk-abc123",
    "x-api-key: sk-abc123",
])
def test_secret_values_are_replaced(text: str) -> None:
    out = redact(text)
    assert "sk-abc123" not in out and "***" in out


def test_what_is_not_secret_is_kept() -> None:
    text = '{"apiKeyEnv": "QWILL_API_KEY", "model": "default", "url": "http://127.0.0.1:8080"}'
    assert redact(text) == text
    assert redact("the API key was refused") == "the API key was refused"


def test_the_filter_rewrites_records_and_tracebacks(monkeypatch) -> None:
    monkeypatch.setenv("TEAM_API_KEY", "env-secret-value")
    f = RedactingFilter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "params %s and %s",
                               ({"apiKey": "sk-zzz999"}, "env-secret-value"), None)
    assert f.filter(record)
    assert "sk-zzz999" not in record.getMessage() and "env-secret-value" not in record.getMessage()
    try:
        raise ValueError("api_key=sk-in-a-traceback")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    f.filter(record)
    assert "sk-in-a-traceback" not in logging.Formatter().format(record)

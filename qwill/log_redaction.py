"""Secrets never reach the log, whatever a library logs.

pygls logs whole messages at info/debug level (the initialize params with
their initializationOptions, configuration results), and those can carry
`engine.apiKey`. A filter on every log handler rewrites each record before it
is written: values of secret-looking keys (apiKey, api_key, token, password,
secret, authorization) in JSON, Python reprs and `key=value` text, and bearer
tokens, become `***`; so do the values of the environment variables that hold
API keys.
"""

from __future__ import annotations

import logging
import os
import re

_SECRET_KEY = r"(?:api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|token|password|passwd|secret|authorization)"
# "apiKey": "v" | 'apiKey': 'v' | apiKey=v | api_key: v   (not apiKeyEnv: the name of a variable)
_KEY_VALUE = re.compile(
    r"""(?i)(["']?\b""" + _SECRET_KEY + r"""["']?\s*[:=]\s*)(?:(["'])(?:(?!\2).)*\2|(?!\*\*\*)[^\s,;)}\]'"]+)""")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_ENV_NAMES = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with secret values replaced by `***`."""
    for secret in secrets:
        if len(secret) > 3:
            text = text.replace(secret, "***")
    text = _BEARER.sub(lambda m: m.group(1) + "***", text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + "***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with `redact`."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets = tuple(v for k, v in os.environ.items() if _ENV_NAMES.search(k) and len(v) > 3)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format is left to the handler to report
            return True
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def install() -> None:
    """Put the filter on every handler of the root logger (call after basicConfig)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())

"""HTTP for remote engines: cancellable connect, streaming reads, retries, TLS, redaction.

Built on the standard library (socket, ssl, http.client) because we need two
things client libraries hide: the socket itself, so that a cancel from the
event loop can shut it down and unblock the engine thread within
milliseconds, and a connect that looks at the cancel token while it waits.

Retry policy: connection errors and HTTP 5xx/429 answers are retried with
exponential backoff, but only before the response body is read; once a
stream has started it is never replayed (the caller may already have shown
its tokens). Read timeouts are not retried: a slow server stays slow.

Secrets: the bearer token is only ever written into the Authorization
header. Every message this module produces goes through `redact`, and URLs
are shown without user-info.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import logging
import select
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..base import CancelToken, EngineError

log = logging.getLogger(__name__)

# How often a pending connect looks at the cancel token.
_CONNECT_POLL = 0.05
# Most bytes of an error body we read (and show an excerpt of).
_ERROR_BODY_LIMIT = 8192


class RemoteError(EngineError):
    """A remote engine failed; `retryable` says whether a new attempt may help."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Cancelled(Exception):
    """The cancel token was set while we waited; not an error for the user."""


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret (longer than 3 characters) replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) > 3:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Endpoint:
    """Where a remote engine lives: scheme, host, port and base path."""

    scheme: str
    host: str
    port: int
    base_path: str  # without a trailing slash, without a trailing /v1

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Parse `http(s)://host[:port][/base]`; a trailing `/v1` is dropped."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise RemoteError(f"engine.url '{_strip_userinfo(url)}' is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(
                f"engine.url '{_strip_userinfo(url)}' must look like http://host:port or "
                "https://host (the address of the llama.cpp, vLLM, Ollama or OpenAI-compatible server)"
            )
        base = parts.path.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        default_port = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, port or default_port, base)

    @property
    def display(self) -> str:
        """The URL for messages: no user-info, default ports left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.base_path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _strip_userinfo(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        netloc, _, path = rest.partition("/")
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        return f"{scheme}://{netloc}" + (f"/{path}" if path else "")
    return url


@dataclass(frozen=True)
class HttpOptions:
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 2
    retry_backoff: float = 0.25
    ca_bundle: str | None = None


class Response:
    """An open HTTP response whose socket a cancel shuts down."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 sock: socket.socket, cancel: CancelToken) -> None:
        self._conn = conn
        self._resp = resp
        self._sock = sock
        self._cancel = cancel
        self.status = resp.status
        self.headers = resp.headers
        self._unregister = cancel.on_cancel(self._abort)

    def _abort(self) -> None:
        # Called from the cancelling thread: shutting the socket down wakes the
        # engine thread blocked in recv() at once. socket.shutdown on the raw
        # socket (not SSLSocket.shutdown, which also drops the TLS object).
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def lines(self) -> Iterator[bytes]:
        """The body, line by line (SSE and NDJSON are both line-based)."""
        while True:
            line = self._resp.readline(1 << 20)
            if not line:
                return
            yield line

    def read_all(self, limit: int = 1 << 24) -> bytes:
        return self._resp.read(limit)

    def close(self) -> None:
        self._unregister()
        with contextlib.suppress(Exception):
            self._resp.close()
        with contextlib.suppress(Exception):
            self._conn.close()


class Transport:
    """Requests to one endpoint with one set of timeouts, retries and credentials."""

    def __init__(self, endpoint: Endpoint, options: HttpOptions, *, api_key: str | None = None,
                 user_agent: str = "qwill") -> None:
        self.endpoint = endpoint
        self.options = options
        self._api_key = api_key or None
        self.user_agent = user_agent
        self._ssl: ssl.SSLContext | None = None
        if endpoint.scheme == "https":
            self._ssl = make_ssl_context(options.ca_bundle)

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def redact(self, text: str) -> str:
        return redact(text, [self._api_key] if self._api_key else [])

    # -- connecting ------------------------------------------------------------------
    def _connect(self, cancel: CancelToken) -> socket.socket:
        ep, timeout = self.endpoint, self.options.connect_timeout
        deadline = time.monotonic() + timeout
        try:
            infos = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise RemoteError(f"cannot resolve the host of {ep.display} ({exc.strerror}); "
                              "check engine.url", retryable=True) from None
        last: OSError | None = None
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                err = sock.connect_ex(addr)
                if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                    raise OSError(err, errno.errorcode.get(err, str(err)))
                while err != 0:
                    if cancel.cancelled:
                        raise Cancelled()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError()
                    _, writable, _ = select.select([], [sock], [], min(_CONNECT_POLL, remaining))
                    if writable:
                        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, _strerror(err))
                        break
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except TimeoutError:
                sock.close()
                raise RemoteError(
                    f"cannot connect to {ep.display}: no answer within {timeout:g} s "
                    "(engine.connectTimeout); is the server up and the address right?",
                    retryable=True) from None
            except Cancelled:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last = exc
                continue
            if self._ssl is None:
                sock.settimeout(self.options.read_timeout)
                return sock
            return self._tls(sock, deadline)
        reason = _strerror(last.errno) if last is not None and last.errno else str(last)
        raise RemoteError(f"cannot connect to {ep.display} ({reason}); is the server running "
                          "and is engine.url right?", retryable=True)

    def _tls(self, sock: socket.socket, deadline: float) -> socket.socket:
        assert self._ssl is not None
        ep = self.endpoint
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            tls = self._ssl.wrap_socket(sock, server_hostname=ep.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise RemoteError(
                f"the TLS certificate of {ep.display} could not be verified ({exc.verify_message}); "
                "if your team uses its own CA, set engine.caBundle to its PEM file") from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise RemoteError(f"TLS handshake with {ep.display} failed ({exc}); is it an https "
                              "endpoint?", retryable=isinstance(exc, TimeoutError)) from None
        tls.settimeout(self.options.read_timeout)
        return tls

    # -- requests ----------------------------------------------------------------------
    def _headers(self, body: bytes | None, stream: bool) -> dict[str, str]:
        headers = {
            "Host": self.endpoint.host_header,
            "User-Agent": self.user_agent,
            "Accept": "text/event-stream, application/x-ndjson, application/json" if stream
            else "application/json",
            "Connection": "close",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(body))
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _open_once(self, method: str, path: str, body: bytes | None, cancel: CancelToken,
                   stream: bool) -> Response:
        sock = self._connect(cancel)
        conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port,
                                          timeout=self.options.read_timeout)
        conn.sock = sock
        url = f"{self.endpoint.display}{path}"
        # While waiting for the status line, a cancel must also unblock us.
        unregister = cancel.on_cancel(
            lambda: _quiet_shutdown(sock))
        try:
            conn.putrequest(method, self.endpoint.base_path + path, skip_host=True,
                            skip_accept_encoding=True)
            for key, value in self._headers(body, stream).items():
                conn.putheader(key, value)
            conn.endheaders(body)
            resp = conn.getresponse()
        except TimeoutError:
            conn.close()
            if cancel.cancelled:
                raise Cancelled() from None
            raise RemoteError(
                f"{url} did not answer within {self.options.read_timeout:g} s (engine.readTimeout); "
                "the server may be overloaded") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if cancel.cancelled:
                raise Cancelled() from None
            raise RemoteError(f"{url} closed the connection before answering ({_describe(exc)})",
                              retryable=True) from None
        finally:
            unregister()
        response = Response(conn, resp, sock, cancel)
        if resp.status < 300:
            return response
        try:
            raw = resp.read(_ERROR_BODY_LIMIT)
        except Exception:
            raw = b""
        finally:
            response.close()
        raise self._status_error(resp.status, resp.reason, raw, url)

    def _status_error(self, status: int, reason: str, raw: bytes, url: str) -> RemoteError:
        detail = self.redact(_error_detail(raw))
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            hint = ("the API key was refused" if self._api_key else
                    "the server wants an API key: set engine.apiKey, or put it in the environment "
                    "variable named by engine.apiKeyEnv")
            return RemoteError(f"{url} answered HTTP {status} {reason}: {hint}{suffix}", status=status)
        if status == 404:
            return RemoteError(f"{url} answered HTTP 404: this server has no such endpoint or model; "
                               f"check engine.backend and engine.model{suffix}", status=status)
        retryable = status >= 500 or status == 429
        return RemoteError(f"{url} answered HTTP {status} {reason}{suffix}", retryable=retryable,
                           status=status)

    def open(self, method: str, path: str, payload: Any | None, cancel: CancelToken, *,
             stream: bool = True) -> Response:
        """Send a request; retry connection errors and 5xx with backoff; raise on failure.

        Raises Cancelled if the token is set before a response arrives.
        """
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            if cancel.cancelled:
                raise Cancelled()
            try:
                return self._open_once(method, path, body, cancel, stream)
            except RemoteError as exc:
                if not exc.retryable or attempt >= self.options.retries:
                    if attempt:
                        exc.args = (f"{exc.args[0]} (after {attempt + 1} attempts)",)
                    raise
                delay = self.options.retry_backoff * (2 ** attempt)
                attempt += 1
                log.info("%s; retrying in %.2fs (%d/%d)", self.redact(str(exc)), delay, attempt,
                         self.options.retries)
                if cancel.wait(delay):
                    raise Cancelled() from None

    def get_json(self, path: str, cancel: CancelToken | None = None) -> Any:
        return self._json("GET", path, None, cancel)

    def post_json(self, path: str, payload: Any, cancel: CancelToken | None = None) -> Any:
        return self._json("POST", path, payload, cancel)

    def _json(self, method: str, path: str, payload: Any, cancel: CancelToken | None) -> Any:
        token = cancel or CancelToken()
        try:
            resp = self.open(method, path, payload, token, stream=False)
        except Cancelled:
            raise RemoteError("request cancelled") from None
        try:
            raw = resp.read_all()
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"{self.endpoint.display}{path}: reading the answer failed "
                              f"({_describe(exc)})") from None
        finally:
            resp.close()
        try:
            return json.loads(raw)
        except ValueError:
            raise RemoteError(f"{self.endpoint.display}{path} did not answer with JSON: "
                              f"{self.redact(raw[:200].decode('utf-8', 'replace'))!r}") from None


def make_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verification always on: the system store, plus `ca_bundle` when given."""
    ctx = ssl.create_default_context()
    if ca_bundle:
        try:
            ctx.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteError(f"cannot read engine.caBundle {ca_bundle}: {exc}") from None
    return ctx


def _quiet_shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _strerror(err: int | None) -> str:
    if err == errno.ECONNREFUSED:
        return "connection refused"
    if err is None:
        return "unknown error"
    import os

    return os.strerror(err).lower()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "remote end closed the connection"
    if isinstance(exc, OSError) and exc.errno:
        return _strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _error_detail(raw: bytes) -> str:
    """The human part of an error body: OpenAI/vLLM/llama.cpp/Ollama/FastAPI shapes."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if isinstance(err, list | dict):
            err = json.dumps(err)[:300]
        if err:
            return str(err)[:300]
    return text[:300]

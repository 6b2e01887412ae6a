"""A scripted HTTP server on 127.0.0.1 for remote-engine tests.

It is a real peer over TCP (the standard library's http.server), not a mock of
Qwill's code: routes answer with SSE or NDJSON streams, error statuses, hangs,
broken or malformed streams, so the client's real sockets, timeouts, retries
and cancellation are what is tested. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Route = Callable[["Handler", Recorded], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies end when the connection closes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        peer = self.server.peer
        with peer.lock:
            peer.requests.append(rec)
        route = peer.routes.get((method, self.path))
        if route is None:
            json_reply(404, {"error": {"message": f"no route {method} {self.path}"}})(self, rec)
            return
        route(self, rec)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- writing helpers -------------------------------------------------------------
    def start(self, status: int = 200, content_type: str = "text/event-stream",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def write(self, data: bytes) -> bool:
        """Write and flush; False (and the peer notes it) once the client has gone."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.server.peer.disconnected.set()
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peer: Peer


@dataclass
class Peer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    disconnected: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    sent_events: int = 0

    def __post_init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.peer = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, fn: Route) -> None:
        self.routes[(method, path)] = fn

    def requests_to(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


# -- route factories ----------------------------------------------------------------------
def json_reply(status: int, obj: Any) -> Route:
    def route(h: Handler, rec: Recorded) -> None:
        data = json.dumps(obj).encode()
        h.start(status, "application/json", {"Content-Length": str(len(data))})
        h.write(data)

    return route


def sse(events: Iterable[Any], *, delay: float = 0.0, done: bool = True, ndjson: bool = False) -> Route:
    """Stream `events` (dicts become JSON; bytes are written raw), one every `delay` s."""
    items = list(events)

    def route(h: Handler, rec: Recorded) -> None:
        h.start(200, "application/x-ndjson" if ndjson else "text/event-stream")
        for item in items:
            if isinstance(item, bytes):
                data = item
            else:
                text = json.dumps(item)
                data = (text + "\n").encode() if ndjson else f"data: {text}\n\n".encode()
            if not h.write(data):
                return
            with h.server.peer.lock:
                h.server.peer.sent_events += 1
            if delay and h.server.peer.release.wait(delay):
                return
        if done and not ndjson:
            h.write(b"data: [DONE]\n\n")

    return route


def hang(seconds: float = 30.0) -> Route:
    """Accept the request and say nothing (until the peer closes)."""

    def route(h: Handler, rec: Recorded) -> None:
        h.server.peer.release.wait(seconds)

    return route


def drop() -> Route:
    """Close the connection without any answer."""

    def route(h: Handler, rec: Recorded) -> None:
        h.close_connection = True
        h.connection.close()

    return route


def sequence(*routes: Route) -> Route:
    """The n-th request gets the n-th route (the last one repeats)."""
    calls = [0]

    def route(h: Handler, rec: Recorded) -> None:
        n = min(calls[0], len(routes) - 1)
        calls[0] += 1
        routes[n](h, rec)

    return route


def openai_models(*names: str) -> Route:
    return json_reply(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})


def completion_events(pieces: Iterable[str], *, finish: str = "length",
                      usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"object": "text_completion", "choices": [{"index": 0, "text": p, "finish_reason": None}]}
        for p in pieces]
    events.append({"object": "text_completion",
                   "choices": [{"index": 0, "text": "", "finish_reason": finish}]})
    if usage is not None:
        events.append({"object": "text_completion", "choices": [], "usage": usage})
    return events


def chat_answer(*calls: tuple[str, Any], text: str = "", ids: list[Any] | None = None) -> Route:
    """An SSE answer of /v1/chat/completions: prose, then each call streamed in two
    fragments (as llama.cpp's server and vLLM send them)."""
    events: list[dict[str, Any]] = []
    if text:
        events.append({"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]})
    for i, (name, args) in enumerate(calls):
        arguments = args if isinstance(args, str) else json.dumps(args)
        call_id = ids[i] if ids is not None else f"call_{i}_{name}"
        events.append({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": arguments[:7]}}]}}]})
        events.append({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": arguments[7:]}}]}}]})
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]})
    events.append({"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 30}})
    return sse(events)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()

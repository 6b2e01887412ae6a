"""`qwill serve` as a subprocess spoken to in raw bytes.

pytest-lsp always frames and encodes correctly; the reliability tests and the
load replay need to send what a broken client sends (bad JSON, bad headers,
wrong types), so this client writes bytes to the server's stdin and parses
the frames that come back on a reader thread. Requests the server sends to us
(progress tokens, configuration) are answered with `null`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_HEADER_END = b"\r\n\r\n"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def frame(body: bytes | str) -> bytes:
    """A correctly framed LSP message around `body`."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def message(obj: Any) -> bytes:
    return frame(json.dumps(obj))


class ServerGone(RuntimeError):
    """The server process exited (or closed stdout)."""


class RawServer:
    """One `python -m qwill serve` process and a byte-level client for it."""

    def __init__(self, model: str, *args: str, cwd: str | Path | None = None,
                 env: dict[str, str] | None = None, stderr_path: Path | None = None) -> None:
        self.argv = [sys.executable, "-m", "qwill", "serve", "--model", model, *args]
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.stderr_path = stderr_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self.responses: dict[Any, dict[str, Any]] = {}
        self.arrived: dict[Any, float] = {}  # time.monotonic() each response arrived
        self.null_id_errors: list[dict[str, Any]] = []  # answers to messages without a usable id
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self._reader: threading.Thread | None = None
        self._stderr_file: Any = None
        self.eof = False

    # -- process ---------------------------------------------------------------------
    def start(self) -> RawServer:
        self._stderr_file = open(self.stderr_path, "wb") if self.stderr_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file, cwd=self.cwd, env=self.env)
        self._reader = threading.Thread(target=self._read_loop, name="raw-lsp-reader", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.eof

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS) in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        m = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
        assert m, status
        return int(m.group(1))

    def rss_tree_kib(self) -> dict[int, int]:
        """VmRSS (KiB) of the server and each of its descendants (the engine runs in a child)."""
        out: dict[int, int] = {}
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            if pid in out:
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                m = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
                out[pid] = int(m.group(1)) if m else 0
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo.extend(int(k) for k in (task / "children").read_text().split())
            except OSError:
                continue
        return out

    def close(self, timeout: float = 10) -> int | None:
        """shutdown + exit, then wait (kill only this process if it does not go)."""
        if self.proc is None:
            return None
        if self.alive():
            try:
                self.request("shutdown", None, timeout=timeout)
                self.notify("exit", None)
            except (ServerGone, TimeoutError, OSError):
                pass
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout)
        if self._stderr_file not in (None, subprocess.DEVNULL):
            self._stderr_file.close()
        return code

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with self._write_lock:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise ServerGone(f"cannot write to the server: {exc}") from None

    def send(self, obj: Any) -> None:
        self.send_raw(message(obj))

    def next_id(self) -> int:
        return next(self._ids)

    def notify(self, method: str, params: Any) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def start_request(self, method: str, params: Any, msg_id: Any = None) -> Any:
        """Send a request without waiting; returns its id."""
        msg_id = self.next_id() if msg_id is None else msg_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return msg_id

    def request(self, method: str, params: Any, timeout: float = 10) -> dict[str, Any]:
        """Send a request and return the whole response message (result or error)."""
        return self.wait_response(self.start_request(method, params), timeout)

    def cancel(self, msg_id: Any) -> None:
        self.notify("$/cancelRequest", {"id": msg_id})

    # -- reading -------------------------------------------------------------------
    def wait_response(self, msg_id: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.responses:
                left = deadline - time.monotonic()
                if self.eof:
                    raise ServerGone(f"the server exited before answering request {msg_id!r}")
                if left <= 0:
                    raise TimeoutError(f"no answer to request {msg_id!r} within {timeout}s")
                self._cond.wait(left)
            return self.responses.pop(msg_id)

    def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        """Wait until `predicate()` (called under the lock) is true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met in time")
                if self.eof:
                    raise ServerGone("the server exited")
                self._cond.wait(left)

    def _frames(self, stream: Any) -> Iterator[bytes]:
        buf = b""
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                return
            buf += chunk
            while True:
                end = buf.find(_HEADER_END)
                if end < 0:
                    break
                m = _LENGTH.search(buf[:end])
                if m is None:
                    raise RuntimeError(f"server wrote a frame without Content-Length: {buf[:end]!r}")
                length = int(m.group(1))
                start = end + len(_HEADER_END)
                if len(buf) < start + length:
                    break
                yield buf[start:start + length]
                buf = buf[start + length:]

    def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for body in self._frames(self.proc.stdout):
                msg = json.loads(body)
                if "method" in msg and "id" in msg:  # a request from the server
                    with self._cond:
                        self.server_requests.append(msg)
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                    continue
                with self._cond:
                    if "method" in msg:
                        self.notifications.append(msg)
                    elif msg.get("id") is None:
                        self.null_id_errors.append(msg)
                    else:
                        self.responses[msg["id"]] = msg
                        self.arrived[msg["id"]] = time.monotonic()
                    self._cond.notify_all()
        except (ServerGone, OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    # -- LSP helpers -------------------------------------------------------------
    def initialize(self, init_options: dict[str, Any] | None = None,
                   capabilities: dict[str, Any] | None = None, root: Path | None = None,
                   timeout: float = 60) -> dict[str, Any]:
        params: dict[str, Any] = {
            "processId": os.getpid(), "capabilities": capabilities or {},
            "clientInfo": {"name": "raw-client"},
            "initializationOptions": init_options or {},
        }
        if root is not None:
            params["rootUri"] = root.as_uri()
            params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
        resp = self.request("initialize", params, timeout=timeout)
        self.notify("initialized", {})
        return resp

    def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for `qwill/status` ready (or error); return that status."""
        def done() -> bool:
            return any(n["method"] == "qwill/status" and n["params"]["state"] in ("ready", "error")
                       for n in self.notifications)
        self.wait_for(done, timeout)
        with self._cond:
            return next(n["params"] for n in reversed(self.notifications)
                        if n["method"] == "qwill/status" and n["params"]["state"] in ("ready", "error"))

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})

    def ping(self, timeout: float = 10) -> dict[str, Any]:
        """A request every server answers at once: proof that it still listens."""
        return self.request("qwill/fuzz-ping-unknown", {}, timeout=timeout)

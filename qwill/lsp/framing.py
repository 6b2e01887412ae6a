"""Reading JSON-RPC messages from a byte stream without trusting the client.

pygls' own reader loop trusts its input: a header without a valid
Content-Length, or a length that is wrong, leaves it reading bodies as
headers, and from then on every message is lost (the server looks hung); a
request whose body is not a JSON object, lacks `jsonrpc: "2.0"` or has params
of the wrong type gets no answer at all, so the client waits forever; a huge
Content-Length asks for that much memory at once.

Here framing is a small state machine over a buffer (FrameDecoder) that
resynchronises on the next `Content-Length` header, refuses lengths over a
limit without allocating them, and notices when a body it is collecting
already holds the next message's header (the length was too long). Each body
is then checked as JSON-RPC before pygls sees it: answers follow the JSON-RPC
2.0 spec (-32700 parse error and -32600 invalid request with `id: null`
when there is no usable id; -32602 for params that do not fit the method).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from pygls.exceptions import JsonRpcException

from . import pygls_compat

log = logging.getLogger(__name__)

# A 10 MB document is about 10-60 MB of JSON (escapes); anything larger is refused
# before it is read into memory.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Header bytes without a blank line after them: junk, not a header block.
MAX_HEADER_BYTES = 16 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002

_TERMINATOR = b"\r\n\r\n"
_KEY = b"content-length"
_VALUE = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
# A complete header block: the Content-Length line, other header lines, a blank line.
_HEADER_BLOCK = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r\n(?:[!-~][^\r\n]*\r\n)*\r\n",
                           re.IGNORECASE)
_FIRST_LINE = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*", re.IGNORECASE)
_FIRST_LINE_PARTIAL = re.compile(rb"content-length[ \t]*(?::[ \t]*\d*[ \t]*\r?)?", re.IGNORECASE)
_OTHER_LINE = re.compile(rb"[!-~][^\r\n]*")
_HEADER_LINE = re.compile(rb"[!-~][^\r\n:]*:[^\r\n]*")
_WAIT = -1


@dataclass(frozen=True)
class Frame:
    """One message body, or a framing error to report (`body` None)."""

    body: bytes | None = None
    error: str | None = None


class FrameDecoder:
    """Splits a byte stream into LSP frames (`Content-Length: N\r\n\r\n` + N bytes).

    Broken framing costs only the broken message: bytes before a header are
    skipped (and reported), a header without a usable length is reported, and
    a body that turns out to contain the start of the next message's header
    ends there. A message whose own header is intact is never lost.
    """

    def __init__(self, max_body: int = MAX_MESSAGE_BYTES, max_header: int = MAX_HEADER_BYTES) -> None:
        self.max_body = max_body
        self.max_header = max_header
        self._buf = bytearray()
        self._need: int | None = None  # length of the body being collected
        self._scanned = 0  # body bytes already searched for a header
        self._errors: list[Frame] = []  # found while reading the next frame, reported first

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def frames(self) -> Iterator[Frame]:
        """Every complete frame (or framing error) in what was fed so far."""
        while True:
            frame = self._next()
            while self._errors:
                yield self._errors.pop(0)
            if frame is None:
                return
            yield frame

    # -- headers ---------------------------------------------------------------------
    def _next(self) -> Frame | None:
        if self._need is not None:
            return self._body()
        buf = self._buf
        end = buf.find(_TERMINATOR)
        if end < 0:
            if len(buf) > self.max_header:  # no header ends in all this: keep what may start one
                keep = bytes(buf).lower().rfind(_KEY)
                if keep < 0 or len(buf) - keep > self.max_header:
                    keep = len(buf) - len(_KEY)
                del buf[:keep]
                return Frame(error=f"discarded {keep} bytes that were not a message header")
            return None
        block = bytes(buf[:end])
        del buf[:end + len(_TERMINATOR)]
        k = block.lower().rfind(_KEY)
        m = _VALUE.match(block, k) if k >= 0 else None
        if m is None:
            return Frame(error="a message without a Content-Length header was discarded")
        if not _clean_headers(block[:k]):  # the rest of a broken message, then a header
            self._errors.append(Frame(error=f"discarded {k} bytes before a message header"))
        value = m.group(1).strip().decode("latin-1")
        if not value.isdigit():
            return Frame(error=f"Content-Length {value[:40]!r} is not a number; the message was discarded")
        length = int(value)
        if length > self.max_body:
            return Frame(error=f"Content-Length {length} is over the limit of {self.max_body} bytes; "
                               "the message was discarded")
        self._need = length
        self._scanned = 0
        return self._body()

    # -- bodies ----------------------------------------------------------------------
    def _body(self) -> Frame | None:
        assert self._need is not None
        buf = self._buf
        # A JSON body cannot hold a raw header block ("Content-Length: N\r\n\r\n"):
        # if the bytes being collected contain one, the announced length was
        # wrong and the next message has begun. End this one there.
        cut = self._header_in_body()
        if cut == _WAIT:
            return None
        if cut is not None:
            del buf[:cut]
            self._need = None
            return Frame(error="a message was shorter than its Content-Length; it was discarded")
        if len(buf) < self._need:
            return None
        body = bytes(buf[:self._need])
        del buf[:self._need]
        self._need = None
        if len(body) > 1 << 20:
            # a bytearray keeps its largest allocation: let a 10 MB message's go
            self._buf = bytearray(buf)
        return Frame(body=body)

    def _header_in_body(self) -> int | None:
        """Where a header block starts inside the body, _WAIT if undecided, else None."""
        assert self._need is not None
        buf, need = self._buf, self._need
        avail = min(len(buf), need)
        start = max(0, self._scanned - len(_KEY))
        low = bytes(buf[start:avail]).lower()
        i = low.find(_KEY)
        while i >= 0:
            verdict = self._header_at(start + i)
            if verdict is True:
                return start + i
            if verdict is None:
                return _WAIT
            i = low.find(_KEY, i + 1)
        self._scanned = avail
        if len(buf) < need:
            return None
        # a header whose first bytes are the last bytes of the announced body
        for p in range(max(0, need - len(_KEY) + 1), need):
            if _KEY.startswith(bytes(buf[p:need]).lower()):
                verdict = self._header_at(p)
                if verdict is True:
                    return p
                if verdict is None:
                    return _WAIT
        return None

    def _header_at(self, p: int) -> bool | None:
        """Does a header block start at buf[p]? None: cannot tell until more bytes come."""
        buf = self._buf
        j = buf.find(_TERMINATOR, p, p + self.max_header)
        if j >= 0:
            m = _HEADER_BLOCK.match(buf, p, j + len(_TERMINATOR))
            return m is not None and m.end() == j + len(_TERMINATOR)
        if len(buf) - p >= self.max_header:
            return False
        return None if _could_become_header(bytes(buf[p:])) else False


def _clean_headers(prefix: bytes) -> bool:
    """True when `prefix` (the block before Content-Length) is only header lines."""
    if not prefix:
        return True
    if not prefix.endswith(b"\r\n"):
        return False
    return all(_HEADER_LINE.fullmatch(line) for line in prefix[:-2].split(b"\r\n"))


def _could_become_header(s: bytes) -> bool:
    """Is `s` (which starts like Content-Length) the beginning of a header block?"""
    first, *rest = s.split(b"\r\n")
    if not rest:
        if len(first) <= len(_KEY):
            return _KEY.startswith(first.lower())
        return _FIRST_LINE_PARTIAL.fullmatch(first) is not None
    if _FIRST_LINE.fullmatch(first) is None:
        return False
    *complete, last = rest
    if not all(_OTHER_LINE.fullmatch(line) for line in complete):
        return False
    return last in (b"", b"\r") or _OTHER_LINE.fullmatch(last.removesuffix(b"\r")) is not None


# -- JSON-RPC envelope checks --------------------------------------------------------------

def _error(code: int, message: str, msg_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    try:
        from cattrs import transform_error

        details = transform_error(cause)
        return "; ".join(details[:5])
    except Exception:
        return str(cause)


def handle_body(protocol: Any, body: bytes) -> None:
    """Check one message body as JSON-RPC 2.0 and hand it to the pygls protocol.

    Whatever is wrong is answered as the spec says (requests always get an
    answer); nothing here raises.
    """
    def send(data: dict[str, Any]) -> None:
        pygls_compat.send_data(protocol, data)

    try:
        data = json.loads(body)
    except ValueError as exc:  # bad JSON or bad UTF-8
        send(_error(PARSE_ERROR, f"Parse error: {exc}"))
        return
    if not isinstance(data, dict):
        send(_error(INVALID_REQUEST, "Invalid Request: a message must be a JSON object "
                                     "(batches are not supported)"))
        return
    has_id = "id" in data
    msg_id = data.get("id")
    method = data.get("method")
    is_request = has_id and "method" in data
    if has_id and not _valid_id(msg_id):
        send(_error(INVALID_REQUEST, "Invalid Request: id must be a string or an integer"))
        return
    if data.get("jsonrpc") != "2.0":
        send(_error(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"',
                    msg_id if is_request else None))
        return
    if "method" in data and not isinstance(method, str):
        send(_error(INVALID_REQUEST, "Invalid Request: method must be a string", msg_id if has_id else None))
        return
    if not has_id and "method" not in data:
        send(_error(INVALID_REQUEST, "Invalid Request: no method and no id"))
        return
    if "params" in data and not isinstance(data["params"], (dict, list)) and data["params"] is not None:
        if is_request:
            send(_error(INVALID_PARAMS, f"Invalid params for {method}: params must be an object or an array",
                        msg_id))
        else:
            log.warning("notification %s with params of type %s ignored", method, type(data["params"]).__name__)
        return
    if is_request and not pygls_compat.has_handler(protocol, str(method)):
        send(_error(METHOD_NOT_FOUND, f"Method Not Found: {method}", msg_id))
        return
    if "method" in data and "params" not in data:
        data["params"] = None  # optional in JSON-RPC; pygls' generic message types require it
    if is_request and method not in ("initialize", "shutdown", "exit"):
        if pygls_compat.shutting_down(protocol):
            send(_error(INVALID_REQUEST, f"the server is shutting down; {method} was not run", msg_id))
            return
        if not pygls_compat.initialized(protocol):
            send(_error(SERVER_NOT_INITIALIZED, f"{method} before initialize", msg_id))
            return
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:
        if is_request:
            send(_error(INVALID_PARAMS, f"Invalid params for {method}: {_describe(exc)}", msg_id))
        else:
            log.warning("message %s ignored: its params do not fit: %s", method or msg_id, _describe(exc))
        return
    except Exception as exc:  # a converter failure must not stop the server
        log.exception("cannot read message %s", method or msg_id)
        if is_request:
            send(_error(INVALID_PARAMS, f"Invalid params for {method}: {exc}", msg_id))
        return
    try:
        protocol.handle_message(message)
    except Exception:
        log.exception("handling %s failed", method or msg_id)
        if is_request:
            send(_error(-32603, f"Internal error while handling {method}", msg_id))


async def read_messages(read: Callable[[], Awaitable[bytes]], protocol: Any,
                        stop: threading.Event) -> None:
    """The server's main loop: read chunks, split frames, handle each message."""
    decoder = FrameDecoder()
    while not stop.is_set():
        chunk = await read()
        if not chunk:
            break
        decoder.feed(chunk)
        for frame in decoder.frames():
            if frame.body is None:
                log.warning("framing: %s", frame.error)
                pygls_compat.send_data(protocol, _error(PARSE_ERROR, f"Parse error: {frame.error}"))
                continue
            handle_body(protocol, frame.body)
            # let handlers that were scheduled run between messages of a burst
            await asyncio.sleep(0)


# -- transports ----------------------------------------------------------------------------

def serve_stdio(server: Any, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Run `server` (a pygls JsonRPCServer) on stdin/stdout with the checks above."""
    stream = stdin or sys.stdin.buffer
    stop = pygls_compat.install_stop_event(server)
    server.protocol.set_writer(pygls_compat.stdout_writer(stdout or sys.stdout.buffer))
    read1 = getattr(stream, "read1", stream.read)

    async def read() -> bytes:
        return await asyncio.get_running_loop().run_in_executor(server.thread_pool, read1, 65536)

    try:
        asyncio.run(read_messages(read, server.protocol, stop))
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def serve_tcp(server: Any, host: str, port: int) -> None:
    """Run `server` on one TCP connection at a time (the caller checks `host`)."""
    stop = pygls_compat.install_stop_event(server)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)

        async def read() -> bytes:
            return await reader.read(65536)

        await read_messages(read, server.protocol, stop)
        server.shutdown()

    async def main() -> None:
        tcp = await asyncio.start_server(connection, host, port)
        pygls_compat.register_tcp_server(server, tcp)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in tcp.sockets))
        async with tcp:
            await tcp.serve_forever()

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass

"""No listening sockets: stdio by default, TCP only when asked and only on loopback.

The kernel's socket tables (/proc/net/tcp, tcp6, udp, udp6) are matched with
the socket inodes the server process and its children (the engine process)
hold open, so what is checked is what the processes really own.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .raw_client import RawServer, message

LISTEN = "0A"


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(k) for k in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    return inodes


def _address(hex_addr: str) -> str:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{ipaddress.ip_address(raw)}:{int(port, 16)}"


def inet_sockets(inodes: set[str]) -> list[tuple[str, str, str]]:
    """(table, local address, state) of every IP socket among `inodes`."""
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            cols = row.split()
            if len(cols) > 9 and cols[9] in inodes:
                found.append((table, _address(cols[1]), cols[3]))
    return found


@pytest.fixture
def fake_model(tmp_path: Path) -> str:
    script = tmp_path / "fake.json"
    script.write_text(json.dumps({"responses": [], "default": "x = 1"}))
    return f"fake:{script}"


def test_stdio_server_and_its_engine_hold_no_network_socket(fake_model: str, tmp_path: Path) -> None:
    with RawServer(fake_model, stderr_path=tmp_path / "log") as srv:
        srv.initialize()
        assert srv.wait_ready()["state"] == "ready"
        srv.open("file:///t/a.py", "def f():\n    ")
        out = srv.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": "file:///t/a.py"}, "position": {"line": 1, "character": 4},
            "context": {"triggerKind": 1}})
        assert out["result"]["items"], out  # the engine process is up and has answered
        pids = process_tree(srv.pid)
        assert len(pids) >= 2, pids  # the server and its engine process
        assert inet_sockets(socket_inodes(pids)) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_leftover: dict[int, bytes] = {}


def read_frame(conn: socket.socket, timeout: float = 30) -> dict:
    """One LSP frame; bytes of the next frames read with it are kept for the next call."""
    conn.settimeout(timeout)
    buf = _leftover.pop(conn.fileno(), b"")
    while b"\r\n\r\n" not in buf:
        buf += conn.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(head.split(b":")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += conn.recv(65536)
    if rest[length:]:
        _leftover[conn.fileno()] = rest[length:]
    return json.loads(rest[:length])


def test_tcp_listens_on_loopback_only_and_speaks_lsp(fake_model: str, tmp_path: Path) -> None:
    port = free_port()
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "qwill", "serve", "--model", fake_model, "--tcp", str(port)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        listening: list[tuple[str, str, str]] = []
        while time.monotonic() < deadline and not listening:
            time.sleep(0.2)
            assert proc.poll() is None, (tmp_path / "log").read_text()
            listening = [s for s in inet_sockets(socket_inodes(process_tree(proc.pid))) if s[2] == LISTEN]
        assert listening, "the server never listened"
        for table, address, _ in listening:
            host = address.rsplit(":", 1)[0]
            assert table.startswith("tcp") and ipaddress.ip_address(host).is_loopback, listening
            assert address.endswith(f":{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(message({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                  "params": {"capabilities": {}, "processId": os.getpid()}}))
            resp = read_frame(conn)
            while resp.get("id") != 1:
                resp = read_frame(conn)
            assert "capabilities" in resp["result"]
            # a broken frame over TCP is reported like over stdio, and the connection goes on
            conn.sendall(b"Content-Length: nope\r\n\r\n{}" + message(
                {"jsonrpc": "2.0", "id": 2, "method": "no/such", "params": {}}))
            seen = []
            while not any(m.get("id") == 2 for m in seen):
                seen.append(read_frame(conn))
            assert any(m.get("id") is None and m["error"]["code"] == -32700 for m in seen), seen
            assert next(m for m in seen if m.get("id") == 2)["error"]["code"] == -32601
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_a_non_loopback_address_is_refused_without_allow_remote(fake_model: str) -> None:
    r = subprocess.run([sys.executable, "-m", "qwill", "serve", "--model", fake_model, "--tcp", str(free_port()),
                        "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "non-loopback" in r.stderr


def test_serve_accepts_stdio_as_vscode_languageclient_passes_it(fake_model: str, tmp_path: Path) -> None:
    # vscode-languageclient's TransportKind.stdio runs `qwill serve <extraArgs> --stdio`
    with RawServer(fake_model, "--log-level", "info", "--stdio", stderr_path=tmp_path / "log") as srv:
        srv.initialize()
        assert srv.wait_ready()["state"] == "ready", (tmp_path / "log").read_text()
    r = subprocess.run([sys.executable, "-m", "qwill", "serve", "--model", fake_model, "--stdio", "--tcp", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not allowed with argument" in r.stderr

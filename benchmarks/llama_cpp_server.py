"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a GGUF, for the
tests and benchmarks that need a real server beside Qwill.

It runs with the same llama.cpp build as Qwill's own engine and the same choice of CPU buffers:
on a build with llama.cpp's AMX kernels, which die with SIGILL on some AMX CPUs at the first
matrix product (ggml-org/llama.cpp#20824), the extra buffer types are turned off exactly as
`engine.cpuExtraBuffers: auto` does (qwill.engine.llama.use_extra_buffers). Without this the
server answers /v1/models and then dies on the first request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_START = """\
import sys, llama_cpp
from qwill.engine.llama import use_extra_buffers
if not use_extra_buffers(llama_cpp, None):
    lowlevel = llama_cpp.llama_cpp
    default_params = lowlevel.llama_model_default_params
    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p
    lowlevel.llama_model_default_params = params
from llama_cpp.server.__main__ import main
sys.argv = ["llama_cpp.server"] + sys.argv[1:]
main()
"""


class ServerFailed(RuntimeError):
    pass


@dataclass
class LlamaCppServer:
    url: str  # http://127.0.0.1:PORT (the OpenAI API is under /v1)
    log: Path
    proc: subprocess.Popen[bytes]

    def tail(self, chars: int = 2000) -> str:
        state = "running" if self.proc.poll() is None else f"exited with status {self.proc.returncode}"
        return f"llama_cpp.server {state}; its log ends:\n{self.log.read_text(errors='replace')[-chars:]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_cpp_server(gguf: str | Path, log: Path, *, ctx: int = 2048, threads: int | None = None,
                     alias: str | None = None, timeout: float = 300,
                     extra: tuple[str, ...] = ()) -> Iterator[LlamaCppServer]:
    """Start the server (`extra`: more of its options, e.g. `--chat_format X`), wait until
    /v1/models answers, stop it on exit.
    Raises ServerFailed (with the log's end) when it exits or does not answer in `timeout` s."""
    port = free_port()
    cmd = [sys.executable, "-c", _START, "--model", str(gguf), "--n_ctx", str(ctx),
           "--host", "127.0.0.1", "--port", str(port)]
    if alias:
        cmd += ["--model_alias", alias]
    if threads:
        cmd += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    cmd += list(extra)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = LlamaCppServer(f"http://127.0.0.1:{port}", log, proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise ServerFailed(server.tail())
            try:
                with urllib.request.urlopen(f"{server.url}/v1/models", timeout=2) as resp:
                    json.load(resp)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerFailed(f"no answer on {server.url} within {timeout:g} s; {server.tail()}") from None
                time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

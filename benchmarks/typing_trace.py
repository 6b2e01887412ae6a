"""Typing-trace replay: keystroke-to-suggestion latency, Qwill vs llama-server /infill.

Real source files nobody on the team wrote (the running Python's standard
library) are opened in `qwill serve` over stdio exactly as an editor does;
at each chosen function the first lines of the body are cleared and typed
again keystroke by keystroke: didChange, then textDocument/inlineCompletion,
then wait for the answer. The same trace is replayed against llama.cpp's own
llama-server `/infill` with llama.vim's request shape (cache_prompt,
`--cache-reuse 256`, 256 lines before / 64 after, the current line in
`prompt`), built from the llama.cpp sources that the llama-cpp-python sdist
vendors, in the same run, one after the other.

    python -m benchmarks.typing_trace [--keystrokes 300] [--no-baseline]

Reports p50/p95 latency, first-request latency, cache-hit rate, prompt tokens
evaluated per keystroke, resident memory, and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
LLAMA_CPP_PYTHON = "0.3.36"

STDLIB_FILES = ["textwrap.py", "shlex.py", "fractions.py", "statistics.py", "difflib.py",
                "json/encoder.py", "csv.py", "configparser.py", "string.py", "heapq.py"]
_DEF = re.compile(r"^(?P<indent>[ \t]*)def \w+\(.*\).*:\s*$")


# -- the trace ----------------------------------------------------------------------
@dataclass
class Site:
    path: Path
    text: str  # document with the body's first lines cleared
    line: int  # cursor line (0-based)
    indent: str
    typed: str  # what the user types there


def _body_start(lines: list[str], i: int) -> int | None:
    """Line index of the first statement after a def's docstring, if simple."""
    j = i + 1
    if j < len(lines) and lines[j].strip().startswith(('"""', "'''", 'r"""')):
        quote = lines[j].strip()[:3] if not lines[j].strip().startswith("r") else '"""'
        if lines[j].strip().count(quote) >= 2 and len(lines[j].strip()) > 3:
            j += 1
        else:
            j += 1
            while j < len(lines) and quote not in lines[j]:
                j += 1
            j += 1
    if j >= len(lines) or not lines[j].strip() or lines[j].strip().startswith("#"):
        return None
    return j


def make_trace(keystrokes: int, seed: int = 7, lines_typed: int = 2) -> list[Site]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    rng = random.Random(seed)
    candidates: list[Site] = []
    for rel in STDLIB_FILES:
        path = lib / rel
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            m = _DEF.match(line)
            if not m:
                continue
            j = _body_start(lines, i)
            if j is None:
                continue
            indent = re.match(r"[ \t]*", lines[j]).group(0)  # type: ignore[union-attr]
            body = []
            for k in range(j, min(j + lines_typed, len(lines))):
                if not lines[k].startswith(indent) or not lines[k].strip():
                    break
                body.append(lines[k])
            if not body:
                continue
            typed = "\n".join(body)[len(indent):]
            if len(typed) < 12:
                continue
            cleared = [*lines[:j], indent, *lines[j + len(body):]]
            candidates.append(Site(path, "\n".join(cleared), j, indent, typed))
    rng.shuffle(candidates)
    sites, total = [], 0
    for site in candidates:
        if total >= keystrokes:
            break
        site.typed = site.typed[: keystrokes - total]
        sites.append(site)
        total += len(site.typed)
    return sites


def _pos_after(site: Site, n: int) -> tuple[int, int]:
    """Cursor (line, utf-16 column) after typing n characters of the site."""
    typed = site.typed[:n]
    line = site.line + typed.count("\n")
    last = typed.rsplit("\n", 1)[-1]
    col = len(last) if "\n" in typed else len(site.indent) + len(last)
    return line, col


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the engine runs in a child)."""
    total = 0.0
    pids, seen = [pid], set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for row in Path(f"/proc/{p}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                pids.extend(int(k) for k in kids)
        except OSError:
            continue
    return total or float("nan")


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    model_latencies: list[float] = field(default_factory=list)  # keystrokes answered by a model call
    first: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    rss_mb: float = float("nan")
    prompt_tokens: list[int] = field(default_factory=list)
    nonempty: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
        total = sum(self.sources.values()) or 1
        model = self.sources.get("model", 0)
        mlat = sorted(self.model_latencies)
        return {
            "requests": len(lat),
            "p50_s": round(statistics.median(lat), 3) if lat else None,
            "p95_s": round(p95, 3),
            "mean_s": round(statistics.fmean(lat), 3) if lat else None,
            "model_call_p50_s": round(statistics.median(mlat), 3) if mlat else None,
            "model_call_p95_s": round(mlat[min(len(mlat) - 1, int(0.95 * len(mlat)))], 3) if mlat else None,
            "first_request_s": round(statistics.median(self.first), 3) if self.first else None,
            "cache_hit_rate": round(1 - model / total, 3),
            "evaluated_tokens_per_keystroke": round(sum(self.evaluated) / max(1, len(lat)), 1),
            "prompt_tokens_mean": round(statistics.fmean(self.prompt_tokens), 0) if self.prompt_tokens else None,
            "nonempty_suggestions": self.nonempty,
            "rss_mb": round(self.rss_mb, 0),
            "sources": self.sources,
        }


# -- Qwill over stdio -------------------------------------------------------------------
async def run_qwill(sites: list[Site], model: str, lines_before: int, lines_after: int) -> Result:
    res = Result("qwill")
    client = LanguageClient("typing-trace", "1")
    ready = asyncio.Event()

    @client.feature("qwill/status")
    def on_status(ls: Any, params: Any) -> None:
        if getattr(params, "state", None) in ("ready", "error"):
            ready.set()

    await client.start_io(sys.executable, "-m", "qwill", "serve")

    async def drain() -> None:
        stream = client._server.stderr if client._server else None
        while stream and await stream.readline():
            pass

    drain_task = asyncio.ensure_future(drain())
    await client.initialize_async(types.InitializeParams(
        process_id=os.getpid(),
        capabilities=types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities())),
        initialization_options={"engine": {"model": model},
                                "completion": {"linesBefore": lines_before, "linesAfter": lines_after}},
    ))
    client.initialized(types.InitializedParams())
    await asyncio.wait_for(ready.wait(), 600)
    prev = await client.protocol.send_request_async("qwill/completionStats", {})
    for n_site, site in enumerate(sites):
        uri = site.path.as_uri() + f"#site{n_site}"
        version = 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=version, text=site.text)))
        for n in range(len(site.typed) + 1):
            if n:
                ch = site.typed[n - 1]
                line, col = _pos_after(site, n - 1)
                version += 1
                pos = types.Position(line=line, character=col)
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text=ch)]))
            line, col = _pos_after(site, n)
            t0 = time.perf_counter()
            out = await client.text_document_inline_completion_async(types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=col),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
            dt = time.perf_counter() - t0
            stats = await client.protocol.send_request_async("qwill/completionStats", {})
            evaluated = stats.evaluatedTokens - prev.evaluatedTokens
            prompt = stats.promptTokens - prev.promptTokens
            source = "model"
            for key, name in (("typedThrough", "typed-through"), ("cacheHits", "cache"), ("joined", "joined")):
                if getattr(stats, key) > getattr(prev, key):
                    source = name
            prev = stats
            if n == 0:
                res.first.append(dt)
            else:
                res.latencies.append(dt)
                res.evaluated.append(evaluated)
                res.sources[source] = res.sources.get(source, 0) + 1
                if source == "model":
                    res.model_latencies.append(dt)
                    if prompt:
                        res.prompt_tokens.append(prompt)
            items = out.items if isinstance(out, types.InlineCompletionList) else (out or [])
            res.nonempty += bool(items)
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
    if client._server is not None:
        res.rss_mb = _rss_mb(client._server.pid)
    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.sleep(0.3)
    drain_task.cancel()
    return res


# -- llama-server baseline -------------------------------------------------------------------
def build_llama_server() -> Path:
    """Build llama-server from the llama.cpp sources vendored in the llama-cpp-python sdist."""
    src = WORK / f"llama_cpp_python-{LLAMA_CPP_PYTHON}" / "vendor" / "llama.cpp"
    binary = src / "build" / "bin" / "llama-server"
    if binary.exists():
        return binary
    WORK.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", f"llama-cpp-python=={LLAMA_CPP_PYTHON}",
                        "--no-deps", "--no-binary", ":all:", "-d", str(WORK)], check=True)
        with tarfile.open(WORK / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz") as tar:
            tar.extractall(WORK, filter="data")
    subprocess.run(["cmake", "-S", str(src), "-B", str(src / "build"), "-DCMAKE_BUILD_TYPE=Release",
                    "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                    "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON"], check=True)
    subprocess.run(["cmake", "--build", str(src / "build"), "--target", "llama-server",
                    f"-j{os.cpu_count() or 2}"], check=True)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return dict(json.loads(resp.read()))


def run_baseline(sites: list[Site], model_path: Path, threads: int) -> Result:
    res = Result("llama-server /infill (llama.vim)")
    binary = build_llama_server()
    port = _free_port()
    proc = subprocess.Popen([str(binary), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
                             "-c", "4096", "--cache-reuse", "256", "-t", str(threads), "-np", "1",
                             "--no-webui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        for site in sites:
            lines = site.text.split("\n")
            for n in range(len(site.typed) + 1):
                typed = site.typed[:n]
                doc_lines = list(lines)
                first_line = site.indent + typed.split("\n")[0]
                rest_lines = typed.split("\n")[1:]
                new_lines = [first_line, *rest_lines]
                doc_lines[site.line:site.line + 1] = new_lines
                line, col = _pos_after(site, n)
                cur = doc_lines[line]
                body = {
                    "input_prefix": "\n".join(doc_lines[max(0, line - 256):line]) + "\n",
                    "input_suffix": cur[col:] + "\n" + "\n".join(doc_lines[line + 1:line + 1 + 64]) + "\n",
                    "input_extra": [],
                    "prompt": cur[:col],
                    "n_predict": 128,
                    "n_indent": len(cur) - len(cur.lstrip()),
                    "top_k": 40, "top_p": 0.99, "stream": False,
                    "samplers": ["top_k", "top_p", "infill"],
                    "cache_prompt": True,
                    "t_max_prompt_ms": 500, "t_max_predict_ms": 1000,
                }
                t0 = time.perf_counter()
                out = _post(base + "/infill", body)
                dt = time.perf_counter() - t0
                timings = out.get("timings", {})
                evaluated = int(timings.get("prompt_n", 0))
                if n == 0:
                    res.first.append(dt)
                else:
                    res.latencies.append(dt)
                    res.model_latencies.append(dt)
                    res.evaluated.append(evaluated)
                    res.sources["model"] = res.sources.get("model", 0) + 1
                    res.prompt_tokens.append(int(out.get("tokens_evaluated", 0)))
                res.nonempty += bool(out.get("content", "").strip())
        res.rss_mb = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return res


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keystrokes", type=int, default=300)
    ap.add_argument("--model", default="default")
    ap.add_argument("--lines-before", type=int, default=120)
    ap.add_argument("--lines-after", type=int, default=40)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()

    from qwill.engine.llama import default_threads
    from qwill.engine.resolve import resolve_model

    model_path = resolve_model(args.model)
    sites = make_trace(args.keystrokes)
    print(f"trace: {sum(len(s.typed) for s in sites)} keystrokes at {len(sites)} sites "
          f"in {len({s.path for s in sites})} stdlib files; machine: {machine()}", flush=True)
    ours = asyncio.run(run_qwill(sites, str(model_path), args.lines_before, args.lines_after))
    report: dict[str, Any] = {"machine": machine(), "keystrokes": len(ours.latencies),
                              "qwill": ours.summary()}
    print("qwill:", json.dumps(report["qwill"]), flush=True)
    if not args.no_baseline and shutil.which("cmake"):
        base = run_baseline(sites, model_path, default_threads())
        report["baseline"] = base.summary()
        print("baseline:", json.dumps(report["baseline"]), flush=True)
        if ours.latencies and base.latencies:
            report["p50_ratio"] = round(statistics.median(base.latencies) / statistics.median(ours.latencies), 1)
            print(f"p50 ratio (baseline / qwill): {report['p50_ratio']}x")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

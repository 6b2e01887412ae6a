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

    python -m benchmarks.typing_trace [--keystrokes 300] [--site-keystrokes N]
        [--source DIR ... | --sdist NAME==VERSION] [--no-baseline] [--no-time-limits]
        [--threads N] [--pause-every N [--next-edit JSON]] [--json out.json]

Reports, for both in the same run, usefulness beside speed: the empty-answer
rate, first-line agreement and whole-suggestion agreement over every keystroke,
and "accepted" (the share of shown suggestions that the user then typed
through), all as qwill.evaluation.metrics defines them against the author's
text from the cursor on; and p50/p95 latency, first-request latency, cache-hit
rate, prompt tokens evaluated per keystroke, resident memory, the ratio to the
baseline; for Qwill also its pipeline's counters by stage (where model calls'
answers went). Qwill decodes greedily and the peer samples with a fixed seed,
so with --no-time-limits the suggestions do not depend on the machine's load.
`--source` types into any directory of code (functions found with tree-sitter;
default: standard-library modules), `--sdist` into a PyPI sdist's package;
`--site-keystrokes` caps the characters typed at one site so that the trace
spreads over more functions; `--json` keeps every keystroke's suggestion.

`--pause-every N` makes the typist pause after every N-th keystroke: the client then
asks `qwill/nextEdit` at the cursor, as the Qwill clients do once the changes pause for
nextEdit.debounce, and the trace waits for its answer before typing on. The report then
adds what the completion that follows a prediction costs: the prompt tokens evaluated by
the first model call after each next-edit request (on the engine they share, unless
`--next-edit '{"model": ...}'` gives next edits a model of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
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

from benchmarks.llama_cpp_server import free_port
from qwill.evaluation.metrics import Outcome, Usefulness
from qwill.evaluation.runner import machine as eval_machine

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
    original: str = ""  # the document as its author wrote it
    start: int = 0  # offset in `original` where the typing begins
    language_id: str = "python"

    def truth(self, n: int) -> str:
        """What the author wrote from the cursor on, after n typed characters: the
        continuation a suggestion should match."""
        return self.original[self.start + n:]


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


_COMMENT_LINE = ("#", "//", "/*", "*", "--")


def _other_body_starts(path: Path, text: str, lines: list[str]) -> list[int]:
    """First body lines of the functions in a non-Python file (tree-sitter definitions):
    the first non-comment line after the header that is indented deeper than it."""
    from qwill.context.languages import language_for
    from qwill.context.syntax import SyntaxTree, definitions

    spec = language_for("", str(path))
    if spec is None:
        return []
    out = []
    for d in definitions(SyntaxTree(spec, text), with_snippets=False):
        if d.kind not in ("function", "method") or d.end_line - d.line < 2:
            continue
        head = lines[d.line]
        width = len(head) - len(head.lstrip())
        for j in range(d.line + 1, min(d.end_line, len(lines))):
            stripped = lines[j].strip()
            if not stripped or stripped.startswith(_COMMENT_LINE):
                continue
            if len(lines[j]) - len(lines[j].lstrip()) > width:
                out.append(j)
            break
    return out


def source_files(sources: list[str] | None) -> list[Path]:
    """The files to trace: the given files and every file of a supported language under
    the given directories; by default a fixed set of standard-library modules."""
    if not sources:
        lib = Path(sysconfig.get_paths()["stdlib"])
        return [lib / rel for rel in STDLIB_FILES if (lib / rel).exists()]
    from qwill.context.languages import language_for

    skip = {".git", "node_modules", "__pycache__", ".venv", "venv", "build", "dist", ".tox"}
    out: list[Path] = []
    for src in sources:
        root = Path(src)
        if root.is_file():
            out.append(root)
            continue
        if not root.is_dir():
            sys.exit(f"no such file or directory: {src}")
        for path in sorted(root.rglob("*")):
            if (path.is_file() and not skip & set(path.relative_to(root).parts)
                    and language_for("", str(path)) is not None and path.stat().st_size < 500_000):
                out.append(path)
    return out


def make_trace(keystrokes: int, seed: int = 7, lines_typed: int = 2,
               files: list[Path] | None = None, site_keystrokes: int = 0) -> list[Site]:
    """Sites to type at: the first `lines_typed` lines of function bodies, cleared and
    typed again, until `keystrokes` characters; at most `site_keystrokes` at one site
    (0: its whole text), so that a trace spreads over more functions."""
    from qwill.context.languages import language_for

    rng = random.Random(seed)
    candidates: list[Site] = []
    for path in files if files is not None else source_files(None):
        try:
            original = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        spec = language_for("", str(path))
        language_id = spec.name if spec is not None else "python"
        lines = original.split("\n")
        if path.suffix == ".py":
            starts = [j for i, line in enumerate(lines) if _DEF.match(line)
                      for j in [_body_start(lines, i)] if j is not None]
        else:
            starts = _other_body_starts(path, original, lines)
        line_offsets = [0]
        for line in lines:
            line_offsets.append(line_offsets[-1] + len(line) + 1)
        for j in starts:
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
            candidates.append(Site(path, "\n".join(cleared), j, indent, typed, original,
                                   line_offsets[j] + len(indent), language_id))
    rng.shuffle(candidates)
    sites, total = [], 0
    for site in candidates:
        if total >= keystrokes:
            break
        site.typed = site.typed[: keystrokes - total]
        if site_keystrokes > 0:
            site.typed = site.typed[:site_keystrokes]
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
    # one per keystroke: what was shown, what the author wrote from the cursor on
    records: list[dict[str, Any]] = field(default_factory=list)
    # the pipeline's counters by stage over the trace (Qwill: qwill/completionStats)
    stages: dict[str, int] = field(default_factory=dict)
    # with pauses: qwill/nextEdit requests, what they answered, and the prompt tokens the
    # first completion model call after each one evaluated
    next_edits: int = 0
    next_edit_answers: dict[str, int] = field(default_factory=dict)
    after_next_edit: list[int] = field(default_factory=list)
    # prompt tokens evaluated by the other model calls (not right after a next-edit request)
    other_model_calls: list[int] = field(default_factory=list)

    def record(self, site: int, n: int, suggestion: str, truth: str, source: str, seconds: float,
               stages: list[str] | None = None) -> None:
        o = Outcome.score(suggestion, truth)
        self.records.append({"site": site, "n": n, "suggestion": suggestion, "truth": truth[:400],
                             "shown": o.shown, "first_line": o.first_line, "accepted": o.accepted,
                             "source": source, "seconds": round(seconds, 4),
                             **({"stages": stages} if stages is not None else {})})

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
            **usefulness(self.records),
            **({"stages": self.stages} if self.stages else {}),
            **(self._next_edit_summary() if self.next_edits else {}),
        }

    def _next_edit_summary(self) -> dict[str, Any]:
        after, other = self.after_next_edit, self.other_model_calls
        return {
            "next_edit_requests": self.next_edits,
            "next_edit_answers": self.next_edit_answers,
            "evaluated_after_next_edit": after,
            "evaluated_after_next_edit_mean": round(statistics.fmean(after), 1) if after else None,
            "evaluated_other_model_calls_mean": round(statistics.fmean(other), 1) if other else None,
            "evaluated_other_model_calls_median": statistics.median(other) if other else None,
        }


def usefulness(records: list[dict[str, Any]]) -> dict[str, float | int]:
    """Empty rate, first-line and whole-suggestion agreement, accepted: the shared definitions
    of qwill.evaluation.metrics over every keystroke's suggestion and the truth there."""
    return Usefulness.of(Outcome(r["shown"], r["first_line"], r["accepted"]) for r in records).as_dict()


# counters of qwill/completionStats that say where a model call's answer went
STAGE_PREFIXES = ("answered", "empty", "cut", "shape", "stop", "middle")


def _stats_dict(stats: Any) -> dict[str, int]:
    if isinstance(stats, dict):
        raw = stats
    elif hasattr(stats, "_asdict"):  # pygls answers with namedtuple-like objects
        raw = stats._asdict()
    else:
        raw = vars(stats)
    return {k: v for k, v in raw.items() if isinstance(v, int)}


NEXT_EDIT = "qwill/nextEdit"


def _answer_kind(answer: Any) -> str:
    """What a qwill/nextEdit answer was: a prediction, or the reason there was none."""
    raw = answer if isinstance(answer, dict) else (answer._asdict() if hasattr(answer, "_asdict") else vars(answer))
    if raw.get("id") is not None:
        return "prediction"
    return str(raw.get("reason") or "none")[:60]


# -- Qwill over stdio -------------------------------------------------------------------
async def run_qwill(sites: list[Site], model: str, lines_before: int | None, lines_after: int | None,
                    threads: int = 0, completion: dict[str, Any] | None = None,
                    context: dict[str, Any] | None = None, pause_every: int = 0,
                    next_edit: dict[str, Any] | None = None) -> Result:
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
        initialization_options={"engine": {"model": model, **({"nThreads": threads} if threads else {})},
                                "completion": {**({"linesBefore": lines_before} if lines_before is not None else {}),
                                               **({"linesAfter": lines_after} if lines_after is not None else {}),
                                               **(completion or {})},
                                **({"context": context} if context else {}),
                                **({"nextEdit": next_edit} if next_edit else {})},
    ))
    client.initialized(types.InitializedParams())
    await asyncio.wait_for(ready.wait(), 600)
    prev = await client.protocol.send_request_async("qwill/completionStats", {})
    start_stats = _stats_dict(prev)
    typed_total = 0
    after_pause = False  # a next-edit request ran since the last completion model call
    for n_site, site in enumerate(sites):
        uri = site.path.as_uri() + f"#site{n_site}"
        version = 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id=site.language_id, version=version, text=site.text)))
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
            moved = [k for k, v in _stats_dict(stats).items()
                     if k.startswith(STAGE_PREFIXES) and v > getattr(prev, k, 0)]
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
                    if pause_every:
                        (res.after_next_edit if after_pause else res.other_model_calls).append(evaluated)
                        after_pause = False
            items = out.items if isinstance(out, types.InlineCompletionList) else (out or [])
            res.nonempty += bool(items)
            shown = ""
            if items:
                shown = items[0].insert_text if isinstance(items[0].insert_text, str) else items[0].insert_text.value
            if n:
                res.record(n_site, n, shown, site.truth(n), source, dt, moved)
                typed_total += 1
                if pause_every and typed_total % pause_every == 0:
                    # the typist pauses: the client asks for the next edit and shows it
                    answer = await client.protocol.send_request_async(NEXT_EDIT, {
                        "textDocument": {"uri": uri}, "position": {"line": line, "character": col}})
                    got = _answer_kind(answer)
                    res.next_edits += 1
                    res.next_edit_answers[got] = res.next_edit_answers.get(got, 0) + 1
                    after_pause = True
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        print(f"  qwill: site {n_site + 1}/{len(sites)} typed", file=sys.stderr, flush=True)
    end_stats = _stats_dict(await client.protocol.send_request_async("qwill/completionStats", {}))
    res.stages = {k: v - start_stats.get(k, 0) for k, v in end_stats.items()}
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


def _post(url: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return dict(json.loads(resp.read()))


def run_baseline(sites: list[Site], model_path: Path, threads: int, seed: int = 1,
                 time_limits: bool = True) -> Result:
    res = Result("llama-server /infill (llama.vim)")
    binary = build_llama_server()
    port = free_port()
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
        for n_site, site in enumerate(sites):
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
                    # llama.vim samples; a fixed seed makes its choices repeatable
                    "seed": seed,
                    **({"t_max_prompt_ms": 500, "t_max_predict_ms": 1000} if time_limits else {}),
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
                content = str(out.get("content", ""))
                res.nonempty += bool(content.strip())
                if n:
                    # what llama.vim shows: the content without its trailing blank lines,
                    # nothing when it is only whitespace
                    shown = content.rstrip("\n") if content.strip() else ""
                    res.record(n_site, n, shown, site.truth(n), "model", dt)
            print(f"  peer: site {n_site + 1}/{len(sites)} typed", file=sys.stderr, flush=True)
        res.rss_mb = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return res


def machine() -> str:
    """The machine in one line (qwill.evaluation.runner.machine's facts)."""
    m = eval_machine()
    return f"{m['system']}, {m['cpu']}, {m['cores']} cores"


def print_usefulness(ours: Result, base: Result | None) -> None:
    """The usefulness rows, Qwill beside the peer."""
    rows = [("qwill", ours.summary())] + ([("peer", base.summary())] if base else [])
    keys = [("empty_pct", "empty answers %"), ("first_line_agreement_pct", "first-line agreement %"),
            ("whole_agreement_pct", "whole-suggestion agreement %"),
            ("accepted_pct", "accepted % (of shown)"), ("p50_s", "p50 s"), ("p95_s", "p95 s")]
    print("usefulness over every keystroke:")
    for key, label in keys:
        print(f"  {label:30s} " + "  ".join(f"{name} {row.get(key)}" for name, row in rows))


def print_stages(stages: dict[str, int]) -> None:
    """Where Qwill's model calls ended, by stage (qwill/completionStats over the trace)."""
    calls = stages.get("answered", 0) + sum(v for k, v in stages.items()
                                             if k.startswith("empty") and k != "emptyJoined")
    print(f"qwill stages ({calls} model calls for the user's keystrokes):")
    for prefix in STAGE_PREFIXES:
        row = {k: v for k, v in stages.items() if k.startswith(prefix) and v}
        if row:
            print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keystrokes", type=int, default=300)
    ap.add_argument("--site-keystrokes", type=int, default=0, metavar="N",
                    help="type at most N characters at one site, so the trace spreads over more "
                         "functions (0: each site's whole text)")
    ap.add_argument("--source", "--files", action="append", metavar="PATH",
                    help="a file or directory of code to type into (repeatable; default: "
                         "standard-library modules)")
    ap.add_argument("--sdist", metavar="NAME==VERSION",
                    help="type into a PyPI sdist's package (fetched with pip download into "
                         "benchmarks/.work/, as benchmarks.fim_quality --python-sdist does)")
    ap.add_argument("--seed", type=int, default=7, help="which sites are typed, and the peer's sampling seed")
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads for both (0: all cores)")
    ap.add_argument("--lines-before", type=int, default=None,
                    help="Qwill's completion.linesBefore (default: Qwill's own default)")
    ap.add_argument("--lines-after", type=int, default=None,
                    help="Qwill's completion.linesAfter (default: Qwill's own default)")
    ap.add_argument("--no-time-limits", action="store_true",
                    help="no time budget for either (Qwill completion.timeBudget 0, the peer without "
                         "t_max_*_ms): suggestions then do not depend on the machine's load")
    ap.add_argument("--completion", type=json.loads, default={},
                    help='extra Qwill completion settings as JSON, e.g. \'{"maxTokens": 32}\'')
    ap.add_argument("--context", type=json.loads, default={},
                    help='Qwill context settings as JSON, e.g. \'{"enabled": false}\'')
    ap.add_argument("--pause-every", type=int, default=0, metavar="N",
                    help="pause after every N-th keystroke and ask qwill/nextEdit there, as the Qwill "
                         "clients do (0: no pauses)")
    ap.add_argument("--next-edit", type=json.loads, default={},
                    help='Qwill nextEdit settings as JSON, e.g. \'{"maxTokens": 64}\'')
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", help="write the results (with every keystroke's suggestion) to this file")
    args = ap.parse_args(argv)

    from qwill.engine.llama import default_threads
    from qwill.engine.resolve import resolve_model

    model_path = resolve_model(args.model)
    threads = args.threads or default_threads()
    if args.sdist:
        from benchmarks.fim_quality import sdist_corpus

        args.source = [*(args.source or []), str(sdist_corpus(args.sdist))]
    files = source_files(args.source)
    sites = make_trace(args.keystrokes, args.seed, files=files, site_keystrokes=args.site_keystrokes)
    if not sites:
        sys.exit("no function bodies to type into in the given sources")
    where = "stdlib files" if not args.source else "files of " + ", ".join(args.source)
    print(f"trace: {sum(len(s.typed) for s in sites)} keystrokes at {len(sites)} sites "
          f"in {len({s.path for s in sites})} {where}; machine: {machine()}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    completion = dict(args.completion)
    if args.no_time_limits:
        completion.setdefault("timeBudget", 0)
    ours = asyncio.run(run_qwill(sites, str(model_path), args.lines_before, args.lines_after,
                                 threads, completion, args.context, args.pause_every, args.next_edit))
    report: dict[str, Any] = {"machine": machine(), "load_before": round(os.getloadavg()[0], 1),
                              "args": {k: v for k, v in vars(args).items() if k != "json"},
                              "sites": [{"path": str(s.path), "line": s.line, "typed": s.typed} for s in sites],
                              "keystrokes": len(ours.latencies), "qwill": ours.summary()}
    print("qwill:", json.dumps({k: v for k, v in report["qwill"].items() if k != "stages"}), flush=True)
    print_stages(ours.stages)
    base: Result | None = None
    if not args.no_baseline and shutil.which("cmake"):
        base = run_baseline(sites, model_path, threads, args.seed, not args.no_time_limits)
        report["baseline"] = base.summary()
        print("baseline:", json.dumps(report["baseline"]), flush=True)
        if ours.latencies and base.latencies:
            report["p50_ratio"] = round(statistics.median(base.latencies) / statistics.median(ours.latencies), 1)
            print(f"p50 ratio (baseline / qwill): {report['p50_ratio']}x")
    print_usefulness(ours, base)
    report["load_after"] = round(os.getloadavg()[0], 1)
    if args.json:
        report["records"] = {"qwill": ours.records, **({"baseline": base.records} if base else {})}
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`qwill demo`: a scripted editor session against a real `qwill serve`.

It starts the server as a subprocess over stdio (exactly as an editor does),
opens a Python file, and at each function body: clears the body, asks for a
suggestion, types the first characters keystroke by keystroke (one request per
keystroke, as an editor sends them), accepts the suggestion, and prints what
it got and how long each answer took.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from .lsp import pygls_compat

_DEF = re.compile(r"^(\s*)def \w+.*:\s*$")


@dataclass
class Spot:
    line: int  # first body line after the docstring (0-based)
    indent: str
    hidden: str  # the body text that is removed


def find_spots(text: str, limit: int = 6) -> list[Spot]:
    """Function bodies after a one-line docstring: the places the demo types into."""
    lines = text.split("\n")
    spots = []
    for i, line in enumerate(lines[:-2]):
        m = _DEF.match(line)
        doc = lines[i + 1].strip()
        if not m or not (doc.startswith('"""') and doc.endswith('"""') and len(doc) > 6):
            continue
        body_indent = lines[i + 1][: len(lines[i + 1]) - len(lines[i + 1].lstrip())]
        j = i + 2
        body = []
        while j < len(lines) and lines[j].strip() and lines[j].startswith(body_indent):
            body.append(lines[j])
            j += 1
        if body:
            hidden = "\n".join(body)[len(body_indent):]
            spots.append(Spot(i + 2, body_indent, hidden))
    return spots[:limit]


class _Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("qwill-demo", "0.1")
        self.ready = asyncio.Event()
        self.status: dict[str, Any] = {}


def _print(msg: str) -> None:
    print(msg, flush=True)


async def _drain(stream: asyncio.StreamReader | None, verbose: bool) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        if verbose:
            sys.stderr.write(line.decode(errors="replace"))


async def run_session(model: str, path: Path, verbose: bool = False) -> int:
    text = path.read_text()
    spots = find_spots(text)
    if not spots:
        _print(f"no function bodies with a one-line docstring found in {path}")
        return 1
    client = _Client()

    def on_status(ls: _Client, params: Any) -> None:
        state = params.state if hasattr(params, "state") else params["state"]
        message = params.message if hasattr(params, "message") else params["message"]
        ls.status = {"state": state, "message": message}
        if state in ("ready", "error"):
            ls.ready.set()

    def on_progress_create(ls: _Client, params: Any) -> None:
        return None

    def on_progress(ls: _Client, params: Any) -> None:
        value = params.value
        msg = getattr(value, "message", None) or (value.get("message") if isinstance(value, dict) else None)
        pct = getattr(value, "percentage", None) if not isinstance(value, dict) else value.get("percentage")
        if msg:
            _print(f"  [progress] {msg}" + (f" {pct}%" if pct is not None else ""))

    def on_message(ls: _Client, params: types.ShowMessageParams) -> None:
        _print(f"  [server] {params.message}")

    # pygls' client decorator is untyped: registered by call
    for method, handler in (("qwill/status", on_status), (types.WINDOW_WORK_DONE_PROGRESS_CREATE, on_progress_create),
                            (types.PROGRESS, on_progress), (types.WINDOW_SHOW_MESSAGE, on_message)):
        client.feature(method)(handler)

    t_start = time.perf_counter()
    await client.start_io(sys.executable, "-m", "qwill", "serve", "--model", model)
    drain = asyncio.ensure_future(_drain(pygls_compat.client_stderr(client), verbose))
    await client.initialize_async(types.InitializeParams(
        process_id=None, root_uri=path.parent.resolve().as_uri(),
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities())),
        client_info=types.ClientInfo(name="qwill-demo"),
    ))
    client.initialized(types.InitializedParams())
    await client.ready.wait()
    _print(f"model: {client.status.get('message')} ({time.perf_counter() - t_start:.1f}s to ready)")
    if client.status.get("state") != "ready":
        await client.shutdown_async(None)
        client.exit(None)
        return 2

    uri = path.resolve().as_uri()
    version = 1
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))
    latencies: list[float] = []
    accepted_exact = 0
    shown = 0  # requests answered with a non-empty suggestion

    def set_text(new: str) -> None:
        nonlocal version
        version += 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new)]))

    def insert(line: int, col: int, s: str) -> None:
        nonlocal version
        version += 1
        pos = types.Position(line=line, character=col)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=pos, end=pos), text=s)]))

    async def ask(line: int, col: int) -> tuple[str, float]:
        nonlocal shown
        t0 = time.perf_counter()
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        dt = time.perf_counter() - t0
        latencies.append(dt)
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        first = items[0].insert_text if items else ""
        suggestion = first if isinstance(first, str) else first.value
        shown += bool(suggestion.strip())
        return suggestion, dt

    for n, spot in enumerate(spots, 1):
        lines = text.split("\n")
        n_hidden = spot.hidden.count("\n") + 1
        cleared = "\n".join([*lines[:spot.line], spot.indent, *lines[spot.line + n_hidden:]])
        set_text(cleared)
        col = len(spot.indent)
        header = lines[spot.line - 2].strip()
        _print(f"\n[{n}/{len(spots)}] {header}")
        suggestion, dt = await ask(spot.line, col)
        _print(f"  cursor on empty body   {dt * 1000:6.0f} ms  -> {suggestion!r}")
        typed = ""
        for ch in spot.hidden[:4]:
            insert(spot.line, col, ch)
            col += 1
            typed += ch
            suggestion, dt = await ask(spot.line, col)
            _print(f"  typed {typed!r:<16} {dt * 1000:6.0f} ms  -> {suggestion!r}")
        accepted = typed + suggestion
        exact = accepted.strip() == spot.hidden.strip()
        accepted_exact += exact
        _print(f"  accepted: {accepted!r}  ({'matches the original' if exact else 'original: ' + repr(spot.hidden)})")
        set_text(text)

    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.sleep(0.2)
    drain.cancel()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    _print(f"\n{len(latencies)} requests: p50 {statistics.median(latencies) * 1000:.0f} ms, "
           f"p95 {p95 * 1000:.0f} ms; {shown} non-empty suggestions; "
           f"{accepted_exact}/{len(spots)} bodies reproduced exactly")
    if not shown:
        # the demo is the install check users and CI run: no suggestion at all is a failure
        _print("qwill demo: the model answered no request with a suggestion")
        return 1
    return 0


def run_demo(model: str = "default", file: str | None = None, verbose: bool = False) -> int:
    if file:
        path = Path(file)
    else:
        path = Path(str(resources.files("qwill") / "examples" / "inventory.py"))
    if not path.is_file():
        print(f"qwill demo: {path} is not a file", file=sys.stderr)
        return 1
    return asyncio.run(run_session(model, path, verbose))

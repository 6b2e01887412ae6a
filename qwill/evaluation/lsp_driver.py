"""`qwill serve` over stdio, driven as an editor drives it (the only module of
qwill/evaluation that speaks the protocol).

One `ServerDriver` is one server process with one model: initialize with the
repository as the workspace folder, wait for the model and the workspace index,
then per case didOpen / didChange / textDocument/inlineCompletion / didClose, and
`qwill/completionStats` + `qwill/explainContext` (our own requests) to learn where
a suggestion came from. Answers come back as plain dataclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from ..context.document import Position, TextDocument
from ..lsp import pygls_compat
from .history import NextEditCase
from .mining import Hole, TypingSite, position_of


class DriverError(RuntimeError):
    """The server could not be started or stopped answering (message for the user)."""


@dataclass(frozen=True)
class Ready:
    state: str  # "ready" or "error"
    message: str
    model: dict[str, Any]
    seconds: float  # from start to the model's status


@dataclass(frozen=True)
class Answer:
    """One textDocument/inlineCompletion: what was shown at the cursor, and how."""

    text: str  # the suggestion as ghost text from the cursor on ("" when none)
    seconds: float
    source: str  # model, typed-through, cache, joined
    evaluated_tokens: int
    prompt_tokens: int
    context_sources: tuple[str, ...] = ()  # context blocks in the prompt (FIM holes only)
    context_tokens: int = 0


@dataclass(frozen=True)
class EditAnswer:
    """One `qwill/nextEdit`: the document as the prediction would leave it (None: no
    prediction, `reason` says why), and the lines its edits touch."""

    predicted: str | None
    reason: str
    seconds: float
    lines: tuple[tuple[int, int], ...] = ()  # (first, last) line of each edit, in the edited document


def _plain(obj: Any) -> Any:
    """pygls hands custom notifications over as nested namedtuples: back to JSON values."""
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class ServerDriver:
    """A `qwill serve` subprocess and an LSP client of it."""

    def __init__(self, model: str, root: Path, *, init_options: dict[str, Any] | None = None,
                 python: str = sys.executable) -> None:
        self.model = model
        self.root = root
        self.init_options = init_options or {}
        self.python = python
        self.client = LanguageClient("qwill-eval", "1")
        self._status: asyncio.Future[Any] | None = None
        self._index: asyncio.Event = asyncio.Event()
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._drain: asyncio.Future[None] | None = None
        self._stats: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self.started = False

    # -- life -----------------------------------------------------------------------------
    async def start(self, timeout: float) -> Ready:
        """Start the server and wait for the model (ready or error) at most `timeout` s."""
        loop = asyncio.get_running_loop()
        self._status = loop.create_future()
        t0 = time.perf_counter()

        def on_status(ls: Any, params: Any) -> None:
            state = _get(params, "state")
            if state in ("ready", "error") and self._status is not None and not self._status.done():
                self._status.set_result(params)

        def on_index(ls: Any, params: Any) -> None:
            self._index.set()

        def ignore(ls: Any, params: Any) -> None:
            return None

        # pygls' client decorator is untyped: registered by call
        for method, handler in (("qwill/status", on_status), ("qwill/indexStatus", on_index),
                                (types.WINDOW_WORK_DONE_PROGRESS_CREATE, ignore), (types.PROGRESS, ignore),
                                (types.WINDOW_SHOW_MESSAGE, ignore), (types.WINDOW_LOG_MESSAGE, ignore)):
            self.client.feature(method)(handler)
        try:
            await self.client.start_io(self.python, "-m", "qwill", "serve", "--model", self.model)
        except OSError as exc:
            raise DriverError(f"cannot start qwill serve: {exc}") from None
        self.started = True
        self._drain = asyncio.ensure_future(self._read_stderr())
        opts = {**self.init_options, "engine": {**self.init_options.get("engine", {}), "model": self.model}}
        try:
            await asyncio.wait_for(self.client.initialize_async(types.InitializeParams(
                process_id=None, root_uri=self.root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=self.root.as_uri(), name=self.root.name)],
                capabilities=types.ClientCapabilities(
                    window=types.WindowClientCapabilities(work_done_progress=True),
                    text_document=types.TextDocumentClientCapabilities(
                        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
                        inline_completion=types.InlineCompletionClientCapabilities())),
                initialization_options=opts,
                client_info=types.ClientInfo(name="qwill-eval"),
            )), max(5.0, timeout))
            self.client.initialized(types.InitializedParams())
            status = await asyncio.wait_for(self._status, max(1.0, timeout - (time.perf_counter() - t0)))
        except TimeoutError:
            return Ready("error", f"the model was not ready within {timeout:.0f} s", {}, time.perf_counter() - t0)
        except Exception as exc:  # the process died: its stderr says why
            raise DriverError(self._died(exc)) from None
        model = _plain(_get(status, "model")) or {}
        return Ready(str(_get(status, "state")), str(_get(status, "message") or ""),
                     model if isinstance(model, dict) else {}, time.perf_counter() - t0)

    async def wait_index(self, timeout: float) -> bool:
        """Wait for the workspace index (built after `initialized`); False on timeout."""
        try:
            await asyncio.wait_for(self._index.wait(), max(0.0, timeout))
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        if not self.started:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        server = getattr(self.client, "_server", None)
        if server is not None:
            try:
                await asyncio.wait_for(server.wait(), 10)
            except (TimeoutError, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    server.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.stop(), 5)  # type: ignore[no-untyped-call]
        if self._drain is not None:
            self._drain.cancel()
        self.started = False

    async def _read_stderr(self) -> None:
        stream = pygls_compat.client_stderr(self.client)
        if stream is None:
            return
        while line := await stream.readline():
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    def _died(self, exc: BaseException) -> str:
        tail = "\n".join(self.stderr_tail)
        return f"qwill serve stopped: {exc}" + (f"\n{tail}" if tail else "")

    # -- documents ------------------------------------------------------------------------
    def open(self, uri: str, text: str, language: str) -> None:
        self._versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))

    def insert(self, uri: str, text: str, offset: int, s: str) -> None:
        """Type `s` at `offset` of the buffer whose text (before typing) is `text`."""
        self._versions[uri] += 1
        line, col = position_of(text, offset)
        pos = types.Position(line=line, character=col)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self._versions[uri]),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=s)]))

    def close_doc(self, uri: str) -> None:
        self._versions.pop(uri, None)
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    # -- requests -------------------------------------------------------------------------
    async def complete(self, uri: str, text: str, offset: int, *, invoked: bool, timeout: float,
                       explain: bool = False) -> Answer | None:
        """The suggestion at `offset` (None: no answer within `timeout`)."""
        line, col = position_of(text, offset)
        kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        t0 = time.perf_counter()
        request = self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(trigger_kind=kind)))
        try:
            # shielded: cancelling pygls' future makes it fail on the server's late answer
            # (InvalidStateError); a request still running at the deadline ends with the server
            out = await asyncio.wait_for(asyncio.shield(request), max(0.01, timeout))
        except TimeoutError:
            return None
        except Exception as exc:
            if self.client.stopped if hasattr(self.client, "stopped") else False:
                raise DriverError(self._died(exc)) from None
            raise DriverError(f"textDocument/inlineCompletion failed: {exc}") from None
        dt = time.perf_counter() - t0
        items = out.items if isinstance(out, types.InlineCompletionList) else (out or [])
        shown = _shown_text(items[0], text, offset) if items else ""
        source, evaluated, prompt = await self._source()
        sources: tuple[str, ...] = ()
        ctx_tokens = 0
        if explain:
            sources, ctx_tokens = await self._context(uri, line, col)
        return Answer(shown, dt, source, evaluated, prompt, sources, ctx_tokens)

    async def _source(self) -> tuple[str, int, int]:
        try:
            stats = await asyncio.wait_for(self.client.protocol.send_request_async("qwill/completionStats", {}), 10)
        except Exception:
            return "unknown", 0, 0
        now = {k: int(_get(stats, k, 0) or 0) for k in (
            "typedThrough", "cacheHits", "joined", "modelCalls", "evaluatedTokens", "promptTokens")}
        prev, self._stats = self._stats, now
        source = "model"
        for key, name in (("typedThrough", "typed-through"), ("cacheHits", "cache"), ("joined", "joined")):
            if now[key] > prev.get(key, 0):
                source = name
        return (source, now["evaluatedTokens"] - prev.get("evaluatedTokens", 0),
                now["promptTokens"] - prev.get("promptTokens", 0))

    async def _context(self, uri: str, line: int, col: int) -> tuple[tuple[str, ...], int]:
        try:
            result = await asyncio.wait_for(self.client.protocol.send_request_async("qwill/explainContext", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": col}}), 10)
        except Exception:
            return (), 0
        items = _get(result, "items") or []
        used = sorted({str(_get(i, "source")) for i in items if _get(i, "included")})
        return tuple(used), int(_get(result, "tokens", 0) or 0)

    # -- cases ----------------------------------------------------------------------------
    async def fim(self, hole: Hole, text: str, uri: str, timeout: float) -> Answer | None:
        """Open the file with the hole cut out and ask for a suggestion at the hole."""
        shown = hole.shown(text)
        self.open(uri, shown, hole.language)
        try:
            return await self.complete(uri, shown, hole.offset, invoked=True, timeout=timeout, explain=True)
        finally:
            self.close_doc(uri)

    async def next_edit(self, case: NextEditCase, uri: str, timeout: float) -> EditAnswer | None:
        """Open the file as it was, make the user's edits (one didChange each, top to
        bottom), and ask `qwill/nextEdit` at the cursor (None: no answer within `timeout`)."""
        self.open(uri, case.before, case.language)
        try:
            for hunk in case.user_edits:
                self._versions[uri] += 1
                start, end = hunk.start + case.shift(hunk), hunk.end + case.shift(hunk)
                self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self._versions[uri]),
                    content_changes=[types.TextDocumentContentChangePartial(
                        range=types.Range(start=types.Position(line=start, character=0),
                                          end=types.Position(line=end, character=0)),
                        text=hunk.new)]))
            edited = case.edited
            line, col = position_of(edited, case.cursor)
            t0 = time.perf_counter()
            request = self.client.protocol.send_request_async("qwill/nextEdit", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": col}})
            try:
                result = await asyncio.wait_for(asyncio.shield(request), max(0.01, timeout))
            except TimeoutError:
                return None
            except Exception as exc:
                return EditAnswer(None, f"error: {exc}", time.perf_counter() - t0)
            return _edit_answer(result, edited, time.perf_counter() - t0)
        finally:
            self.close_doc(uri)

    async def type_site(self, site: TypingSite, text: str, uri: str, deadline: float,
                        on_answer: Callable[[int, Answer], None]) -> bool:
        """Type `site.typed` keystroke by keystroke, one inlineCompletion request after each
        (and one before the first); False when the deadline cut it short."""
        doc = site.cleared(text)
        self.open(uri, doc, site.language)
        try:
            for n in range(len(site.typed) + 1):
                if n:
                    self.insert(uri, doc, site.offset + n - 1, site.typed[n - 1])
                    doc = doc[:site.offset + n - 1] + site.typed[n - 1] + doc[site.offset + n - 1:]
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                answer = await self.complete(uri, doc, site.offset + n, invoked=False, timeout=left)
                if answer is None:
                    return False
                on_answer(n, answer)
            return True
        finally:
            self.close_doc(uri)


def _edit_answer(result: Any, text: str, seconds: float) -> EditAnswer:
    data = _plain(result) or {}
    edits = data.get("edits") or [] if isinstance(data, dict) else []
    if not edits:
        return EditAnswer(None, str(data.get("reason") or "no prediction") if isinstance(data, dict) else "", seconds)
    doc = TextDocument("eval:", text)
    spans = []
    lines = []
    for e in edits:
        r = e["range"]
        start = doc.offset_at(Position(r["start"]["line"], r["start"]["character"]), strict=False)
        end = doc.offset_at(Position(r["end"]["line"], r["end"]["character"]), strict=False)
        spans.append((start, end, str(e.get("newText", ""))))
        lines.append((int(r["start"]["line"]), int(r["end"]["line"])))
    out, pos = [], 0
    for start, end, new in sorted(spans):
        if start < pos:
            return EditAnswer(None, "overlapping edits", seconds)
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return EditAnswer("".join(out), "", seconds, tuple(lines))


def _shown_text(item: types.InlineCompletionItem, text: str, offset: int) -> str:
    """An item's text as ghost text from the cursor: a range starting before the cursor
    repeats what is already typed, which is not part of the suggestion."""
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    if item.range is None:
        return insert
    start = item.range.start
    line_start = 0
    for _ in range(start.line):
        line_start = text.find("\n", line_start) + 1
    # columns are UTF-16; count them over the line
    col, i = 0, line_start
    while i < len(text) and col < start.character and text[i] != "\n":
        col += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    before = text[i:offset] if i <= offset else ""
    return insert[len(before):] if insert.startswith(before) else insert

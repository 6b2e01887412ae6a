"""A local engine in its own process, so a llama.cpp crash cannot take the
language server down.

`IsolatedEngine` is an Engine: the EngineWorker drives it like any other. It
forwards each call to a child process (multiprocessing, spawn) that loads the
real engine with the same loader and runs it; text pieces come back as they
are made. A cancel is sent the moment the token is cancelled, and the child
checks it between tokens. If the child dies (a segfault in llama.cpp, the OOM
killer, a signal), the generation in flight ends with an EngineError, the
problem is reported to the session (status `degraded`, a message to the
user), and the child is started again with exponential backoff; the next
request after it is back is served normally.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from ..config import EngineSettings
from .base import CancelToken, EngineError, GenerationRequest, GenerationStats, ModelInfo, ProblemListener
from .fim import find_template
from .resolve import ProgressFn

log = logging.getLogger(__name__)

# Restart delays after a crash: 1, 2, 4, ... seconds, at most this much.
MAX_BACKOFF = 30.0


# -- the child ------------------------------------------------------------------------
def _host(conn: Connection, settings_json: dict[str, Any], fim_override: str) -> None:
    """Child process: load the engine, then serve generate/tokenize/cancel messages."""
    from .loader import load_engine

    send_lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(msg)

    def progress(message: str, fraction: float | None) -> None:
        send(("progress", 0, message, fraction))

    try:
        settings = EngineSettings.model_validate(settings_json)
        engine = load_engine(settings, fim_override=fim_override, progress=progress)
    except EngineError as exc:
        send(("load_error", 0, str(exc)))
        return
    except Exception as exc:
        send(("load_error", 0, f"the model could not be loaded: {exc}"))
        return
    info = engine.info
    info.extra = {**info.extra, "pid": str(multiprocessing.current_process().pid)}
    send(("ready", 0, info))
    jobs: queue.Queue[tuple[int, GenerationRequest] | None] = queue.Queue()
    tokens: dict[int, CancelToken] = {}

    def reader() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            kind, rid = msg[0], msg[1]
            if kind == "gen":
                tokens[rid] = CancelToken()
                jobs.put((rid, msg[2]))
            elif kind == "cancel":
                token = tokens.get(rid)
                if token is not None:
                    token.cancel(msg[2])
            elif kind == "tok":
                try:
                    send(("tok", rid, engine.tokenize(msg[2])))
                except Exception as exc:
                    send(("err", rid, f"tokenize failed: {exc}"))
            elif kind == "stop":
                break
        jobs.put(None)

    threading.Thread(target=reader, name="qwill-engine-host-reader", daemon=True).start()
    while (job := jobs.get()) is not None:
        rid, request = job
        token = tokens[rid]
        stats = GenerationStats()
        try:
            first = True
            for piece in engine.generate(request, token, stats):
                if first:
                    # the prompt's counts, before the text: a consumer that stops reading early
                    # (a completion whose unit is complete) leaves before "done" arrives
                    send(("stats", rid, stats))
                    first = False
                send(("piece", rid, piece))
            send(("done", rid, stats))
        except EngineError as exc:
            send(("err", rid, str(exc)))
        except Exception as exc:
            log.exception("generation failed")
            send(("err", rid, f"the engine failed: {exc}"))
        finally:
            tokens.pop(rid, None)
    with contextlib.suppress(Exception):
        engine.close()


# -- the parent -----------------------------------------------------------------------
class IsolatedEngine:
    """An Engine whose model lives in a child process that is restarted if it dies."""

    # prompts evaluated ahead of time stay in this engine's KV cache (see warm-up)
    local_kv_cache = True
    supports_grammar = True  # the child is a LlamaEngine

    def __init__(self, settings: EngineSettings, *, fim_override: str = "auto",
                 progress: ProgressFn | None = None) -> None:
        self._settings_json = settings.model_dump(mode="json")
        self._fim = fim_override
        self._ctx = multiprocessing.get_context("spawn")
        self._send_lock = threading.Lock()
        self._pending: dict[int, queue.Queue[tuple[Any, ...]]] = {}
        self._ids = itertools.count(1)
        self._closing = False
        self._alive = False
        self._restarting = threading.Event()
        self.restarts = 0
        self.problem_listeners: list[ProblemListener] = []
        self._conn: Connection | None = None
        self._proc: Any = None
        self.info: ModelInfo = self._start(progress)
        self.fim = find_template(self.info.fim_template)  # the child renders FIM parts

    # -- process lifecycle -------------------------------------------------------------
    def _start(self, progress: ProgressFn | None) -> ModelInfo:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_host, args=(child, self._settings_json, self._fim),
                                 name="qwill-engine", daemon=True)
        proc.start()
        child.close()
        while True:
            if not parent.poll(0.1):
                if not proc.is_alive():
                    parent.close()
                    raise EngineError(
                        f"the model process exited while loading (exit code {proc.exitcode}); "
                        "the model may be too large for this machine or the llama.cpp build is broken "
                        "(`qwill doctor` checks both)")
                continue
            try:
                msg = parent.recv()
            except (EOFError, OSError):
                proc.join(5)
                parent.close()
                raise EngineError(f"the model process exited while loading (exit code {proc.exitcode})") from None
            if msg[0] == "progress":
                if progress is not None:
                    progress(msg[2], msg[3])
            elif msg[0] == "load_error":
                proc.join(5)
                parent.close()
                raise EngineError(msg[2])
            elif msg[0] == "ready":
                info: ModelInfo = msg[2]
                break
        self._conn, self._proc = parent, proc
        self._alive = True
        threading.Thread(target=self._receive, args=(parent, proc), name="qwill-engine-recv",
                         daemon=True).start()
        return info

    def _receive(self, conn: Connection, proc: Any) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            q = self._pending.get(msg[1])
            if q is not None:
                q.put(msg)
        if conn is not self._conn:
            return
        self._alive = False
        for q in list(self._pending.values()):
            q.put(("dead", 0))
        if self._closing:
            return
        proc.join(1)
        code = proc.exitcode
        self._notify(f"the model process stopped unexpectedly (exit code {code}); restarting it")
        self._restarting.set()
        threading.Thread(target=self._restart_loop, name="qwill-engine-restart", daemon=True).start()

    def _restart_loop(self) -> None:
        attempt = 0
        while not self._closing:
            delay = min(MAX_BACKOFF, 2.0 ** attempt)
            time.sleep(delay)
            if self._closing:
                return
            try:
                self.info = self._start(None)
            except EngineError as exc:
                attempt += 1
                self._notify(f"restarting the model process failed ({exc}); "
                             f"trying again in {min(MAX_BACKOFF, 2.0 ** attempt):.0f}s")
                continue
            self.restarts += 1
            self._restarting.clear()
            self._notify(None)
            return

    def _notify(self, problem: str | None) -> None:
        if problem:
            log.warning("%s", problem)
        for listener in list(self.problem_listeners):
            try:
                listener(problem)
            except Exception:  # pragma: no cover - a listener must not break the engine
                log.exception("problem listener failed")

    def _send(self, msg: tuple[Any, ...]) -> None:
        conn = self._conn
        if conn is None or not self._alive:
            raise EngineError(self._down_message())
        try:
            with self._send_lock:
                conn.send(msg)
        except (OSError, ValueError):
            raise EngineError(self._down_message()) from None

    def _down_message(self) -> str:
        if self._restarting.is_set():
            return "the model process is restarting after a crash; try again in a moment"
        return "the model process is not running"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- Engine ------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, cancel: CancelToken,
                 stats: GenerationStats) -> Iterator[str]:
        rid = next(self._ids)
        replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._pending[rid] = replies
        finished = False
        remove: Callable[[], None] = lambda: None  # noqa: E731
        try:
            self._send(("gen", rid, request))

            def forward_cancel() -> None:
                with contextlib.suppress(EngineError):
                    self._send(("cancel", rid, cancel.reason or "cancelled"))

            remove = cancel.on_cancel(forward_cancel)
            while True:
                msg = replies.get()
                kind = msg[0]
                if kind == "piece":
                    yield msg[2]
                elif kind == "stats":
                    for name, value in vars(msg[2]).items():
                        setattr(stats, name, value)
                elif kind == "done":
                    for name, value in vars(msg[2]).items():
                        setattr(stats, name, value)
                    finished = True
                    return
                elif kind == "err":
                    finished = True
                    raise EngineError(msg[2])
                elif kind == "dead":
                    finished = True
                    stats.stop_reason = "crashed"
                    raise EngineError("the model process stopped during generation; "
                                      "Qwill is restarting it")
        finally:
            remove()
            if not finished and self._alive:
                # the consumer left early: stop the child's decoding too
                with contextlib.suppress(EngineError):
                    self._send(("cancel", rid, "abandoned"))
            self._pending.pop(rid, None)

    def tokenize(self, text: str) -> list[int]:
        rid = next(self._ids)
        replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._pending[rid] = replies
        try:
            self._send(("tok", rid, text))
            try:
                msg = replies.get(timeout=60)
            except queue.Empty:
                raise EngineError("the model process did not answer a tokenize request") from None
            if msg[0] == "tok":
                return list(msg[2])
            if msg[0] == "err":
                raise EngineError(msg[2])
            raise EngineError(self._down_message())
        finally:
            self._pending.pop(rid, None)

    def close(self) -> None:
        self._closing = True
        self._alive = False
        conn, proc = self._conn, self._proc
        if conn is not None:
            with contextlib.suppress(Exception), self._send_lock:
                conn.send(("stop", 0))
        if proc is not None:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

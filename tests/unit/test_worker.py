"""EngineWorker: one owner thread, jobs in order, cancel, errors, sync and async streams."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from qwill.engine.base import CancelToken, EngineError, GenerationRequest, GenerationStats
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker


@pytest.fixture
def worker() -> Iterator[EngineWorker]:
    w = EngineWorker(name="test-engine")
    yield w
    w.shutdown()


def loaded(worker: EngineWorker, engine: FakeEngine) -> FakeEngine:
    worker.load(lambda: engine).result(timeout=5)
    return engine


def blocker(worker: EngineWorker) -> threading.Event:
    """Occupy the owner thread until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    worker.submit(hold)
    assert started.wait(5)
    return release


def test_jobs_run_one_at_a_time_on_the_owner_thread_in_order(worker: EngineWorker) -> None:
    seen: list[tuple[int, str]] = []
    active = 0
    overlap = False
    lock = threading.Lock()

    def job(i: int) -> int:
        nonlocal active, overlap
        with lock:
            active += 1
            overlap = overlap or active > 1
        seen.append((i, threading.current_thread().name))
        with lock:
            active -= 1
        return i * i

    results = [f.result(timeout=5) for f in [worker.submit(lambda i=i: job(i)) for i in range(50)]]
    assert results == [i * i for i in range(50)]
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"test-engine"}
    assert not overlap
    assert worker.pending == 0


def test_load_creates_the_engine_on_the_owner_thread_and_replaces_the_old_one(worker: EngineWorker) -> None:
    where: list[str] = []

    def factory() -> FakeEngine:
        where.append(threading.current_thread().name)
        return FakeEngine(["x"])

    first = worker.load(factory).result(timeout=5)
    second = worker.load(factory).result(timeout=5)
    assert where == ["test-engine", "test-engine"]
    assert first.closed and not second.closed
    assert worker.engine is second


def test_sync_stream_returns_the_pieces_and_the_stats(worker: EngineWorker) -> None:
    engine = loaded(worker, FakeEngine(["return a + b\n"]))
    stats = GenerationStats()
    req = GenerationRequest("<|fim_prefix|>def add(a, b):\n    ", max_tokens=16)
    pieces = list(worker.generate_sync(req, CancelToken(), stats))
    assert pieces == ["return", " a", " +", " b", "\n"]
    assert stats.generated_tokens == 5 and stats.stop_reason == "eos"
    assert engine.history == [req]


async def test_async_stream_returns_the_pieces(worker: EngineWorker) -> None:
    engine = loaded(worker, FakeEngine(["x = compute(1, 2)"]))
    stats = GenerationStats()
    req = GenerationRequest("p", stop=("(",))
    pieces = [p async for p in worker.generate(req, CancelToken(), stats)]
    assert "".join(pieces) == "x = compute"
    assert stats.stop_reason == "stop"
    assert engine.history == [req]


def test_a_job_cancelled_before_its_turn_never_reaches_the_model(worker: EngineWorker) -> None:
    engine = loaded(worker, FakeEngine(["never"]))
    release = blocker(worker)
    token, stats = CancelToken(), GenerationStats()
    stream = worker.generate_sync(GenerationRequest("p"), token, stats)
    token.cancel("superseded")
    release.set()
    assert list(stream) == []
    assert engine.history == []
    assert stats.stop_reason == "cancelled"


async def test_an_async_job_cancelled_before_its_turn_never_reaches_the_model(worker: EngineWorker) -> None:
    engine = loaded(worker, FakeEngine(["never"]))
    release = blocker(worker)
    token, stats = CancelToken(), GenerationStats()
    token.cancel("superseded")
    release.set()
    assert [p async for p in worker.generate(GenerationRequest("p"), token, stats)] == []
    assert engine.history == []
    assert stats.stop_reason == "cancelled"


async def test_cancel_mid_stream_stops_within_one_piece(worker: EngineWorker) -> None:
    loaded(worker, FakeEngine([" ".join(f"w{i}" for i in range(200))], delay=0.002))
    token, stats = CancelToken(), GenerationStats()
    got: list[str] = []
    at_cancel = -1
    async for piece in worker.generate(GenerationRequest("p", max_tokens=500), token, stats):
        got.append(piece)
        if len(got) == 5:
            at_cancel = stats.generated_tokens
            token.cancel("newer keystroke")
    assert stats.stop_reason == "cancelled"
    # what was in flight when the cancel came may finish; nothing after it
    assert stats.generated_tokens <= at_cancel + 1
    assert len(got) <= at_cancel + 1
    assert token.reason == "newer keystroke"


async def test_a_consumer_that_stops_early_cancels_the_decoder(worker: EngineWorker) -> None:
    engine = loaded(worker, FakeEngine([" ".join(f"w{i}" for i in range(200))], delay=0.002))
    token, stats = CancelToken(), GenerationStats()
    stream = worker.generate(GenerationRequest("p", max_tokens=500), token, stats)
    async for _ in stream:
        break
    await stream.aclose()
    assert token.cancelled and token.reason == "abandoned"
    # the owner thread is free again for the next job, which starts right after
    engine.enqueue("next")
    assert [p async for p in worker.generate(GenerationRequest("q"), CancelToken(), GenerationStats())] == ["next"]
    assert stats.generated_tokens < 200


class Broken(FakeEngine):
    def generate(self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats) -> Iterator[str]:
        yield "partial"
        raise RuntimeError("decode failed: out of memory")


async def test_engine_errors_reach_the_async_consumer(worker: EngineWorker) -> None:
    loaded(worker, Broken())
    got: list[str] = []
    with pytest.raises(RuntimeError, match="decode failed"):
        async for p in worker.generate(GenerationRequest("p"), CancelToken(), GenerationStats()):
            got.append(p)
    assert got == ["partial"]


def test_engine_errors_reach_the_sync_consumer(worker: EngineWorker) -> None:
    loaded(worker, Broken())
    got: list[str] = []
    with pytest.raises(RuntimeError, match="decode failed"):
        for p in worker.generate_sync(GenerationRequest("p"), CancelToken(), GenerationStats()):
            got.append(p)
    assert got == ["partial"]
    # and the worker keeps serving
    assert worker.submit(lambda: 42).result(timeout=5) == 42


async def test_no_model_loaded_is_an_engine_error(worker: EngineWorker) -> None:
    with pytest.raises(EngineError, match="no model is loaded"):
        async for _ in worker.generate(GenerationRequest("p"), CancelToken(), GenerationStats()):
            pass
    with pytest.raises(EngineError, match="no model is loaded"):
        await worker.call(lambda e: e.tokenize("x"))


async def test_call_runs_on_the_owner_thread(worker: EngineWorker) -> None:
    loaded(worker, FakeEngine())
    name, tokens = await worker.call(lambda e: (threading.current_thread().name, e.tokenize("a b c")))
    assert name == "test-engine" and len(tokens) == 3


async def test_a_call_cancelled_while_queued_is_skipped(worker: EngineWorker) -> None:
    loaded(worker, FakeEngine())
    release = blocker(worker)
    ran: list[int] = []
    task = asyncio.ensure_future(worker.call(lambda e: ran.append(1)))
    for _ in range(100):
        if worker.pending == 2:  # the blocker and the queued call
            break
        await asyncio.sleep(0)
    assert worker.pending == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert worker.submit(lambda: "after").result(timeout=5) == "after"
    assert ran == []
    assert worker.pending == 0


def test_shutdown_closes_the_engine() -> None:
    w = EngineWorker()
    engine = loaded(w, FakeEngine())
    w.shutdown()
    assert engine.closed

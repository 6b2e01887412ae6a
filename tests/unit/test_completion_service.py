"""CompletionService on the fake engine: which answers cost a model call and which do not."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from qwill.completion.service import CompletionRequest, CompletionService
from qwill.config import CompletionSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker

URI = "file:///src/calc.py"
TEXT = "def add(a, b):\n    \n\n\nprint(add(1, 2))\n"
AT = TEXT.index("    \n") + 4


@pytest.fixture
def worker() -> Iterator[EngineWorker]:
    w = EngineWorker()
    yield w
    w.shutdown()


class GatedEngine(FakeEngine):
    """Streams its first piece, then holds the rest until `release` (or a cancel)."""

    def __init__(self, responses: list[str]) -> None:
        super().__init__(responses)
        self.release = threading.Event()
        self.first_piece = threading.Event()
        self.held_calls: set[int] | None = None  # which calls (0, 1, ...) are held; None: all

    def generate(self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats) -> Iterator[str]:
        call = len(self.history)
        held = self.held_calls is None or call in self.held_calls
        for i, piece in enumerate(super().generate(request, cancel, stats)):
            if i == 1 and held:
                self.first_piece.set()
                while not self.release.is_set() and not cancel.cancelled:
                    self.release.wait(0.001)
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    return
            yield piece


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


def make(worker: EngineWorker, *responses: str, gated: bool = False, speculate: bool = False,
         **settings: object) -> tuple[CompletionService, FakeEngine]:
    engine = GatedEngine(list(responses)) if gated else FakeEngine(list(responses))
    worker.load(lambda: engine).result(timeout=5)
    service = CompletionService(worker, CompletionSettings(**settings))
    service.speculate = speculate
    return service, engine


def req(text: str = TEXT, offset: int = AT, **kw: object) -> CompletionRequest:
    return CompletionRequest(URI, text, offset, "src/calc.py", "python", **kw)  # type: ignore[arg-type]


def typed(s: str, text: str = TEXT, at: int = AT) -> CompletionRequest:
    return req(text[:at] + s + text[at:], at + len(s))


async def test_a_model_suggestion_and_its_prompt(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b\n\nprint(add(3, 4))")
    s = await service.complete(req())
    assert s is not None
    assert (s.text, s.start, s.end, s.source) == ("return a + b", AT, AT, "model")
    assert len(engine.history) == 1
    prompt = engine.history[0].prompt
    assert prompt == f"<|fim_prefix|>{TEXT[:AT]}<|fim_suffix|>{TEXT[AT:]}<|fim_middle|>"
    assert service.counters.model_calls == 1 and service.counters.reanchors == 1


async def test_typing_into_a_shown_suggestion_needs_no_model_call(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b")
    await service.complete(req())
    for n in range(1, 8):
        s = await service.complete(typed("return a + b"[:n]))
        assert s is not None and s.source == "typed-through"
        assert s.text == "return a + b"[n:]
    assert len(engine.history) == 1
    assert service.counters.typed_through == 7


async def test_typing_something_else_asks_the_model_with_the_same_anchor(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b", "a - b")
    await service.complete(req())
    s = await service.complete(typed("return "))
    assert s is not None and s.source == "typed-through"
    s = await service.complete(typed("return b"))
    assert s is not None and s.source == "model" and s.text == "a - b"
    assert len(engine.history) == 2
    # the second prompt is the first plus what was typed: the KV cache stays valid
    assert engine.history[1].prompt == engine.history[0].prompt + "return b"
    assert service.counters.reanchors == 1


async def test_coming_back_to_a_place_is_an_lru_hit(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b", "'done'")
    first = await service.complete(req())
    other_at = len(TEXT)
    second = await service.complete(req(TEXT, other_at))
    assert first is not None and second is not None
    again = await service.complete(req())
    assert again is not None and again.source == "cache" and again.text == "return a + b"
    assert len(engine.history) == 2
    assert service.counters.cache_hits == 1


async def test_a_keystroke_during_generation_joins_it(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b + c + d", gated=True)
    first = asyncio.ensure_future(service.complete(req()))
    await until(engine.first_piece.is_set)
    second = asyncio.ensure_future(service.complete(typed("r")))
    await until(lambda: service.counters.requests == 2)
    engine.release.set()  # type: ignore[attr-defined]
    s2 = await second
    assert s2 is not None and s2.source == "joined"
    assert s2.text == "eturn a + b + c + d"
    s1 = await first
    assert s1 is not None and s1.text == "return a + b + c + d"
    assert len(engine.history) == 1
    assert service.counters.joined == 1


async def test_a_request_elsewhere_supersedes_the_running_one(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b + c + d + e + f", "'done'", gated=True)
    first = asyncio.ensure_future(service.complete(req()))
    await until(engine.first_piece.is_set)
    second = await service.complete(req(TEXT, len(TEXT)))
    assert await first is None
    assert second is not None and second.text == "'done'"
    assert len(engine.history) == 2


async def test_speculation_makes_accepting_and_asking_again_free(worker: EngineWorker) -> None:
    service, engine = make(worker, "total = a + b", "\n    return total", speculate=True)
    s = await service.complete(req())
    assert s is not None and s.text == "total = a + b"
    assert service._spec_task is not None
    await asyncio.wait_for(service._spec_task, 5)
    assert len(engine.history) == 2  # the answer and the speculation
    # the speculative prompt continued the same anchor with the suggestion as typed text
    assert engine.history[1].prompt == engine.history[0].prompt + "total = a + b"
    # the user accepts the suggestion and the editor asks at the end of it
    accepted = TEXT[:AT] + s.text + TEXT[AT:]
    nxt = await service.complete(req(accepted, AT + len(s.text)))
    assert nxt is not None and nxt.source == "cache" and nxt.text == "\n    return total"
    assert len(engine.history) == 2
    assert service.counters.model_calls == 2 and service.counters.cache_hits == 1


async def test_speculation_yields_to_the_user(worker: EngineWorker) -> None:
    service, engine = make(worker, "x = 1", "\n    y = x + 1\n    z = y", "w = 2", speculate=True, gated=True)
    engine.held_calls = {1}  # type: ignore[attr-defined]  # hold the speculation mid-stream
    await service.complete(req())
    await until(engine.first_piece.is_set)  # type: ignore[attr-defined]
    spec_token = service._spec_token
    assert spec_token is not None and not spec_token.cancelled
    result = await service.complete(req(TEXT, len(TEXT)))
    assert spec_token.cancelled and spec_token.reason == "user activity"
    assert result is not None and result.text == "w = 2"
    # the abandoned speculation left nothing in the cache for the accepted text
    accepted = TEXT[:AT] + "x = 1" + TEXT[AT:]
    again = await service.complete(req(accepted, AT + len("x = 1")))
    assert again is None or again.source != "cache"


async def test_a_cancelled_request_returns_nothing_and_stops_the_model(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b + c + d + e + f", gated=True)
    token = CancelToken()
    task = asyncio.ensure_future(service.complete(req(), token))
    await until(engine.first_piece.is_set)
    token.cancel("$/cancelRequest")
    assert await task is None
    assert len(engine.history) == 1


async def test_cancelling_the_awaiting_task_cancels_the_generation(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b + c + d + e + f", gated=True)
    token = CancelToken()
    task = asyncio.ensure_future(service.complete(req(), token))
    await until(engine.first_piece.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # not at once: a request that follows within the grace would join it
    assert not token.cancelled
    await until(lambda: token.cancelled)
    assert token.reason == "request cancelled"
    assert len(engine.history) == 1


@pytest.mark.parametrize("typed_after", ["", "r"])
async def test_a_request_right_after_a_cancelled_one_joins_its_generation(
        worker: EngineWorker, typed_after: str) -> None:
    """VS Code cancels an inline completion still on its way after 750 ms and the extension
    asks again at the same place; a client cancels on a keystroke and asks one character on."""
    service, engine = make(worker, "return a + b + c + d", gated=True)
    token = CancelToken()
    first = asyncio.ensure_future(service.complete(req(), token))
    await until(engine.first_piece.is_set)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    again = asyncio.ensure_future(service.complete(typed(typed_after) if typed_after else req(invoked=True)))
    await until(lambda: service.counters.requests == 2)
    await asyncio.sleep(0.4)  # past the grace: the generation kept running for the joiner
    assert not token.cancelled
    engine.release.set()  # type: ignore[attr-defined]
    s = await again
    assert s is not None and s.source == "joined"
    assert s.text == "return a + b + c + d"[len(typed_after):]
    assert len(engine.history) == 1


async def test_not_ready_or_disabled_answers_nothing(worker: EngineWorker) -> None:
    service = CompletionService(worker, CompletionSettings())
    assert await service.complete(req()) is None  # no engine loaded
    chat_only = FakeEngine(["x"], fim_template="")  # a model without FIM tokens
    worker.load(lambda: chat_only).result(timeout=5)
    assert await service.complete(req()) is None and chat_only.history == []
    service, engine = make(worker, "x", enabled=False)
    assert await service.complete(req()) is None
    assert engine.history == []


async def test_mid_statement_asks_for_one_line_and_a_block_for_more(worker: EngineWorker) -> None:
    service, _ = make(worker, "compute(1, 2)\nprint('more')", "return a + b\n\nprint(1)")
    text = "result = \n"
    s = await service.complete(req(text, len("result = ")))
    assert s is not None and s.text == "compute(1, 2)"  # cut at the line's end
    s = await service.complete(req())  # an empty line in a function body
    assert s is not None and s.text == "return a + b"


async def test_at_the_end_of_a_complete_line_the_next_line_is_suggested(worker: EngineWorker) -> None:
    service, _ = make(worker, "\n    return total\n\nprint(1)")
    text = "def f(a, b):\n    total = a + b\n"
    s = await service.complete(req(text, len("def f(a, b):\n    total = a + b")))
    assert s is not None and s.text == "\n    return total"


async def test_empty_or_whitespace_output_is_no_suggestion(worker: EngineWorker) -> None:
    service, _ = make(worker, "   \n  ")
    assert await service.complete(req()) is None


async def test_forget_drops_the_document_state(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b", "turn b + a")
    await service.complete(req())
    service.forget(URI)
    s = await service.complete(typed("re"))
    assert s is not None and s.source == "model" and s.text == "turn b + a"
    assert len(engine.history) == 2
    assert service.counters.reanchors == 2


async def test_counters_say_where_each_answer_was_lost(worker: EngineWorker) -> None:
    text = "def f(a, b):\n    x = compute(a)\n    return x\n"
    after_x = text.index("    return") + 4  # an empty-looking place before `return x`
    service, _ = make(worker,
                      "   \n  ",  # whitespace only: the model wrote nothing
                      "return x",  # what the suffix already has: all overlap
                      "'done'",  # answered
                      "x = (((",  # parses worse: dropped
                      "total(a)\n    more")  # one line at mid-statement: the rest cut
    c = service.counters
    assert await service.complete(req()) is None
    assert c.empty_model == 1
    assert await service.complete(req(text, after_x)) is None
    assert c.empty_overlap == 1
    assert (await service.complete(req(TEXT, len(TEXT)))) is not None
    assert c.answered == 1
    assert await service.complete(req("def g():\n    \n", len("def g():\n    "))) is None
    assert c.empty_parse == 1
    s = await service.complete(req("y = \n", len("y = ")))
    assert s is not None and s.text == "total(a)"
    assert c.answered == 2 and c.stop_unit == 1 and c.shape_single == 2 and c.shape_block == 3
    assert c.model_calls == 5 == c.answered + c.empty_model + c.empty_overlap + c.empty_parse


async def test_counters_count_superseded_generations_and_typed_middles(worker: EngineWorker) -> None:
    service, engine = make(worker, "return a + b + c + d + e + f", "'done'", "a - b", "urn a", gated=True)
    first = asyncio.ensure_future(service.complete(req()))
    await until(engine.first_piece.is_set)
    await service.complete(req(TEXT, len(TEXT)))
    assert await first is None
    assert service.counters.empty_superseded == 1
    engine.release.set()  # type: ignore[attr-defined]
    await service.complete(req())  # anchors at AT again
    assert service.counters.middle_requests == 0
    s = await service.complete(typed("ret"))  # the typed text goes after the middle marker
    assert s is not None
    assert service.counters.middle_requests == 1 and service.counters.middle_chars == 3


async def test_an_invoked_completion_sees_the_longer_window(worker: EngineWorker) -> None:
    """Typing is anchored on completion.linesBefore/linesAfter; asking explicitly re-anchors on
    completion.invokedLinesBefore/invokedLinesAfter (a better fill-in-the-middle answer), and the
    keystrokes after it keep that anchor."""
    body = "".join(f"x{i} = {i}\n" for i in range(300))
    below = "".join(f"y{i} = {i}\n" for i in range(100))
    text = body + "def f():\n    \n" + below
    at = len(body) + len("def f():\n    ")
    service, engine = make(worker, "return 1", "eturn 1", "turn 1")
    await service.complete(req(text, at))
    assert "x250 = 250" in engine.history[-1].prompt and "x150 = 150" not in engine.history[-1].prompt
    assert "y5 = 5" in engine.history[-1].prompt and "y40 = 40" not in engine.history[-1].prompt
    one = text[:at] + "x" + text[at:]
    await service.complete(req(one, at + 1, invoked=True))
    assert "x50 = 50" in engine.history[-1].prompt
    assert "y40 = 40" in engine.history[-1].prompt and "y90 = 90" not in engine.history[-1].prompt
    assert service.counters.reanchors == 2
    two = one[:at + 1] + "y" + one[at + 1:]
    await service.complete(req(two, at + 2))
    assert service.counters.reanchors == 2 and "x50 = 50" in engine.history[-1].prompt


async def test_an_invoked_completion_inside_a_token_spells_it_out_again(worker: EngineWorker) -> None:
    """With completion.invokedTokenHealing, `if |` asked for explicitly: the prefix ends before the
    space and the space goes after the middle marker (the engine heals it); typing is anchored at
    the cursor as before, and so is everything with the setting off (the default)."""
    text = "def f(key):\n    if \n    return key\n"
    at = text.index("if ") + 3
    service, engine = make(worker, "key is None:", "key is None:", "key is None:",
                           invoked_token_healing=True)
    s = await service.complete(req(text, at, invoked=True))
    assert s is not None and s.text == "key is None:"
    fim = engine.history[-1].fim
    assert fim is not None and fim.prefix.endswith("    if") and fim.middle == " "
    assert fim.suffix.startswith("\n    return key")
    service, engine = make(worker, "key is None:", invoked_token_healing=True)
    await service.complete(req(text, at))  # automatic: no healing anchor
    fim = engine.history[-1].fim
    assert fim is not None and fim.prefix.endswith("    if ") and fim.middle == ""
    service, engine = make(worker, "key is None:")  # the default: off
    await service.complete(req(text, at, invoked=True))
    fim = engine.history[-1].fim
    assert fim is not None and fim.prefix.endswith("    if ") and fim.middle == ""

"""A scripted engine for tests of logic: `enqueue` answers, read `history` (the
requests as this engine rendered them: FIM parts in its template, like a local engine).

It honours the same contract as the real engines (pieces streamed one at a
time, cancellation checked between pieces, stop strings applied, stats
filled in) so that code tested against it behaves the same on a real model.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator

from .base import CancelToken, GenerationRequest, GenerationStats, ModelInfo, ProblemListener
from .fim import find_template

_PIECE = re.compile(r"\s*\S+|\s+")


class FakeEngine:
    """Replays enqueued responses in order; each response is split into word pieces."""

    # prompts evaluated ahead of time stay in this engine's KV cache (see warm-up)
    local_kv_cache = True
    # a grammar is recorded with the request (`history`), not enforced: tests script the output
    supports_grammar = False

    def __init__(self, responses: list[str] | None = None, *, delay: float = 0.0,
                 default: str = "", fim_template: str = "qwen") -> None:
        self.responses: deque[str] = deque(responses or [])
        self.history: list[GenerationRequest] = []
        self.delay = delay
        self.default = default
        self.closed = False
        self.started = threading.Event()
        self.info = ModelInfo(
            name="fake", path="<fake>", architecture="fake", file_size=0,
            context_length=32768, parameters=0, fim_template=fim_template,
        )
        self.fim = find_template(fim_template)
        self.problem_listeners: list[ProblemListener] = []

    def enqueue(self, *responses: str) -> None:
        self.responses.extend(responses)

    def tokenize(self, text: str) -> list[int]:
        return [hash(p) & 0xFFFF for p in _PIECE.findall(text)]

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> Iterator[str]:
        request = request.rendered(self.fim)
        self.history.append(request)
        self.started.set()
        stats.prompt_tokens = stats.prompt_eval_tokens = len(self.tokenize(request.prompt))
        if request.max_tokens <= 0:  # prompt evaluation only (warm-up): no answer consumed
            stats.stop_reason = "length"
            return
        text = self.responses.popleft() if self.responses else self.default
        out = ""
        for piece in _PIECE.findall(text):
            if cancel.cancelled:
                stats.stop_reason = "cancelled"
                return
            if stats.generated_tokens >= request.max_tokens:
                stats.stop_reason = "length"
                return
            if self.delay:
                time.sleep(self.delay)
                if cancel.cancelled:
                    stats.stop_reason = "cancelled"
                    return
            candidate = out + piece
            for stop in request.stop:
                idx = candidate.find(stop)
                if idx >= 0:
                    if idx > len(out):
                        yield candidate[len(out):idx]
                    stats.stop_reason = "stop"
                    return
            out = candidate
            stats.generated_tokens += 1
            yield piece
        stats.stop_reason = "eos"

    def close(self) -> None:
        self.closed = True

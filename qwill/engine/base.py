"""The engine contract: stream tokens for a prompt, honour a cancel token.

Everything above the engine (completion, actions, agent) talks to this
protocol only, so a llama.cpp model in-process, a remote server and the
scripted fake engine are interchangeable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from .chat import ChatFormat
from .fim import FimParts, FimTemplate

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """A model could not be loaded or run; the message tells the user what to do."""


class CancelToken:
    """Set by whoever no longer wants the result; checked by the engine each token."""

    __slots__ = ("_callbacks", "_event", "_lock", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a callback must not stop the others
                log.exception("cancel callback failed")

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking at once on cancel; True if cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` (on the cancelling thread) when cancelled, at once if already.

        Engines blocked in I/O use this to unblock themselves, e.g. a remote engine
        shuts its socket down. Returns a function that unregisters the callback.
        """
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock, contextlib.suppress(ValueError):
                        self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: a raw prompt (already templated) or the parts of a
    fill-in-the-middle prompt, which the engine renders in its model's format; and
    its bounds."""

    prompt: str = ""
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    # Seconds of wall time for generation after the first token (0: unbounded).
    time_budget: float = 0.0
    # A caller-chosen key: generations with the same slot share a KV sequence.
    slot: str = "completion"
    # Reuse a run of cached tokens that moved (the FIM suffix after an edit) by shifting
    # its K/V to the new position instead of evaluating it again. Faster, but the moved
    # K/V were computed without the inserted text: measured to lower suggestion quality
    # (benchmarks/kv_shift_quality.py), so off unless the caller opts in.
    kv_shift: bool = False
    # A fill-in-the-middle prompt (instead of `prompt`), rendered by the engine.
    fim: FimParts | None = None
    # A GBNF grammar (llama.cpp's format) that constrains decoding. With `grammar_triggers`
    # it is lazy: text stays free until one of the triggers is generated, and the grammar
    # then applies from that trigger on (how tool calls are constrained while prose is
    # not). Engines that cannot constrain decoding ignore it (`Engine.supports_grammar`).
    grammar: str = ""
    grammar_triggers: tuple[str, ...] = ()

    def rendered(self, template: FimTemplate | None) -> GenerationRequest:
        """This request with its FIM parts rendered by `template` into the prompt and the
        template's stop strings first (unchanged when it has no FIM parts)."""
        if self.fim is None:
            return self
        if template is None:
            raise EngineError("this model has no fill-in-the-middle format")
        return replace(self, prompt=template.render_parts(self.fim), stop=(*template.stop, *self.stop))


@dataclass
class GenerationStats:
    """What a generation cost; filled in by the engine as it runs."""

    prompt_tokens: int = 0
    # prompt tokens that had to be evaluated (the rest came from the KV cache)
    prompt_eval_tokens: int = 0
    generated_tokens: int = 0
    # cached tokens moved to a new position instead of evaluated (KV shift)
    shifted_tokens: int = 0
    prompt_seconds: float = 0.0
    generate_seconds: float = 0.0
    stop_reason: str = ""  # "stop", "length", "cancelled", "time", "eos"

    @property
    def reused_tokens(self) -> int:
        return self.prompt_tokens - self.prompt_eval_tokens


@dataclass
class ModelInfo:
    """What clients and `qwill doctor` show about the loaded model."""

    name: str
    path: str
    architecture: str
    file_size: int
    context_length: int | None
    parameters: int
    expert_count: int = 0
    expert_used_count: int = 0
    fim_template: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # parameters one token runs through (MoE: the dense part plus its share of experts)
    active_parameters: int = 0
    # where the tensors went ("cpu", "gpu", "experts-on-cpu", "partial") and the memory
    # plan behind it (camelCase keys, as sent in `qwill/status`)
    placement: str = ""
    memory: dict[str, Any] = field(default_factory=dict)
    # How to talk to the model as a chat model (code actions, agent).
    chat_format: ChatFormat = field(default_factory=ChatFormat)


# Below this many parameters a model is "small": it is asked for narrower code-action answers
# and gets no repository context in completion prompts unless `context.smallModels` (both
# measured on Qwen2.5-Coder-0.5B; see the README's benchmarks).
SMALL_MODEL_PARAMETERS = 3_000_000_000


def is_small_model(parameters: int) -> bool:
    """Whether a model of `parameters` is small (0, an unknown size such as a remote model's,
    counts as large)."""
    return 0 < parameters < SMALL_MODEL_PARAMETERS


ProblemListener = Callable[[str | None], None]


@runtime_checkable
class Engine(Protocol):
    """A loaded model. Not thread-safe: EngineWorker serialises all calls."""

    info: ModelInfo
    # Capabilities, declared by every engine:
    # its fill-in-the-middle format (None: chat only, no inline completion)
    fim: FimTemplate | None
    # prompts evaluated ahead of time stay in this engine's KV cache (worth a warm-up)
    local_kv_cache: bool
    # GenerationRequest.grammar constrains its decoding (llama.cpp's grammar sampler)
    supports_grammar: bool
    # told about failures of the engine's server or process (a message) and the first
    # success after one (None), on the engine thread
    problem_listeners: list[ProblemListener]

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, stats: GenerationStats
    ) -> Iterator[str]:
        """Yield text pieces; stop promptly (within one token) once `cancel` is set."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` as the model would see it inside a prompt."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


@dataclass
class ChatResult:
    """An assistant turn: its text and the tool calls the server parsed (OpenAI shape)."""

    text: str
    tool_calls: list[dict[str, Any]]
    finish_reason: str  # the server's word: "stop", "length", "tool_calls"; or "cancelled"
    stats: GenerationStats
    reasoning: str = ""


@runtime_checkable
class ToolCallingEngine(Protocol):
    """An engine whose server templates a chat and parses tool calls itself (OpenAI
    `tools` / `tool_calls`): the remote engines. The agent sends its tools there and
    falls back to its own text formats when the server does not take them."""

    def chat(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        stop: tuple[str, ...] = (),
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """One assistant turn, streamed (`on_text` gets the prose as it comes)."""
        ...

"""One cached prompt per request slot on the real default model: a next-edit prediction on
the completion engine keeps the completion's KV cache, and when both cannot fit the older
one is evicted without changing any output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qwill.config import EngineSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import FimParts
from qwill.engine.llama import LlamaEngine
from qwill.engine.loader import load_engine

pytestmark = pytest.mark.model

PREFIX = ("import json\nfrom pathlib import Path\n\n\n"
          + "".join(f"def read_{i}(path: Path) -> dict:\n    \"\"\"Settings number {i}.\"\"\"\n"
                    f"    return json.loads(path.read_text())[{i}]\n\n\n" for i in range(6))
          + "def write_settings(path: Path, data: dict) -> None:\n")
SUFFIX = "\n\n\nif __name__ == \"__main__\":\n    write_settings(Path(\"s.json\"), {})\n"
NEXT_EDIT_PROMPT = ("<|im_start|>system\nYou predict the user's next edit.<|im_end|>\n<|im_start|>user\n"
                    "The user renamed `total` to `count` in the first line. Rewrite the region:\n"
                    + "".join(f"    total += values[{i}] * {i}\n" for i in range(20))
                    + "<|im_end|>\n<|im_start|>assistant\n")


def _load(path: Path, context_size: int) -> LlamaEngine:
    engine = load_engine(EngineSettings(model=str(path), context_size=context_size))
    assert isinstance(engine, LlamaEngine)
    return engine


def _run(engine: LlamaEngine, request: GenerationRequest) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    return "".join(engine.generate(request, CancelToken(), stats)), stats


def _fim(middle: str, max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(fim=FimParts(PREFIX, SUFFIX, middle=middle), max_tokens=max_tokens, stop=("\n",))


def _next_edit(max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest(NEXT_EDIT_PROMPT, max_tokens=max_tokens, slot="next-edit")


@pytest.fixture(scope="module")
def engine(default_model_path: Path) -> Iterator[LlamaEngine]:
    e = _load(default_model_path, 2048)
    yield e
    e.close()


def test_a_next_edit_request_keeps_the_completion_prompt_cached(engine: LlamaEngine) -> None:
    _, first = _run(engine, _fim("    with path.open(\"w\") as fh:\n        json.dump(data, f"))
    assert first.prompt_eval_tokens > 200
    text, predicted = _run(engine, _next_edit())
    assert predicted.prompt_eval_tokens > 100 and text  # its own prompt, evaluated
    # the next keystroke: one more character typed; only the tokens from it on are evaluated
    _, after = _run(engine, _fim("    with path.open(\"w\") as fh:\n        json.dump(data, fh"))
    assert after.prompt_tokens > 200
    assert after.prompt_eval_tokens <= 4
    # and the next-edit prompt is still cached too: the same request evaluates one token
    _, again = _run(engine, _next_edit())
    assert again.prompt_eval_tokens == 1


def test_a_cached_suffix_moves_in_a_sequence_other_than_the_first(engine: LlamaEngine) -> None:
    """The KV-shift path (the scratch sequence) works on whichever sequence a slot has."""
    head = "import json\n\n\ndef load(path):\n    with open(path) as fh:\n"
    tail = "\n\n" + "\n".join(f"def helper_{i}(x):\n    return x * {i} + len(str(x))\n" for i in range(12))
    _run(engine, _fim("    with path.open(\"w\") as fh:\n        json.dump(data, fh"))  # completion: sequence 0
    _run(engine, GenerationRequest(fim=FimParts(head + "        ", tail), max_tokens=4, slot="actions"))
    assert engine.sequences.by_slot["actions"].seq_id != 0
    text, moved = _run(engine, GenerationRequest(fim=FimParts(head + "        data = json.load(fh)\n        ", tail),
                                                 max_tokens=8, stop=("\n",), kv_shift=True, slot="actions"))
    assert moved.shifted_tokens > 100 and moved.prompt_eval_tokens < 30
    assert text.strip()
    _, completion = _run(engine, _fim("    with path.open(\"w\") as fh:\n        json.dump(data, fh"))
    assert completion.prompt_eval_tokens == 1  # the completion's cache was not touched


def test_prompts_that_do_not_fit_together_evict_and_answer_as_a_fresh_engine(default_model_path: Path) -> None:
    small = _load(default_model_path, 512)
    fresh = _load(default_model_path, 512)
    try:
        first, first_stats = _run(small, _fim("    "))
        predicted, predicted_stats = _run(small, _next_edit(max_tokens=60))
        # both prompts fit the 512 cells, the prediction's answer does not: the completion's
        # cache is evicted while the prediction generates
        cells = small.n_ctx - 1
        assert first_stats.prompt_tokens + predicted_stats.prompt_tokens <= cells
        assert first_stats.prompt_tokens + predicted_stats.prompt_tokens + predicted_stats.generated_tokens > cells
        assert "completion" not in small.sequences.by_slot
        assert predicted == _run(fresh, _next_edit(max_tokens=60))[0]
        # the completion again: evaluated in full (evicting the prediction's), the same answer
        again, again_stats = _run(small, _fim("    "))
        assert again_stats.prompt_eval_tokens == again_stats.prompt_tokens
        assert "next-edit" not in small.sequences.by_slot
        assert again == first and first.strip()
    finally:
        small.close()
        fresh.close()

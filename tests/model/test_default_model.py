"""The real default GGUF through llama.cpp: FIM, streaming, stop, cancel, KV reuse."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qwill.completion.service import CompletionRequest, CompletionService
from qwill.config import CompletionSettings, EngineSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import TEMPLATES, FimParts, detect_template
from qwill.engine.loader import load_engine
from qwill.engine.resolve import BUILTIN_MODELS, inspect_model
from qwill.engine.worker import EngineWorker

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def worker(default_model_path: Path):
    w = EngineWorker()
    w.load(lambda: load_engine(EngineSettings(model=str(default_model_path), context_size=2048))).result()
    yield w
    w.shutdown()


def test_default_model_is_assembled_and_verified(default_model_path: Path) -> None:
    spec = BUILTIN_MODELS["default"]
    assert default_model_path.stat().st_size == spec.size
    header = inspect_model(default_model_path)
    assert header.architecture == "qwen2"
    assert detect_template(header.tokens).name == "qwen"


def test_fim_continues_the_prefix(worker: EngineWorker) -> None:
    tpl = TEMPLATES["qwen"]
    prompt = tpl.render("def fibonacci(n):\n    if n < 2:\n        return n\n    return ",
                        "\n\nprint(fibonacci(10))\n")
    stats = GenerationStats()
    pieces = list(worker.generate_sync(
        GenerationRequest(prompt, max_tokens=24, stop=(*tpl.stop, "\n")), CancelToken(), stats))
    text = "".join(pieces)
    assert len(pieces) > 1  # streamed, not one blob
    assert "fibonacci(n - 1)" in text.replace("n-1", "n - 1")
    assert stats.stop_reason in ("stop", "eos")
    assert stats.generated_tokens > 0


def test_second_request_reuses_the_kv_cache(worker: EngineWorker) -> None:
    tpl = TEMPLATES["qwen"]
    prefix = "import os\n\n\ndef list_python_files(root):\n    result = []\n    for name in os.listdir(root):\n"
    first, second = GenerationStats(), GenerationStats()
    list(worker.generate_sync(GenerationRequest(tpl.render(prefix, "\n"), max_tokens=8), CancelToken(), first))
    list(worker.generate_sync(GenerationRequest(tpl.render(prefix + "        if", "\n"), max_tokens=8),
                              CancelToken(), second))
    assert first.prompt_eval_tokens == first.prompt_tokens or first.prompt_eval_tokens > 20
    # Typing appends to the prefix: only the tokens from the edit on are evaluated.
    assert second.prompt_eval_tokens < 10
    assert second.reused_tokens > 20


def test_cancel_stops_generation_within_a_token(worker: EngineWorker) -> None:
    tpl = TEMPLATES["qwen"]
    cancel = CancelToken()
    stats = GenerationStats()
    got: list[str] = []
    prompt = tpl.render("# A long list of the first hundred prime numbers\nPRIMES = [\n    2,\n", "")

    for piece in worker.generate_sync(GenerationRequest(prompt, max_tokens=200), cancel, stats):
        got.append(piece)
        if len(got) == 3:
            cancel.cancel("test")
    assert stats.stop_reason == "cancelled"
    # the piece in flight when cancelling may still arrive, nothing after it
    assert 3 <= len(got) <= 4
    assert stats.generated_tokens <= 5


def test_async_cancel_from_another_task(worker: EngineWorker) -> None:
    tpl = TEMPLATES["qwen"]

    async def run() -> GenerationStats:
        cancel = CancelToken()
        stats = GenerationStats()
        prompt = tpl.render("# Count to one thousand\nnumbers = [\n    1,\n", "")

        async def consume() -> None:
            async for _ in worker.generate(GenerationRequest(prompt, max_tokens=300), cancel, stats):
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)
        cancel.cancel("newer keystroke")
        await asyncio.wait_for(task, 60)  # a hang guard, not a timing assertion
        return stats

    stats = asyncio.run(run())
    assert stats.stop_reason == "cancelled"
    assert stats.generated_tokens < 300


def test_completion_service_suggests_a_sensible_body(worker: EngineWorker) -> None:
    svc = CompletionService(worker, CompletionSettings())
    text = (
        "def is_palindrome(s: str) -> bool:\n"
        '    """True when `s` reads the same backwards."""\n'
        "    \n"
        "\n\nprint(is_palindrome('abba'))\n"
    )
    offset = text.index("    \n") + 4
    s = asyncio.run(svc.complete(CompletionRequest("file:///p.py", text, offset, "/p.py", invoked=True)))
    assert s is not None
    assert "return" in s.text
    assert "s[::-1]" in s.text.replace(" ", "") or "reversed" in s.text
    # the suggestion stays inside the function: nothing at column 0 after it
    assert all(not line or line.startswith(" ") for line in s.text.split("\n")[1:])


def test_qwill_complete_cli_on_a_real_file(tmp_path: Path, default_model_path: Path) -> None:
    src = tmp_path / "geometry.py"
    src.write_text(
        "import math\n\n\n"
        "def circle_area(radius: float) -> float:\n"
        '    """Area of a circle."""\n'
        "    return \n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "qwill", "complete", f"{src}:6:12", "--json", "--ctx", "2048"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    data = json.loads(out.stdout)
    assert "math.pi" in data["suggestion"] and "radius" in data["suggestion"]
    assert data["generatedTokens"] > 0


def test_engine_is_used_from_one_thread_only(worker: EngineWorker) -> None:
    """Concurrent callers are serialised: results are whole and in order."""
    tpl = TEMPLATES["qwen"]
    results: list[str] = []

    def call(prefix: str) -> None:
        pieces = worker.generate_sync(GenerationRequest(tpl.render(prefix, ""), max_tokens=6,
                                                        stop=("\n",)), CancelToken(), GenerationStats())
        results.append("".join(pieces))

    threads = [threading.Thread(target=call, args=(p,)) for p in ("x = 1\ny = ", "def f():\n    return ")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and all(r.strip() for r in results)


def test_edit_in_the_middle_moves_the_cached_suffix_instead_of_evaluating_it(worker: EngineWorker) -> None:
    """A line inserted before the FIM suffix costs its own tokens, not the suffix's."""
    tpl = TEMPLATES["qwen"]
    head = "import json\n\n\ndef load(path):\n    with open(path) as fh:\n"
    tail = "\n\n" + "\n".join(f"def helper_{i}(x):\n    return x * {i} + len(str(x))\n" for i in range(12))
    first, second = GenerationStats(), GenerationStats()
    list(worker.generate_sync(GenerationRequest(tpl.render(head + "        ", tail), max_tokens=4),
                              CancelToken(), first))
    edited = head + "        data = json.load(fh)\n        "
    pieces = list(worker.generate_sync(
        GenerationRequest(tpl.render(edited, tail), max_tokens=12, stop=("\n",), kv_shift=True),
        CancelToken(), second))
    assert second.shifted_tokens > 100  # the suffix was moved, not recomputed
    assert second.prompt_eval_tokens < 30
    assert "".join(pieces).strip()  # and the model still answers from the moved cache
    # without kv_shift (the default) the same edit evaluates the suffix again: exact K/V
    third = GenerationStats()
    list(worker.generate_sync(GenerationRequest(tpl.render(head + "        ", tail), max_tokens=4),
                              CancelToken(), GenerationStats()))
    list(worker.generate_sync(GenerationRequest(tpl.render(edited, tail), max_tokens=4), CancelToken(), third))
    assert third.shifted_tokens == 0
    assert third.prompt_eval_tokens > 100


def test_typed_text_that_ends_inside_a_word_is_continued_as_that_word(worker: EngineWorker) -> None:
    # `self.d` ends on the token `.d`; without token healing the model went on as if `d`
    # were the whole name (`self.deduce_defaults()`); healed, it writes the attribute
    # the class has
    prefix = ("class Parser:\n    def __init__(self, defaults, default_section=\"DEFAULT\"):\n"
              "        self.default_section = default_section\n        self._defaults = defaults\n\n"
              "    def sections(self):\n")
    fim = FimParts(prefix, "\n        return list(all_sections)\n", middle="        defaults = self.d")
    stats = GenerationStats()
    text = "".join(worker.generate_sync(GenerationRequest(fim=fim, max_tokens=8), CancelToken(), stats))
    assert text.startswith("efault_section")
    # the prompt ends before `.d`: the cached tokens up to it serve the next keystroke
    again = GenerationStats()
    fim2 = FimParts(fim.prefix, fim.suffix, middle=fim.middle + "e")
    "".join(worker.generate_sync(GenerationRequest(fim=fim2, max_tokens=4), CancelToken(), again))
    assert again.prompt_eval_tokens <= 2

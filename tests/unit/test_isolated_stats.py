"""The isolated engine's counters reach a consumer that stops reading early."""

from __future__ import annotations

import json
from pathlib import Path

from qwill.config import EngineSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.isolated import IsolatedEngine


def test_prompt_counts_arrive_with_the_first_piece(tmp_path: Path) -> None:
    script = tmp_path / "fake.json"
    script.write_text(json.dumps({"responses": ["one two three four five"]}))
    engine = IsolatedEngine(EngineSettings(model=f"fake:{script}"))
    try:
        stats = GenerationStats()
        pieces = engine.generate(GenerationRequest("a b c d e f", max_tokens=8), CancelToken(), stats)
        first = next(pieces)
        pieces.close()  # the consumer leaves: "done" never reaches it
        assert first.strip() == "one"
        assert stats.prompt_tokens > 0 and stats.prompt_eval_tokens == stats.prompt_tokens
    finally:
        engine.close()

"""`qwill eval`'s runs: the settings each server gets."""

from __future__ import annotations

from pathlib import Path

from qwill.evaluation.runner import EvalOptions, RunSpec, _settings_for


def test_compared_runs_put_the_context_in_whatever_the_model_size(tmp_path: Path) -> None:
    both = EvalOptions(tmp_path, (RunSpec("default", "on"), RunSpec("default", "off")),
                       settings={"completion": {"maxTokens": 32}})
    assert _settings_for(both.runs[0], both) == {"completion": {"maxTokens": 32},
                                                 "context": {"smallModels": True}}
    assert _settings_for(both.runs[1], both)["context"] == {"enabled": False}
    # alone, "on" is the context as configured (none for a small model by default)
    alone = EvalOptions(tmp_path, (RunSpec("default", "on"),))
    assert _settings_for(alone.runs[0], alone) == {}
    # what the user configured wins
    mine = EvalOptions(tmp_path, both.runs, settings={"context": {"smallModels": False}})
    assert _settings_for(mine.runs[0], mine)["context"] == {"smallModels": False}

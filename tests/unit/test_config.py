"""Settings from the wire: camelCase or snake_case, wrapped or flat, bad values reported."""

from __future__ import annotations

import pytest

from qwill.config import Settings, parse_settings


def test_camel_case_and_snake_case_keys_set_the_same_fields() -> None:
    camel = parse_settings({"engine": {"contextSize": 2048, "nThreads": 3},
                            "completion": {"maxTokens": 12, "linesBefore": 5}})
    snake = parse_settings({"engine": {"context_size": 2048, "n_threads": 3},
                            "completion": {"max_tokens": 12, "lines_before": 5}})
    for r in (camel, snake):
        assert r.problems == []
        assert (r.settings.engine.context_size, r.settings.engine.n_threads) == (2048, 3)
        assert (r.settings.completion.max_tokens, r.settings.completion.lines_before) == (12, 5)
    assert camel.settings == snake.settings


def test_a_qwill_section_is_unwrapped() -> None:
    r = parse_settings({"qwill": {"engine": {"model": "/models/x.gguf"}, "logLevel": "debug"}})
    assert r.problems == []
    assert r.settings.engine.model == "/models/x.gguf"
    assert r.settings.log_level == "debug"


def test_flat_dotted_keys_are_expanded() -> None:
    r = parse_settings({"qwill.engine.model": "m.gguf", "qwill.completion.maxTokens": 7,
                        "completion.multiline": False})
    assert r.problems == []
    assert r.settings.engine.model == "m.gguf"
    assert r.settings.completion.max_tokens == 7
    assert r.settings.completion.multiline is False


def test_unknown_keys_are_reported_with_their_path_and_the_rest_applies() -> None:
    r = parse_settings({"engine": {"modle": "x", "model": "y.gguf"}, "colour": "red",
                        "completion": {"maxTokens": 5}})
    assert r.settings.engine.model == "y.gguf"
    assert r.settings.completion.max_tokens == 5
    assert "unknown setting 'engine.modle' ignored" in r.problems
    assert "unknown setting 'colour' ignored" in r.problems
    assert len(r.problems) == 2


@pytest.mark.parametrize(
    ("raw", "key", "field"),
    [
        ({"engine": {"contextSize": "big"}}, "engine.contextSize", ("engine", "context_size")),
        ({"engine": {"contextSize": 1}}, "engine.contextSize", ("engine", "context_size")),  # below ge
        ({"completion": {"multiline": None}}, "completion.multiline", ("completion", "multiline")),
        ({"completion": {"fimTemplate": "gpt"}}, "completion.fimTemplate", ("completion", "fim_template")),
        ({"engine": {"url": "ftp://x"}}, "engine.url", ("engine", "url")),
        ({"logLevel": 3}, "logLevel", ("log_level",)),
    ],
)
def test_a_wrong_value_falls_back_to_the_default_with_a_message_naming_the_key(
    raw: dict, key: str, field: tuple[str, ...]
) -> None:
    raw = {**raw, "completion": {**raw.get("completion", {}), "maxTokens": 9}}
    r = parse_settings(raw)
    assert len(r.problems) == 1, r.problems
    assert r.problems[0].startswith(f"invalid setting '{key}':")
    assert r.problems[0].endswith("using the default")
    got, default = r.settings, Settings()
    for part in field:
        got, default = getattr(got, part), getattr(default, part)
    assert got == default
    # one bad value does not disable the others
    assert r.settings.completion.max_tokens == 9


def test_with_a_base_a_wrong_value_keeps_the_previous_value() -> None:
    base = parse_settings({"engine": {"contextSize": 8192}, "completion": {"enabled": False}}).settings
    r = parse_settings({"engine": {"contextSize": "huge", "nThreads": 2},
                        "completion": {"enabled": "perhaps"}}, base)
    assert r.settings.engine.context_size == 8192
    assert r.settings.completion.enabled is False
    assert r.settings.engine.n_threads == 2
    assert sorted(p.split(":")[0] for p in r.problems) == [
        "invalid setting 'completion.enabled'", "invalid setting 'engine.contextSize'"]
    assert all(p.endswith("keeping the previous value") for p in r.problems)


def test_an_update_keeps_what_it_does_not_mention_in_either_spelling() -> None:
    base = parse_settings({"engine": {"contextSize": 8192, "model": "a.gguf"}}).settings
    r = parse_settings({"engine": {"context_size": 2048}}, base)
    assert r.problems == []
    assert r.settings.engine.context_size == 2048
    assert r.settings.engine.model == "a.gguf"


def test_a_bad_section_falls_back_to_the_previous_section() -> None:
    base = parse_settings({"engine": {"model": "a.gguf"}}).settings
    r = parse_settings({"engine": 5, "completion": {"maxTokens": 3}}, base)
    assert r.settings.engine.model == "a.gguf"
    assert r.settings.completion.max_tokens == 3
    assert len(r.problems) == 1 and r.problems[0].startswith("invalid setting 'engine':")


def test_a_bad_list_item_resets_only_that_setting() -> None:
    r = parse_settings({"agent": {"shellDeny": ["make deploy", 5]}, "completion": {"maxTokens": 9}})
    assert r.settings.agent.shell_deny == []
    assert r.settings.completion.max_tokens == 9
    assert len(r.problems) == 1 and r.problems[0].startswith("invalid setting 'agent.shellDeny.1':")
    base = parse_settings({"agent": {"shellDeny": ["rm -rf"]}}).settings
    r = parse_settings({"agent": {"shellDeny": [None]}}, base)
    assert r.settings.agent.shell_deny == ["rm -rf"]
    assert r.problems[0].endswith("keeping the previous value")


@pytest.mark.parametrize("raw", [[1, 2], "engine.model=x", 42])
def test_input_that_is_not_an_object_changes_nothing(raw: object) -> None:
    r = parse_settings(raw)
    assert r.settings == Settings()
    assert r.problems == [f"settings must be an object, got {type(raw).__name__}"]
    base = parse_settings({"engine": {"model": "a.gguf"}}).settings
    assert parse_settings(raw, base).settings is base


def test_none_means_defaults_or_the_base() -> None:
    assert parse_settings(None).settings == Settings()
    assert parse_settings(None).problems == []
    base = parse_settings({"completion": {"maxTokens": 5}}).settings
    assert parse_settings(None, base).settings == base


def test_the_input_is_not_modified() -> None:
    raw = {"engine": {"contextSize": "bad", "context_size": 1024}, "x": 1}
    snapshot = {"engine": dict(raw["engine"]), "x": 1}
    parse_settings(raw, parse_settings({}).settings)
    assert raw == snapshot

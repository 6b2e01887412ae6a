"""Tool-call grammars: every string a format's grammar admits is a call that Qwill's
parser reads in that format and that validates against the tool's schema."""

from __future__ import annotations

import random

import pytest

from qwill.agent.toolcall_formats import grammar_for as tool_grammar
from qwill.agent.toolcall_formats import template_format
from qwill.agent.toolcalls import parse_tool_calls, tool_specs
from qwill.agent.tools import TOOLS, Tool, ToolError, validate
from qwill.engine.grammar import GrammarError, json_schema_rules, merge_rules, text_without
from tests import gbnf

SCHEMAS = [t.schema() for t in TOOLS]
# An MCP-style tool with nested and optional values of every JSON type.
EXTRA = {"type": "function", "function": {"name": "time__convert_time", "description": "x", "parameters": {
    "type": "object", "properties": {
        "source_timezone": {"type": "string"}, "time": {"type": "string"},
        "hours": {"type": "number"}, "dry_run": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "integer"}},
        "options": {"type": "object", "properties": {"fmt": {"type": "string"}}, "required": ["fmt"]},
        "unit": {"type": "string", "enum": ["s", "ms"]}},
    "required": ["source_timezone", "time"]}}}


def _validates(name: str, args: dict, schemas: list[dict]) -> None:
    fn = next(s["function"] for s in schemas if s["function"]["name"] == name)
    tool = Tool(name, "", fn["parameters"], run=None)  # type: ignore[arg-type]
    clean = validate(tool, args)
    assert clean == args, (name, args)
    for p in fn["parameters"].get("required", []):
        assert p in args


@pytest.mark.parametrize("fmt", ["hermes", "llama3", "mistral", "qwen3_xml"])
def test_every_admitted_call_parses_and_validates(fmt: str) -> None:
    schemas = [*SCHEMAS, EXTRA]
    g = tool_grammar(fmt, schemas)
    assert g is not None and g.loose == ()
    rules = gbnf.parse(g.gbnf)
    rng = random.Random(fmt)
    sampler = gbnf.Sampler(rules, rng)
    specs = tool_specs(schemas)
    seen: set[str] = set()
    for _ in range(200):
        text = sampler.draw()
        assert any(text.startswith(t) for t in g.triggers)
        res = parse_tool_calls("Let me look.\n" + text, specs)
        assert res.calls and not res.errors, (text, res.errors)
        assert res.text == "Let me look."
        for call in res.calls:
            # Hermes also constrains the ```json fence and a bare call object small models write
            assert call.format == fmt or (fmt == "hermes" and call.format in ("fenced", "llama3")), (call, text)
            _validates(call.name, call.arguments, schemas)
            seen.add(call.name)
    assert len(seen) >= len(schemas) - 2  # the draws cover (nearly) every tool


def test_qwen3_string_values_are_raw_text_up_to_the_closing_tag() -> None:
    g = tool_grammar("qwen3_xml", SCHEMAS)
    assert g is not None
    rules = gbnf.parse(g.gbnf)
    sampler = gbnf.Sampler(rules, random.Random(7))
    specs = tool_specs(SCHEMAS)
    for _ in range(300):
        text = sampler.draw()
        for call in parse_tool_calls(text, specs).calls:
            for value in call.arguments.values():
                assert not (isinstance(value, str) and "</parameter>" in value)


def test_text_without_never_contains_its_terminator() -> None:
    for word in ("</parameter>", "aab", "abab"):
        rules = gbnf.parse(text_without("t", word) + "\nroot ::= t")
        sampler = gbnf.Sampler(rules, random.Random(word))
        for _ in range(300):
            assert word not in sampler.draw()


def test_formats_from_templates() -> None:
    assert template_format("... <tool_call>\n<function=x>\n<parameter=y> ...") == "qwen3_xml"
    assert template_format('... <tool_call>\n{"name": ...}</tool_call>') == "hermes"
    assert template_format("[TOOL_CALLS] ...") == "mistral"
    assert template_format("<|python_tag|>") == "llama3"
    assert template_format("{{ messages }}") == "hermes"  # Qwill's own tool prompt
    assert tool_grammar("deepseek", SCHEMAS) is None
    assert tool_grammar("hermes", []) is None


def test_a_schema_the_converter_cannot_express_accepts_any_object() -> None:
    odd = {"type": "function", "function": {"name": "odd", "parameters": {
        "type": "object", "properties": {"x": {"$ref": "https://example.com/remote.json"}}}}}
    g = tool_grammar("hermes", [*SCHEMAS, odd])
    assert g is not None and g.loose == ("odd",)
    gbnf.parse(g.gbnf)


def test_merging_refuses_two_definitions_of_one_rule() -> None:
    a = json_schema_rules({"type": "string"}, "v")
    with pytest.raises(GrammarError):
        merge_rules(a, 'v ::= "x"')
    assert merge_rules(a, a).count("v ::=") == 1


def test_tool_errors_still_reach_the_model() -> None:
    # The grammar guarantees shape, not meaning: a valid call can still fail as a tool.
    tool = next(t for t in TOOLS if t.name == "read_file")
    with pytest.raises(ToolError):
        validate(tool, {})

"""Tool-call parsing: every format, broken output, streaming, schema coercion."""

from __future__ import annotations

import pytest

from qwill.agent import lenient_json
from qwill.agent.toolcalls import (
    StreamingToolCallParser,
    coerce_value,
    parse_tool_calls,
)

SPECS = {
    "read_file": {"type": "object", "properties": {
        "path": {"type": "string"}, "start_line": {"type": "integer"},
        "end_line": {"type": "integer"}}},
    "edit_file": {"type": "object", "properties": {
        "path": {"type": "string"}, "old_text": {"type": "string"}, "new_text": {"type": "string"}}},
    "run_command": {"type": "object", "properties": {
        "command": {"type": "string"}, "timeout": {"type": "number"}}},
    "todo": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "string"}}, "done": {"type": "boolean"}}},
}


def one(text: str):
    res = parse_tool_calls(text, SPECS)
    assert len(res.calls) == 1, (res.calls, res.errors)
    return res.calls[0], res


# -- Qwen3-Coder XML -----------------------------------------------------------------
QWEN3 = """I'll look at the file first.
<tool_call>
<function=read_file>
<parameter=path>
src/app.py
</parameter>
<parameter=start_line>
10
</parameter>
</function>
</tool_call>"""


def test_qwen3_xml_call_with_prose_and_integer_coercion() -> None:
    call, res = one(QWEN3)
    assert call.name == "read_file" and call.format == "qwen3_xml"
    assert call.arguments == {"path": "src/app.py", "start_line": 10}
    assert res.text == "I'll look at the file first."


def test_qwen3_xml_string_parameter_that_looks_like_json_stays_a_string() -> None:
    text = ("<tool_call>\n<function=edit_file>\n<parameter=path>\n42\n</parameter>\n"
            "<parameter=old_text>\n{\"a\": 1}\n</parameter>\n<parameter=new_text>\n"
            "    x = [1, 2]\n\n</parameter>\n</function>\n</tool_call>")
    call, _ = one(text)
    assert call.arguments == {"path": "42", "old_text": '{"a": 1}', "new_text": "    x = [1, 2]\n"}


def test_qwen3_xml_unclosed_tags_are_closed_at_the_end() -> None:
    text = "<tool_call>\n<function=run_command>\n<parameter=command>\npytest -q\n"
    call, _ = one(text)
    assert call.arguments == {"command": "pytest -q"}


def test_qwen3_xml_missing_parameter_close_before_next_parameter() -> None:
    text = ("<tool_call><function=read_file><parameter=path>a.py<parameter=end_line>5"
            "</function></tool_call>")
    call, _ = one(text)
    assert call.arguments == {"path": "a.py", "end_line": 5}


def test_qwen3_xml_without_wrapper_and_two_calls() -> None:
    text = ("<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>\n"
            "<function=read_file>\n<parameter=path>\nb.py\n</parameter>\n</function>")
    res = parse_tool_calls(text, SPECS)
    assert [c.arguments["path"] for c in res.calls] == ["a.py", "b.py"]


# -- Hermes (Qwen2.5) ------------------------------------------------------------------
def test_hermes_json_multiple_calls_and_text_around() -> None:
    text = ('Let me check both.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
            '</tool_call>\n<tool_call>\n{"name": "read_file", "arguments": {"path": "b.py", '
            '"start_line": "3"}}\n</tool_call>\nThen I will edit.')
    res = parse_tool_calls(text, SPECS)
    assert [(c.name, c.arguments) for c in res.calls] == [
        ("read_file", {"path": "a.py"}), ("read_file", {"path": "b.py", "start_line": 3})]
    assert res.formats == ["hermes"]
    assert "Let me check both." in res.text and "Then I will edit." in res.text


def test_hermes_broken_json_trailing_comma_single_quotes_unclosed() -> None:
    call, _ = one("<tool_call>\n{'name': 'run_command', 'arguments': {'command': 'ls -la',},}\n")
    assert call.arguments == {"command": "ls -la"}
    call, _ = one('<tool_call>{"name": "read_file", "arguments": {"path": "x.py"')
    assert call.arguments == {"path": "x.py"}


def test_hermes_string_parameter_given_as_number_becomes_string() -> None:
    call, _ = one('<tool_call>{"name": "edit_file", "arguments": {"path": 7, "old_text": 3, '
                  '"new_text": {"k": 1}}}</tool_call>')
    assert call.arguments == {"path": "7", "old_text": "3", "new_text": '{"k": 1}'}


def test_hermes_arguments_as_a_json_string() -> None:
    call, _ = one('<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}</tool_call>')
    assert call.arguments == {"path": "a.py"}


def test_hermes_garbage_is_an_error_not_a_call() -> None:
    res = parse_tool_calls("<tool_call>read the file please</tool_call>", SPECS)
    assert res.calls == [] and res.errors


def test_second_tool_call_opened_before_first_closed() -> None:
    text = ('<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}\n'
            '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>')
    res = parse_tool_calls(text, SPECS)
    assert [c.arguments["path"] for c in res.calls] == ["a.py", "b.py"]


# -- Mistral -------------------------------------------------------------------------------
def test_mistral_list_form() -> None:
    text = ('[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "a.py"}}, '
            '{"name": "run_command", "arguments": {"command": "make test", "timeout": "30"}}]</s>')
    res = parse_tool_calls(text, SPECS)
    assert [c.name for c in res.calls] == ["read_file", "run_command"]
    assert res.calls[1].arguments["timeout"] == 30
    assert res.formats == ["mistral"]


def test_mistral_name_args_form_and_unclosed_list() -> None:
    res = parse_tool_calls('[TOOL_CALLS]read_file[ARGS]{"path": "a.py"}', SPECS)
    assert [(c.name, c.arguments) for c in res.calls] == [("read_file", {"path": "a.py"})]
    res = parse_tool_calls('[TOOL_CALLS] [{"name": "read_file", "arguments": {"path": "a.py"}', SPECS)
    assert res.calls[0].arguments == {"path": "a.py"}


# -- Llama 3 -------------------------------------------------------------------------------
def test_llama3_python_tag_and_bare_json() -> None:
    call, _ = one('<|python_tag|>{"name": "read_file", "parameters": {"path": "a.py"}}<|eom_id|>')
    assert call.format == "llama3" and call.arguments == {"path": "a.py"}
    call, res = one('Sure.\n{"name": "run_command", "parameters": {"command": "ls"}}')
    assert call.arguments == {"command": "ls"} and res.text == "Sure."


def test_llama3_function_tag_with_json_body() -> None:
    call, _ = one('<function=read_file>{"path": "a.py", "start_line": 2}</function>')
    assert call.arguments == {"path": "a.py", "start_line": 2}


def test_bare_json_that_is_not_a_call_stays_text() -> None:
    res = parse_tool_calls('The config is {"name": "x", "value": 3}.', SPECS)
    assert res.calls == [] and "config" in res.text
    res = parse_tool_calls('{"name": "unknown_tool", "arguments": {}}', SPECS)
    assert res.calls == []


def test_a_misnamed_tool_goes_to_the_one_tool_its_arguments_fit() -> None:
    # as the 1.5B model called rename_symbol: a made-up name, the right arguments
    call, _ = one('```json\n{"name": "open_file", "arguments": {"path": "a.py", "start_line": "3"}}\n```')
    assert call.name == "read_file" and call.arguments == {"path": "a.py", "start_line": 3}
    call, _ = one('<tool_call>{"name": "shell", "arguments": {"command": "ls"}}</tool_call>')
    assert call.name == "run_command"
    # arguments that fit several tools, or none, name no tool
    assert parse_tool_calls('{"name": "open", "arguments": {"path": "a.py"}}', SPECS).calls == []
    assert parse_tool_calls('```json\n{"name": "x", "arguments": {"colour": 1}}\n```', SPECS).calls == []
    call, _ = one('<tool_call>{"name": "open", "arguments": {"path": "a.py"}}</tool_call>')
    assert call.name == "open"  # kept: running it answers "unknown tool" with the list


# -- fenced JSON -----------------------------------------------------------------------
def test_fenced_json_block_with_python_literals() -> None:
    text = ('I will run the tests.\n```json\n{"name": "todo", "arguments": {"items": ["a", "b"], '
            '"done": False}}\n```\nDone.')
    call, res = one(text)
    assert call.format == "fenced"
    assert call.arguments == {"items": ["a", "b"], "done": False}
    assert "I will run the tests." in res.text and "Done." in res.text


def test_fenced_list_of_calls_unclosed_fence() -> None:
    text = '```json\n[{"name": "read_file", "arguments": {"path": "a.py"}},\n {"name": "read_file", "arguments": {"path": "b.py"}}]\n'
    res = parse_tool_calls(text, SPECS)
    assert [c.arguments["path"] for c in res.calls] == ["a.py", "b.py"]


def test_fenced_code_that_is_not_a_call_is_text() -> None:
    res = parse_tool_calls("```python\nprint('hi')\n```", SPECS)
    assert res.calls == []


# -- DeepSeek ------------------------------------------------------------------------------
def test_deepseek_v3_format() -> None:
    text = ("I'll read it.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read_file\n"
            "```json\n{\"path\": \"a.py\", \"end_line\": \"9\"}\n```<｜tool▁call▁end｜>"
            "<｜tool▁call▁begin｜>function<｜tool▁sep｜>run_command\n```json\n{\"command\": \"ls\"}\n```"
            "<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
    res = parse_tool_calls(text, SPECS)
    assert [(c.name, c.arguments) for c in res.calls] == [
        ("read_file", {"path": "a.py", "end_line": 9}), ("run_command", {"command": "ls"})]
    assert res.text == "I'll read it." and res.formats == ["deepseek"]


def test_deepseek_v31_format_unclosed() -> None:
    text = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>read_file<｜tool▁sep｜>{\"path\": \"a.py\""
    call, _ = one(text)
    assert call.arguments == {"path": "a.py"}


# -- pythonic (Llama 3.2 / Gemma) ---------------------------------------------------------
def test_pythonic_calls_bare_and_in_tool_code_block() -> None:
    res = parse_tool_calls('[read_file(path="a.py", start_line=3), run_command(command="ls")]', SPECS)
    assert [(c.name, c.arguments) for c in res.calls] == [
        ("read_file", {"path": "a.py", "start_line": 3}), ("run_command", {"command": "ls"})]
    call, _ = one('```tool_code\nread_file(path="b.py")\n```')
    assert call.format == "pythonic" and call.arguments == {"path": "b.py"}


def test_pythonic_unknown_function_is_text() -> None:
    assert parse_tool_calls("[print(x=1)]", SPECS).calls == []


# -- reasoning, plain answers ------------------------------------------------------------
def test_think_blocks_are_dropped_and_plain_answer_has_no_calls() -> None:
    res = parse_tool_calls("<think>maybe <tool_call>x</tool_call></think>All done: renamed.", SPECS)
    assert res.calls == [] and res.text == "All done: renamed."


# -- coercion -----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "schema", "expected"), [
    ("12", {"type": "integer"}, 12),
    ("1.5", {"type": "number"}, 1.5),
    ("true", {"type": "boolean"}, True),
    ('["a", "b"]', {"type": "array", "items": {"type": "string"}}, ["a", "b"]),
    ("0012", {"type": "string"}, "0012"),
    (12, {"type": "string"}, "12"),
    ("x", {"type": ["string", "null"]}, "x"),
    ("{'a': 1,}", {"type": "object"}, {"a": 1}),
    ("lots", {"type": "integer"}, "lots"),
])
def test_coerce_value(value, schema, expected) -> None:
    assert coerce_value(value, schema) == expected


def test_lenient_json_cases() -> None:
    assert lenient_json.loads("{a: 1, 'b': [1, 2,], c: None}") == {"a": 1, "b": [1, 2], "c": None}
    assert lenient_json.loads('{"s": "line1\nline2"}') == {"s": "line1\nline2"}
    assert lenient_json.loads('{"x": {"y": [1, {"z": "q') == {"x": {"y": [1, {"z": "q"}]}}
    with pytest.raises(lenient_json.LenientJSONError):
        lenient_json.loads("{: }")


# -- streaming ------------------------------------------------------------------------
def _stream(text: str, size: int = 3):
    parser = StreamingToolCallParser(SPECS)
    events = []
    for i in range(0, len(text), size):
        events += [("feed", e) for e in parser.feed(text[i:i + size])]
    tail, result = parser.finish()
    events += [("finish", e) for e in tail]
    return events, result


@pytest.mark.parametrize("text", [
    QWEN3,
    'Reading.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "src/app.py", "start_line": 10}}\n</tool_call>',
    "I'll look.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>read_file<｜tool▁sep｜>{\"path\": \"src/app.py\", \"start_line\": 10}<｜tool▁call▁end｜>",
])
def test_streaming_reports_prose_then_the_call_as_it_closes(text: str) -> None:
    events, result = _stream(text)
    prose = "".join(e.text for _, e in events)
    calls = [(when, e.call) for when, e in events if e.call]
    assert "<" not in prose and prose.strip().startswith(("I'll", "Reading"))
    assert len(calls) == 1 and calls[0][1].arguments == {"path": "src/app.py", "start_line": 10}
    assert calls[0][1] == result.calls[0]


def test_streaming_closed_call_is_reported_before_the_end() -> None:
    text = ('<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>\n'
            '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>')
    events, _ = _stream(text, size=5)
    whens = [(when, e.call.arguments["path"]) for when, e in events if e.call]
    assert whens == [("feed", "a.py"), ("feed", "b.py")]


def test_streaming_plain_text_is_released_even_with_brackets() -> None:
    text = "Summary:\n[x] renamed the setting\n{not json"
    events, result = _stream(text)
    assert "".join(e.text for _, e in events) == text
    assert result.calls == []


# -- the registry ---------------------------------------------------------------------
EXAMPLES = {
    "qwen3_xml": QWEN3,
    "hermes": '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>',
    "mistral": '[TOOL_CALLS]read_file[ARGS]{"path": "a.py"}',
    "llama3": '<|python_tag|>{"name": "read_file", "parameters": {"path": "a.py"}}',
    "fenced": '```json\n{"name": "read_file", "arguments": {"path": "a.py"}}\n```',
    "deepseek": "<｜tool▁call▁begin｜>read_file<｜tool▁sep｜>{\"path\": \"a.py\"}<｜tool▁call▁end｜>",
    "pythonic": '[read_file(path="a.py")]',
}


def test_every_registered_format_reads_its_own_example_and_is_found_by_name() -> None:
    from qwill.agent import toolcall_formats

    assert sorted(f.name for f in toolcall_formats.FORMATS) == sorted(EXAMPLES)
    for name, text in EXAMPLES.items():
        fmt = toolcall_formats.get(name)
        assert fmt.name == name
        call, _ = one(text)
        assert call.format == name and call.name == "read_file", name
        # a format with markers opens its example with one of them
        assert not fmt.markers or any(m in text for m in fmt.markers), name
    with pytest.raises(KeyError, match="unknown tool-call format 'nope'"):
        toolcall_formats.get("nope")

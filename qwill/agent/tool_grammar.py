"""Grammars that make every tool call a model opens parse and validate.

When the model opens a call in its format (`<tool_call>`, `[TOOL_CALLS]`, ...),
decoding continues under a grammar built from the tools' JSON schemas in that
format: only a known tool name, only its parameters, every required one, each
value of its declared type. Text before the first call is free (the grammar is
lazy, triggered by the opening marker); after the last call the model can only
open another call or end its turn.

One builder per format, for the formats a local model is prompted in: `hermes`
(Qwen2.5 and the prompt Qwill writes for templates without tools), `qwen3_xml`
(Qwen3-Coder), `mistral` and `llama3`. Others get no grammar (the tolerant
parser still reads them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.grammar import GrammarError, json_schema_rules, literal, merge_rules, rule_name, text_without


@dataclass(frozen=True)
class ToolGrammar:
    format: str
    gbnf: str
    triggers: tuple[str, ...]
    # tools whose parameters could not be expressed exactly and accept any JSON object
    loose: tuple[str, ...] = ()


def _functions(tools: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for t in tools:
        fn = t.get("function", t)
        params = dict(fn.get("parameters") or {})
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        out.append((str(fn["name"]), params))
    return out


def _arguments_rules(name: str, params: Mapping[str, Any], loose: list[str], tool: str) -> str:
    try:
        return json_schema_rules(params, name)
    except GrammarError:
        loose.append(tool)
        return json_schema_rules({"type": "object"}, name)


def _json_object_calls(tools: Sequence[Mapping[str, Any]], arguments_key: str
                       ) -> tuple[str, list[str]]:
    """Rules `call ::= {"name": "<tool>", "<arguments_key>": {...}}` over every tool."""
    blocks: list[str] = []
    alts: list[str] = []
    loose: list[str] = []
    for i, (tool, params) in enumerate(_functions(tools)):
        args = f"args-{i}"
        blocks.append(_arguments_rules(args, params, loose, tool))
        one = f"call-{i}"
        name_json = literal('"name": ' + _json_string(tool) + ", " + _json_string(arguments_key) + ": ")
        blocks.append(f'{one} ::= "{{" {name_json} {args} "}}" space')
        alts.append(one)
    if not alts:
        raise GrammarError("no tools")
    blocks.append("call ::= " + " | ".join(alts))
    return merge_rules(*blocks), loose


def _json_string(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def hermes(tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
    """`<tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>`, one or more.

    Small Qwen2.5 models often write the same call object in a ```json fence or bare
    at the start of a line instead; those openings are constrained the same way."""
    rules, loose = _json_object_calls(tools, "arguments")
    blocks = [
        rules,
        'block ::= "<tool_call>" "\\n"? call "\\n"? "</tool_call>"',
        'fence ::= "```json" "\\n" call "\\n"? "```"',
        'root ::= block ( "\\n"* block )* | fence ( "\\n"* fence )* | call',
    ]
    return ToolGrammar("hermes", merge_rules(*blocks), ("<tool_call>", "```json", '{"name"'), tuple(loose))


def mistral(tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
    """`[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`."""
    rules, loose = _json_object_calls(tools, "arguments")
    root = 'root ::= "[TOOL_CALLS]" space "[" space call ( "," space call )* "]" space'
    return ToolGrammar("mistral", merge_rules(rules, root), ("[TOOL_CALLS]",), tuple(loose))


def llama3(tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
    """`<|python_tag|>{"name": …, "parameters": {…}}` (Llama 3.1's JSON tool calling)."""
    rules, loose = _json_object_calls(tools, "parameters")
    root = 'root ::= "<|python_tag|>" space call ( ";" space call )*'
    return ToolGrammar("llama3", merge_rules(rules, root), ("<|python_tag|>",), tuple(loose))


def _schema_type(schema: Mapping[str, Any]) -> str:
    t = schema.get("type", "")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "")
    return str(t)


def qwen3_xml(tools: Sequence[Mapping[str, Any]]) -> ToolGrammar:
    """Qwen3-Coder: `<tool_call>\\n<function=NAME>\\n<parameter=P>\\nvalue\\n</parameter>\\n…
    </function>\\n</tool_call>`. A string parameter's value is raw text that cannot contain
    `</parameter>`; other values are JSON of their schema. Required parameters come
    first, then any optional ones, each at most once, in the schema's order."""
    blocks = [text_without("xml-text", "</parameter>")]
    fns: list[str] = []
    loose: list[str] = []
    for i, (tool, params) in enumerate(_functions(tools)):
        props: Mapping[str, Any] = params.get("properties") or {}
        required = [p for p in params.get("required") or [] if p in props]
        optional = [p for p in props if p not in required]
        parts: list[str] = []
        for p in required + optional:
            value = "xml-text"
            if _schema_type(props[p]) != "string":
                value = rule_name("v", str(i), p)
                blocks.append(_arguments_rules(value, props[p], loose, tool))
            pr = rule_name("p", str(i), p)
            blocks.append(f'{pr} ::= {literal(f"<parameter={p}>")} "\\n"? {value} "\\n"? "</parameter>" "\\n"?')
            parts.append(pr if p in required else f"{pr}?")
        fn = f"fn-{i}"
        blocks.append(f'{fn} ::= {literal(f"<function={tool}>")} "\\n"? {" ".join(parts)} "</function>" "\\n"?')
        fns.append(fn)
    if not fns:
        raise GrammarError("no tools")
    blocks.append("function ::= " + " | ".join(fns))
    blocks.append('block ::= "<tool_call>" "\\n"? function "</tool_call>"')
    blocks.append('root ::= block ( "\\n"* block )*')
    return ToolGrammar("qwen3_xml", merge_rules(*blocks), ("<tool_call>",), tuple(loose))


BUILDERS = {"hermes": hermes, "qwen3_xml": qwen3_xml, "mistral": mistral, "llama3": llama3}


def template_format(template: str) -> str:
    """The tool-call format a chat template teaches its model (`hermes` when it has none:
    Qwill's own tool prompt asks for Hermes calls)."""
    if "<function=" in template and "<parameter=" in template:
        return "qwen3_xml"
    if "<tool_call>" in template:
        return "hermes"
    if "[TOOL_CALLS]" in template:
        return "mistral"
    if "<|python_tag|>" in template:
        return "llama3"
    return "hermes"


def tool_grammar(format_name: str, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar | None:
    """The grammar for calls in `format_name` to `tools`, or None for a format without one."""
    builder = BUILDERS.get(format_name)
    if builder is None or not tools:
        return None
    return builder(tools)

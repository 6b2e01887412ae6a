"""GBNF building blocks (llama.cpp's grammar format) for constrained decoding.

Callers above the engine describe what a model may write (the agent: its tool
calls) and hand the grammar text to `GenerationRequest.grammar`; llama.cpp
enforces it token by token. JSON values follow JSON schemas through
llama-cpp-python's own schema converter (the one its server uses), so what a
grammar admits is what the schema validates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_RULE_NAME = re.compile(r"[^A-Za-z0-9-]+")


class GrammarError(ValueError):
    """A schema could not be turned into a grammar."""


def literal(text: str) -> str:
    """A GBNF string literal matching exactly `text`."""
    return '"' + "".join(_LITERAL_ESCAPES.get(c, c) for c in text) + '"'


def rule_name(*parts: str) -> str:
    """A valid, readable rule name (letters, digits, dashes) from free-form parts."""
    name = "-".join(_RULE_NAME.sub("-", p).strip("-") for p in parts if p)
    return name.lower() or "r"


def _char_class(chars: str, negate: bool) -> str:
    esc = "".join("\\" + c if c in "]\\^-" else ("\\n" if c == "\n" else c) for c in sorted(set(chars)))
    return f"[{'^' if negate else ''}{esc}]"


def text_without(name: str, forbidden: str) -> str:
    """Rules for any text (possibly empty) in which `forbidden` does not occur: a
    string-matching automaton (KMP) written as right-recursive rules, one per prefix of
    `forbidden` matched so far. The caller then writes `forbidden` as its terminator.
    Returns the rules; `name` is the entry rule."""
    if not forbidden:
        raise GrammarError("text_without needs a non-empty terminator")
    n = len(forbidden)
    fail = [0] * n  # KMP failure function
    k = 0
    for i in range(1, n):
        while k and forbidden[i] != forbidden[k]:
            k = fail[k - 1]
        if forbidden[i] == forbidden[k]:
            k += 1
        fail[i] = k

    def step(state: int, c: str) -> int:
        while state and forbidden[state] != c:
            state = fail[state - 1]
        return state + 1 if forbidden[state] == c else 0

    alphabet = sorted(set(forbidden))
    rules = []
    for state in range(n):
        alts = ['""']
        by_target: dict[int, list[str]] = {}
        for c in alphabet:
            nxt = step(state, c)
            if nxt < n:
                by_target.setdefault(nxt, []).append(c)
        for target, chars in sorted(by_target.items()):
            alts.append(f"{_char_class(''.join(chars), False)} {name}-{target}")
        alts.append(f"{_char_class(''.join(alphabet), True)} {name}-0")
        rules.append(f"{name}-{state} ::= " + " | ".join(alts))
    rules.append(f"{name} ::= {name}-0")
    return "\n".join(rules)


def json_schema_rules(schema: Mapping[str, Any], name: str) -> str:
    """GBNF rules for a JSON value valid under `schema`; `name` is its entry rule.

    Uses llama-cpp-python's converter. Several calls may share one grammar: their
    helper rules (`space`, `string`, ...) are identical and the caller merges them.
    """
    try:
        from llama_cpp.llama_grammar import SchemaConverter
    except ImportError as exc:  # pragma: no cover - llama-cpp-python is a dependency
        raise GrammarError(f"llama-cpp-python's grammar converter is missing: {exc}") from None
    converter: Any = SchemaConverter  # untyped upstream
    conv = converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        resolved = conv.resolve_refs(json.loads(json.dumps(schema)), "")
        entry = conv.visit(resolved, name)
    except Exception as exc:  # the converter raises bare exceptions on what it cannot express
        raise GrammarError(f"schema not expressible as a grammar: {exc}") from None
    rules = str(conv.format_grammar())
    if entry != name:  # a primitive schema resolves to a shared rule (`integer`, `string`)
        rules += f"\n{name} ::= {entry}"
    return rules


def merge_rules(*blocks: str) -> str:
    """Join rule blocks, keeping the first definition of a rule defined twice identically
    and refusing two different definitions of one name."""
    seen: dict[str, str] = {}
    order: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            if not line.strip():
                continue
            head, sep, body = line.partition(" ::= ")
            if not sep:
                raise GrammarError(f"not a grammar rule: {line[:80]}")
            if head in seen:
                if seen[head] != body:
                    raise GrammarError(f"rule {head} defined twice differently")
                continue
            seen[head] = body
            order.append(head)
    return "\n".join(f"{h} ::= {seen[h]}" for h in order) + "\n"

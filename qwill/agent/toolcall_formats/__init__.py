"""Tool-call formats, one module each, behind a small registry (the shape of vLLM's
tool parsers: `get("hermes")`, every format in `FORMATS`).

Detection order matters when a message could be read two ways: formats are tried in
`FORMATS` order on their markers first (`extract`), then on shape alone
(`extract_unmarked`: a bare JSON object, a Python call list). A new format is a new
module with a `ToolCallFormat` subclass, added to `FORMATS` where its markers should win.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import ParseResult, ToolCall, ToolCallFormat, ToolSpecs
from .deepseek import DeepSeek
from .fenced import Fenced
from .grammar import ToolGrammar
from .hermes import Hermes
from .llama3 import Llama3
from .mistral import Mistral
from .pythonic import Pythonic
from .qwen3_xml import Qwen3XML

FORMATS: tuple[ToolCallFormat, ...] = (
    DeepSeek(), Hermes(), Qwen3XML(), Mistral(), Llama3(), Fenced(), Pythonic(),
)
_BY_NAME = {f.name: f for f in FORMATS}

MARKERS: tuple[str, ...] = tuple(m for f in FORMATS for m in f.markers)
CLOSERS: tuple[str, ...] = tuple(c for f in FORMATS for c in f.closers)


def get(name: str) -> ToolCallFormat:
    """The format called `name` (as `ToolCall.format` records it)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown tool-call format {name!r}; known: {', '.join(_BY_NAME)}") from None


def extract(text: str, specs: ToolSpecs) -> ParseResult:
    """The calls of the first format that reads `text`; the whole text as prose if none."""
    for fmt in FORMATS:
        got = fmt.extract(text, specs)
        if got is not None:
            return got
    for fmt in FORMATS:
        got = fmt.extract_unmarked(text, specs)
        if got is not None:
            return got
    return ParseResult(text=text.strip())


def template_format(template: str) -> str:
    """The format a chat template teaches its model to call tools in (`hermes` when it
    shows none: Qwill's own tool prompt asks for Hermes calls)."""
    if "<function=" in template and "<parameter=" in template:
        return Qwen3XML.name
    for fmt in (Hermes(), Mistral(), Llama3()):
        if any(m in template for m in fmt.markers):
            return fmt.name
    return Hermes.name


def grammar_for(name: str, tools: Sequence[Mapping[str, Any]]) -> ToolGrammar | None:
    """The grammar of calls in format `name` to `tools`; None for a format without one."""
    if not tools:
        return None
    return get(name).grammar(tools)


__all__ = ["CLOSERS", "FORMATS", "MARKERS", "ParseResult", "ToolCall", "ToolCallFormat", "ToolGrammar",
           "ToolSpecs", "extract", "get", "grammar_for", "template_format"]

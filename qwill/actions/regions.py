"""The code an action shows the model, and how its answer goes back in.

Regions are whole lines. The model sees them dedented (a method looks like a
top-level function) and its answer is re-indented to where the region sits,
so indentation never depends on the model getting it right.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..context.document import DEFAULT_ENCODING, Position, PositionEncoding, TextDocument
from ..context.languages import FUNCTION_LIKE, LanguageSpec
from ..context.syntax import Scope, SyntaxTree, definitions, enclosing_scopes
from .syntax_check import parse, spec_for


@dataclass(frozen=True)
class Snapshot:
    """A document as it was when an action started."""

    uri: str
    text: str
    version: int
    language_id: str
    path: Path | None
    spec: LanguageSpec | None
    tree: SyntaxTree | None
    encoding: PositionEncoding = DEFAULT_ENCODING  # how the action's positions count columns

    @property
    def language(self) -> str:
        return self.spec.name if self.spec else self.language_id

    def offset(self, pos: Position) -> int:
        return TextDocument(self.uri, self.text, encoding=self.encoding).offset_at(pos, strict=False)

    def line_of(self, offset: int) -> str:
        s = self.text.rfind("\n", 0, offset) + 1
        e = self.text.find("\n", offset)
        return self.text[s:len(self.text) if e < 0 else e]


def path_of(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def snapshot(doc: TextDocument, tree: SyntaxTree | None = None) -> Snapshot:
    """Freeze `doc`; `tree` is reused when it is of exactly this text."""
    path = path_of(doc.uri)
    spec = spec_for(doc.language_id, str(path) if path else doc.uri)
    if tree is None or tree.text != doc.text or tree.spec is not spec:
        tree = parse(doc.text, spec)
    return Snapshot(doc.uri, doc.text, doc.version, doc.language_id, path, spec, tree, doc.encoding)


def scopes_at(snap: Snapshot, offset: int) -> list[Scope]:
    return enclosing_scopes(snap.tree, offset) if snap.tree is not None else []


def function_at(snap: Snapshot, offset: int) -> Scope | None:
    return next((s for s in reversed(scopes_at(snap, offset)) if s.kind in FUNCTION_LIKE), None)


def container_of(snap: Snapshot, scope: Scope) -> Scope | None:
    """The class-like scope directly holding `scope` (for methods)."""
    outer = [s for s in scopes_at(snap, scope.start + 1) if s.start < scope.start and s.end >= scope.end]
    for s in reversed(outer):
        if s.kind in FUNCTION_LIKE:
            return None
        return s
    return None


def line_region(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole lines (including the last line's newline)."""
    s = text.rfind("\n", 0, start) + 1
    if end > start and text[end - 1:end] == "\n":
        return s, end
    nl = text.find("\n", end)
    return s, len(text) if nl < 0 else nl + 1


def common_indent(code: str) -> str:
    indents = [ln[: len(ln) - len(ln.lstrip(" \t"))] for ln in code.splitlines() if ln.strip()]
    if not indents:
        return ""
    first, last = min(indents), max(indents)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def dedent(code: str) -> tuple[str, str]:
    """`code` without its common indentation, and that indentation."""
    indent = common_indent(code)
    if not indent:
        return code, ""
    out = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip(" \t") for ln in code.splitlines(keepends=True)]
    return "".join(out), indent


def reindent(code: str, indent: str) -> str:
    """The model's `code` moved to `indent` (its own common indentation removed first)."""
    code = textwrap.dedent(code)
    if not indent:
        return code
    return "".join(indent + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


def match_newlines(new: str, old: str, crlf: bool) -> str:
    """Give `new` the trailing newline and line endings of the text it replaces."""
    new = new.replace("\r\n", "\n")
    if old.endswith("\n") and not new.endswith("\n"):
        new += "\n"
    elif not old.endswith("\n") and new.endswith("\n"):
        new = new.rstrip("\n")
    return new.replace("\n", "\r\n") if crlf else new


def only_definition(code: str, spec: LanguageSpec | None, name: str) -> str:
    """When the model wraps the definition it was asked about in extra code (usage
    examples, a repeated class), keep just that definition."""
    if spec is None or not name:
        return code
    tree = SyntaxTree(spec, code)
    hits = [d for d in definitions(tree, with_snippets=False) if d.name == name]
    if len(hits) != 1:
        return code
    d = hits[0]
    start = code.rfind("\n", 0, d.start) + 1
    # keep decorators / attributes / doc comments written right above it
    lines_above = code[:start].splitlines(keepends=True)
    while lines_above and lines_above[-1].strip().startswith(("@", "#[", "///", "/**", "*", "//")):
        start -= len(lines_above.pop())
    end = code.find("\n", d.end)
    return code[start:len(code) if end < 0 else end + 1]


def remove_definitions(code: str, spec: LanguageSpec | None, name: str) -> str:
    """`code` without top-level definitions named `name` (a test must use the real one)."""
    if spec is None or not name:
        return code
    tree = SyntaxTree(spec, code)
    hits = [d for d in definitions(tree, with_snippets=False) if d.name == name and not d.container
            and d.kind in ("function", "method", "class", "struct", "type", "interface")]
    for d in sorted(hits, key=lambda d: d.start, reverse=True):
        start = code.rfind("\n", 0, d.start) + 1
        above = code[:start].splitlines(keepends=True)
        while above and above[-1].lstrip().startswith(("@", "#[")):
            start -= len(above.pop())
        end = code.find("\n", d.end)
        end = len(code) if end < 0 else end + 1
        while end < len(code) and code[end] == "\n":
            end += 1
        code = code[:start] + code[end:]
    return code

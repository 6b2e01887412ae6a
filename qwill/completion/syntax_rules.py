"""Syntax-aware rules for suggestions, from tree-sitter.

- Shape: the cursor's syntactic position decides single-line vs multi-line
  (inside a comment or string, or mid-statement: one line; on an empty line or
  in an empty block: a block).
- Parse check: a suggestion that makes the code around the cursor parse worse
  (more ERROR/MISSING nodes than without it) is cut back line by line, or
  dropped. Only the window around the cursor is parsed, so the check costs the
  same in a 50-line file and a 5,000-line one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from ..context.languages import LanguageSpec, language_for, parser_for
from ..context.syntax import SyntaxTree, scope_facts
from .postprocess import BLOCK_OPENERS, CLOSERS, Shape, indent_width

# Characters of context on each side of the cursor that the parse check reads.
CHECK_BEFORE = 4000
CHECK_AFTER = 1500


@dataclass(frozen=True)
class SyntaxVerdict:
    text: str  # the suggestion, possibly cut back ("" when dropped)
    errors_before: int
    errors_after: int


def syntax_shape(text: str, offset: int, language_id: str = "", path: str | None = None,
                 *, allow_multiline: bool = True) -> Shape:
    """The shape of suggestion that fits at `offset`, from the syntax around it."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_prefix = text[line_start:offset]
    line_suffix = text[offset:len(text) if line_end < 0 else line_end].rstrip("\r")
    base = indent_width(line_prefix) if line_prefix.strip() else indent_width(line_prefix + "x")
    single = Shape(False, base, None)
    if not allow_multiline:
        return single
    rest = line_suffix.strip()
    if rest and any(ch not in CLOSERS for ch in rest):
        return single  # mid-line, before real code
    spec = language_for(language_id, path)
    if spec is not None:
        lo = max(0, line_start - CHECK_BEFORE)
        window = text[lo:offset + CHECK_AFTER]
        tree = SyntaxTree(spec, window)
        facts = scope_facts(tree, window, offset - lo)
        if facts.in_comment or facts.in_string:
            return single
        if facts.in_empty_block:
            return Shape(True, base, None)
    if line_prefix.rstrip().endswith(BLOCK_OPENERS):
        return Shape(True, base + 1, base)
    if not line_prefix.strip():
        return Shape(True, base, None)
    return single  # completing the statement the user is typing


def count_errors(node: Node, limit: int = 10_000) -> int:
    """ERROR and MISSING nodes under `node`."""
    if not node.has_error:
        return 0
    count = 0
    stack = [node]
    while stack and count < limit:
        n = stack.pop()
        if n.is_error or n.is_missing:
            count += 1
        if n.has_error:
            stack.extend(n.children)
    return count


def _errors(spec: LanguageSpec, source: str) -> int:
    tree = parser_for(spec).parse(source.encode("utf-8", "surrogatepass"))
    return count_errors(tree.root_node)


def check_parse(text: str, offset: int, suggestion: str, language_id: str = "",
                path: str | None = None) -> SyntaxVerdict:
    """Cut `suggestion` back (whole lines, then nothing) until it parses no worse."""
    spec = language_for(language_id, path)
    if spec is None or not suggestion:
        return SyntaxVerdict(suggestion, 0, 0)
    lo = max(0, offset - CHECK_BEFORE)
    hi = min(len(text), offset + CHECK_AFTER)
    # widen to whole lines so a cut-off token at the window edge does not count
    lo = text.rfind("\n", 0, lo) + 1 if lo else 0
    nl = text.find("\n", hi)
    hi = len(text) if nl < 0 else nl
    before, after = text[lo:offset], text[offset:hi]
    base = _errors(spec, before + after)
    candidate = suggestion
    while candidate:
        errs = _errors(spec, before + candidate + after)
        # Closing brackets the code after the cursor already has: drop extras.
        while errs and candidate.rstrip()[-1:] in (")", "]", "}"):
            shorter = candidate.rstrip()[:-1]
            fewer = _errors(spec, before + shorter + after)
            if fewer >= errs or not shorter.strip():
                break
            candidate, errs = shorter, fewer
        if errs <= base:
            return SyntaxVerdict(candidate, base, errs)
        if "\n" not in candidate.rstrip("\n"):
            break
        candidate = candidate.rstrip("\n").rsplit("\n", 1)[0]
    return SyntaxVerdict("", base, base)

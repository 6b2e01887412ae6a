"""What tree-sitter says about a text: its syntax errors and a scope's node.

An action's edit is accepted only when the file parses no worse than before:
the number of ERROR and MISSING nodes may not grow. Files in languages Qwill
does not parse are not checked (there is nothing to compare with).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from ..context.languages import LanguageSpec, language_for
from ..context.syntax import Scope, SyntaxTree


@dataclass(frozen=True)
class SyntaxErrors:
    count: int
    first_line: int | None  # zero-based line of the first error, for the message


def parse(text: str, spec: LanguageSpec | None) -> SyntaxTree | None:
    return SyntaxTree(spec, text) if spec is not None else None


def spec_for(language_id: str, path: str | None) -> LanguageSpec | None:
    return language_for(language_id, path)


def syntax_errors(tree: SyntaxTree) -> SyntaxErrors:
    """ERROR and MISSING nodes in `tree` (subtrees without errors are skipped)."""
    count = 0
    first: int | None = None
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if not node.has_error and not node.is_missing:
            continue
        if node.is_error or node.is_missing:
            count += 1
            if first is None or node.start_point.row < first:
                first = node.start_point.row
            if node.is_missing:
                continue
        stack.extend(node.children)
    return SyntaxErrors(count, first)


def scope_node(tree: SyntaxTree, scope: Scope) -> Node | None:
    """The syntax node a Scope was made from (same span, a scope node type)."""
    b = tree.char_to_byte(scope.start)
    e = tree.char_to_byte(scope.end)
    node: Node | None = tree.root.descendant_for_byte_range(b, e)
    while node is not None:
        if node.start_byte == b and node.end_byte == e and node.type in tree.spec.scopes:
            return node
        if node.start_byte < b:
            return None
        node = node.parent
    return None

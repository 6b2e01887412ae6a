"""What tree-sitter says about a text: its syntax errors and a scope's node.

An action's edit is accepted only when the file parses no worse than before:
the number of ERROR and MISSING nodes may not grow. Files in languages Qwill
does not parse are not checked (there is nothing to compare with).
"""

from __future__ import annotations

from tree_sitter import Node

from ..context.languages import LanguageSpec, language_for

# the error count lives with the trees (next-edit predictions are checked by it too)
from ..context.syntax import Scope, SyntaxTree
from ..context.syntax import SyntaxErrors as SyntaxErrors
from ..context.syntax import syntax_errors as syntax_errors


def parse(text: str, spec: LanguageSpec | None) -> SyntaxTree | None:
    return SyntaxTree(spec, text) if spec is not None else None


def spec_for(language_id: str, path: str | None) -> LanguageSpec | None:
    return language_for(language_id, path)


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

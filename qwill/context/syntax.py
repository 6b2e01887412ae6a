"""Syntax trees for open documents, and what they tell about a position.

`SyntaxTree` holds one document's tree-sitter tree and keeps it current with
incremental re-parses: `DocumentStore` listeners hand us `AppliedEdit`s in
character offsets, which we turn into the byte offsets and (row, byte-column)
points `Tree.edit` wants. Everything this module returns speaks character
offsets into the document text, like the rest of Qwill.

Public API (used by completion context, code actions and the agent):

- `SyntaxStore(documents)`: one tree per open document in a parsed language;
  `store.get(uri) -> SyntaxTree | None`.
- `enclosing_scopes(tree, offset) -> list[Scope]`: the functions/classes/...
  around `offset`, outermost first, each with kind, name, signature and range.
- `scope_facts(tree, text, offset) -> ScopeFacts`: scopes plus whether the
  position is in a comment, a string, an empty block, or mid-line. `tree` may
  be None (unknown language): then only the text-based facts are filled in.
- `definitions(tree) -> list[Definition]`: the definitions the language's tag
  query finds, with a short snippet each (what the workspace index stores).
- `outline(tree, scope) -> str`: a scope's header and its members' signatures.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tree_sitter import Node, Point, QueryCursor, Tree

from .document import AppliedEdit, DocumentStore, TextDocument
from .languages import CLASS_LIKE, FUNCTION_LIKE, LanguageSpec, language_for, parser_for

log = logging.getLogger(__name__)

# A document bigger than this is not parsed (window-only context): parsing
# and re-parsing cost grows with it and such files are usually generated.
MAX_PARSE_CHARS = 2_000_000

# Scope kinds that are containers for methods (not module/namespace).
_TYPE_KINDS = frozenset({"class", "interface", "struct", "enum", "trait", "impl"})

# Nodes that open a scope without a name of their own: named after what they are assigned to.
_ANONYMOUS = frozenset({
    "arrow_function", "function_expression", "func_literal", "closure_expression",
    "lambda_expression", "function_definition", "anonymous_function",
})


@dataclass(frozen=True)
class Scope:
    """A function, method, class, ... around a position. Offsets are characters."""

    kind: str  # function, method, class, interface, struct, enum, trait, impl, module, namespace
    name: str
    signature: str  # the header up to the body, e.g. "def area(self) -> float:"
    start: int
    end: int
    body_start: int | None = None  # where the body begins (None: no body node)


@dataclass(frozen=True)
class ScopeFacts:
    """What the code around a position looks like."""

    language: str | None
    scopes: tuple[Scope, ...] = ()  # outermost first
    in_comment: bool = False
    in_string: bool = False
    in_empty_block: bool = False
    mid_line: bool = False  # non-blank text follows the cursor on its line

    @property
    def innermost(self) -> Scope | None:
        return self.scopes[-1] if self.scopes else None

    @property
    def function(self) -> Scope | None:
        """The innermost enclosing function or method."""
        return next((s for s in reversed(self.scopes) if s.kind in FUNCTION_LIKE), None)

    @property
    def container(self) -> Scope | None:
        """The innermost enclosing class-like scope (class, struct, impl, ...)."""
        return next((s for s in reversed(self.scopes) if s.kind in _TYPE_KINDS), None)


@dataclass(frozen=True)
class Definition:
    """A definition found by the language's tag query."""

    name: str
    kind: str  # function, method, class, interface, struct, enum, trait, type, constant, variable, ...
    start: int  # character offsets of the whole definition
    end: int
    line: int  # zero-based line of `start`
    end_line: int
    signature: str
    container: str = ""  # enclosing class-like scope's name, for methods
    snippet: str = ""  # what to show a model: short body, or signature + doc + elision


class SyntaxTree:
    """One document's text and tree, re-parsed incrementally after edits."""

    def __init__(self, spec: LanguageSpec, text: str, tree: Tree | None = None) -> None:
        self.spec = spec
        self.text = text
        self.data = text.encode("utf-8")
        self._ascii = len(self.data) == len(text)
        self._lines: tuple[list[int], list[int]] | None = None
        self._tree: Tree = tree if tree is not None else parser_for(spec).parse(self.data)
        self._stale = False  # edits applied to the old tree, re-parse pending
        self.version = 0  # bumped on every change, for caches

    @property
    def tree(self) -> Tree:
        """The current tree. Edits only mark it stale (`Tree.edit` is cheap); the
        incremental re-parse runs when someone reads it, once for a burst of keystrokes."""
        if self._stale:
            self._tree = parser_for(self.spec).parse(self.data, self._tree)
            self._stale = False
        return self._tree

    def reparse(self) -> None:
        """Bring the tree up to date now (e.g. while the editor is idle)."""
        self.tree  # noqa: B018 - the property re-parses

    @property
    def root(self) -> Node:
        return self.tree.root_node

    # -- offsets ------------------------------------------------------------
    def _line_map(self) -> tuple[list[int], list[int]]:
        """Line starts in bytes and in characters (built once per version for non-ASCII)."""
        if self._lines is None:
            chars, byts = [0], [0]
            pos = 0
            for line in self.text.splitlines(keepends=True):
                pos += len(line)
                chars.append(pos)
                byts.append(byts[-1] + len(line.encode("utf-8")))
            self._lines = (byts, chars)
        return self._lines

    def char_to_byte(self, offset: int) -> int:
        offset = max(0, min(offset, len(self.text)))
        if self._ascii:
            return offset
        byts, chars = self._line_map()
        i = bisect.bisect_right(chars, offset) - 1
        return byts[i] + len(self.text[chars[i]:offset].encode("utf-8"))

    def byte_to_char(self, offset: int) -> int:
        offset = max(0, min(offset, len(self.data)))
        if self._ascii:
            return offset
        byts, chars = self._line_map()
        i = bisect.bisect_right(byts, offset) - 1
        return chars[i] + len(self.data[byts[i]:offset].decode("utf-8", "ignore"))

    def node_span(self, node: Node) -> tuple[int, int]:
        """A node's range in character offsets."""
        return self.byte_to_char(node.start_byte), self.byte_to_char(node.end_byte)

    def node_text(self, node: Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    # -- incremental update ----------------------------------------------------
    def apply(self, edits: Sequence[AppliedEdit], new_text: str | None = None) -> None:
        """Replay `edits` (in order, each against the text left by the previous one)
        on the tree, then re-parse incrementally. `new_text`, when given, is the
        document's text after them: any mismatch falls back to a full parse."""
        text = self.text
        tree: Tree | None = self._tree
        for e in edits:
            if e.start == 0 and e.old_end == len(text) and e.old_text == text and len(edits) == 1:
                tree = None  # a full replacement: no point editing the old tree
                text = e.new_text
                break
            if tree is None:
                break
            start_byte, start_point = _byte_and_point(text, e.start)
            old_bytes = e.old_text.encode("utf-8")
            new_bytes = e.new_text.encode("utf-8")
            tree.edit(
                start_byte=start_byte,
                old_end_byte=start_byte + len(old_bytes),
                new_end_byte=start_byte + len(new_bytes),
                start_point=start_point,
                old_end_point=_advance(start_point, old_bytes),
                new_end_point=_advance(start_point, new_bytes),
            )
            text = text[:e.start] + e.new_text + text[e.old_end:]
        if new_text is not None and new_text != text:
            log.debug("syntax tree out of step with the document; full re-parse")
            text, tree = new_text, None
        self.text = text
        self.data = text.encode("utf-8")
        self._ascii = len(self.data) == len(text)
        self._lines = None
        if tree is None:
            self._tree = parser_for(self.spec).parse(self.data)
            self._stale = False
        else:
            self._stale = True
        self.version += 1


@dataclass(frozen=True)
class SyntaxErrors:
    count: int
    first_line: int | None  # zero-based line of the first error, for the message


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


def _byte_and_point(text: str, offset: int) -> tuple[int, Point]:
    """Byte offset and (row, byte column) of a character offset in `text`."""
    line_start = text.rfind("\n", 0, offset) + 1
    row = text.count("\n", 0, line_start)
    col = len(text[line_start:offset].encode("utf-8"))
    if text.isascii():
        return offset, Point(row, col)
    return len(text[:offset].encode("utf-8")), Point(row, col)


def _advance(start: Point, inserted: bytes) -> Point:
    """The point after `inserted` bytes placed at `start`."""
    nl = inserted.count(b"\n")
    if nl == 0:
        return Point(start.row, start.column + len(inserted))
    return Point(start.row + nl, len(inserted) - inserted.rfind(b"\n") - 1)


# -- documents -------------------------------------------------------------------

class SyntaxStore:
    """A tree for each open document of a parsed language, kept current by listening
    to a DocumentStore. Documents in other languages simply have no tree."""

    def __init__(self, documents: DocumentStore | None = None) -> None:
        self._trees: dict[str, SyntaxTree] = {}
        self.change_listeners: list[Callable[[str, SyntaxTree], None]] = []
        if documents is not None:
            self.attach(documents)

    def attach(self, documents: DocumentStore) -> None:
        documents.listeners.append(self._on_change)
        documents.close_listeners.append(self._on_close)

    def get(self, uri: str) -> SyntaxTree | None:
        return self._trees.get(uri)

    def __iter__(self) -> Iterator[tuple[str, SyntaxTree]]:
        return iter(list(self._trees.items()))

    def _on_change(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        try:
            self._update(doc, edits)
        except Exception:  # a parser problem must never break editing
            log.exception("syntax update failed for %s", doc.uri)
            self._trees.pop(doc.uri, None)

    def _update(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        spec = language_for(doc.language_id, doc.uri)
        if spec is None or len(doc.text) > MAX_PARSE_CHARS:
            self._trees.pop(doc.uri, None)
            return
        current = self._trees.get(doc.uri)
        if current is None or current.spec is not spec:
            current = SyntaxTree(spec, doc.text)
            self._trees[doc.uri] = current
        else:
            current.apply(edits, doc.text)
        for listener in self.change_listeners:
            listener(doc.uri, current)

    def _on_close(self, uri: str) -> None:
        self._trees.pop(uri, None)

    def facts(self, doc: TextDocument, offset: int) -> ScopeFacts:
        tree = self._trees.get(doc.uri)
        if tree is not None and tree.text != doc.text:
            tree = None
        return scope_facts(tree, doc.text, offset)


# -- scopes -------------------------------------------------------------------------

def _scope_kind(spec: LanguageSpec, node: Node) -> str | None:
    kind = spec.scopes.get(node.type)
    if kind is None:
        return None
    if node.type == "type_spec":  # Go: `type X struct{}` / `interface{}` / alias
        t = node.child_by_field_name("type")
        kind = {"struct_type": "struct", "interface_type": "interface"}.get(t.type if t else "", "")
        if not kind:
            return None
    if kind in ("struct", "enum") and node.child_by_field_name("body") is None and (
            node.type.endswith("_specifier")):
        return None  # C `struct S x;` is a use, not a definition
    if kind == "function":
        parent = _parent_scope(spec, node)
        if parent is not None and spec.scopes.get(parent.type) in _TYPE_KINDS:
            return "method"
    return kind


def _parent_scope(spec: LanguageSpec, node: Node) -> Node | None:
    p = node.parent
    while p is not None:
        if p.type in spec.scopes:
            return p
        p = p.parent
    return None


def _declarator_name(node: Node) -> Node | None:
    """C/C++: follow `declarator` fields down to the declared name."""
    d = node.child_by_field_name("declarator")
    while d is not None:
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            return d
        d = nxt
    return None


def _scope_name(tree: SyntaxTree, node: Node) -> str:
    name = node.child_by_field_name("name")
    if name is None and node.type == "function_definition":
        name = _declarator_name(node)
    if name is None and node.type == "impl_item":
        ty, trait = node.child_by_field_name("type"), node.child_by_field_name("trait")
        if ty is None:
            return ""
        return (f"{tree.node_text(trait)} for " if trait else "") + tree.node_text(ty)
    if name is None and node.type in _ANONYMOUS:
        parent = node.parent
        while parent is not None and parent.type in ("expression_list", "parenthesized_expression"):
            parent = parent.parent
        if parent is not None:
            for field_name in ("name", "left", "key"):
                target = parent.child_by_field_name(field_name)
                if target is not None:
                    name = target
                    break
            if name is None and parent.type == "assignment_statement":  # Lua
                vl = parent.child(0)
                name = vl.child_by_field_name("name") if vl else None
    return tree.node_text(name).strip() if name is not None else ""


def _body(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    for child in node.named_children:  # Ruby classes, Java constructors, ...
        if child.type in ("body_statement", "constructor_body", "class_body", "block",
                          "declaration_list", "field_declaration_list"):
            return child
    return None


def _signature(tree: SyntaxTree, node: Node, body: Node | None) -> str:
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    raw = tree.data[node.start_byte:end].decode("utf-8", "replace")
    lines = [ln.rstrip() for ln in raw.rstrip().splitlines()]
    if body is None:
        lines = lines[:1]
    # comments between the header and the body's first statement are not the signature
    comment_starts = (tree.spec.line_comment, "/*", "*")
    while len(lines) > 1 and lines[-1].lstrip().startswith(comment_starts):
        lines.pop()
    sig = "\n".join(lines[:6]).strip()
    if node.parent is not None and node.parent.type == "type_declaration":
        sig = "type " + sig
    return sig[:400]


def _make_scope(tree: SyntaxTree, node: Node, kind: str) -> Scope:
    body = _body(node)
    start, end = tree.node_span(node)
    return Scope(kind=kind, name=_scope_name(tree, node), signature=_signature(tree, node, body),
                 start=start, end=end,
                 body_start=tree.byte_to_char(body.start_byte) if body is not None else None)


def _scopes_at_byte(tree: SyntaxTree, b: int) -> list[tuple[Node, str]]:
    node: Node | None = tree.root.descendant_for_byte_range(max(b - 1, 0), b)
    found: list[tuple[Node, str]] = []
    while node is not None:
        kind = _scope_kind(tree.spec, node)
        if kind is not None and node.start_byte < b <= node.end_byte:
            found.append((node, kind))
        node = node.parent
    found.reverse()
    return found


def enclosing_scopes(tree: SyntaxTree, offset: int) -> list[Scope]:
    """The named scopes around `offset` (a character offset), outermost first.

    For indentation-scoped languages (Python) a cursor on a blank, indented line
    just after a block's last statement still belongs to that block: tree-sitter
    ends the block at the statement, we follow the indentation as a reader does.
    """
    b = tree.char_to_byte(offset)
    found = _scopes_at_byte(tree, b)
    if tree.spec.name == "python":
        found = _extend_by_indent(tree, offset, found)
    scopes = []
    for node, kind in found:
        scope = _make_scope(tree, node, kind)
        if scope.name or kind in CLASS_LIKE:
            scopes.append(scope)
    return scopes


def _extend_by_indent(tree: SyntaxTree, offset: int, found: list[tuple[Node, str]]) -> list[tuple[Node, str]]:
    text = tree.text
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    if before.strip():
        return found
    indent = len(before.expandtabs(4))
    prev = len(text[:line_start].rstrip())  # just after the last non-blank text above
    if prev == 0:
        return found
    known = {(n.start_byte, n.end_byte) for n, _ in found}
    extra = []
    for node, kind in _scopes_at_byte(tree, tree.char_to_byte(prev - 1) + 1):
        if (node.start_byte, node.end_byte) in known:
            continue
        hdr_start = tree.byte_to_char(node.start_byte)
        hdr_line = text[text.rfind("\n", 0, hdr_start) + 1:hdr_start]
        if indent > len(hdr_line.expandtabs(4)):
            extra.append((node, kind))
    return sorted(found + extra, key=lambda nk: (nk[0].start_byte, -nk[0].end_byte))


def _in_node_types(tree: SyntaxTree, b: int, types: frozenset[str], *, line_comment: bool) -> bool:
    starts = [b, b - 1] if line_comment and b > 0 else [b]
    for at in starts:
        node: Node | None = tree.root.descendant_for_byte_range(at, at)
        while node is not None:
            if node.type in types and node.start_byte < b:
                if b < node.end_byte:
                    return True
                # the end of a line comment is still inside it (typing continues it)
                if line_comment and b == node.end_byte and not tree.node_text(node).rstrip().endswith("*/"):
                    return True
            node = node.parent
    return False


_OPENERS = (":", "{", "(", "[", " do", " then", "->", "=>")


def _empty_block_by_text(text: str, offset: int) -> bool:
    """A blank line right after a line that opens a block, before the block has any
    statement: `def f():⏎    |` or `{⏎  |⏎}`."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    if text[line_start:line_end].strip():
        return False
    head = text[:line_start].rstrip()
    if not head:
        return False
    prev_line = head[head.rfind("\n") + 1:]
    if not prev_line.rstrip().endswith(_OPENERS):
        return False
    prev_indent = len(prev_line) - len(prev_line.lstrip())
    rest = text[line_end:].lstrip("\r\n")
    while rest:
        nl = rest.find("\n")
        nxt = rest if nl < 0 else rest[:nl]
        if nxt.strip():
            stripped = nxt.lstrip()
            return (len(nxt) - len(stripped) <= prev_indent) or stripped[0] in "}])"
        rest = "" if nl < 0 else rest[nl + 1:]
    return True


def _empty_block_by_tree(tree: SyntaxTree, b: int) -> bool:
    node: Node | None = tree.root.descendant_for_byte_range(b, b)
    while node is not None:
        if node.type in tree.spec.blocks and node.start_byte < b < node.end_byte:
            return not any(c.type not in tree.spec.comments for c in node.named_children)
        if node.type in tree.spec.scopes:
            return False
        node = node.parent
    return False


def scope_facts(tree: SyntaxTree | None, text: str, offset: int) -> ScopeFacts:
    """Scope facts at character `offset` of `text` (the tree, when given, must be of `text`)."""
    offset = max(0, min(offset, len(text)))
    line_end = text.find("\n", offset)
    mid_line = bool(text[offset:len(text) if line_end < 0 else line_end].strip())
    empty_text = _empty_block_by_text(text, offset)
    if tree is None:
        return ScopeFacts(None, mid_line=mid_line, in_empty_block=empty_text)
    b = tree.char_to_byte(offset)
    in_comment = _in_node_types(tree, b, tree.spec.comments, line_comment=True)
    in_string = not in_comment and _in_node_types(tree, b, tree.spec.strings, line_comment=False)
    return ScopeFacts(
        tree.spec.name, tuple(enclosing_scopes(tree, offset)),
        in_comment=in_comment, in_string=in_string,
        in_empty_block=empty_text or _empty_block_by_tree(tree, b), mid_line=mid_line)


# -- definitions -------------------------------------------------------------------

def _elision(spec: LanguageSpec, indent: str) -> str:
    if spec.name == "python":
        return f"{indent}..."
    return f"{indent}{spec.line_comment} ..."


def _indent_of(tree: SyntaxTree, node: Node) -> str:
    start = tree.byte_to_char(node.start_byte)
    line = tree.text[tree.text.rfind("\n", 0, start) + 1:start]
    return line if not line.strip() else ""


def _doc_lines(tree: SyntaxTree, node: Node) -> list[str]:
    """Comment lines directly above a definition (Go, Rust, Java, JS doc comments)."""
    out: list[str] = []
    prev = node.prev_named_sibling
    row = node.start_point.row
    while prev is not None and prev.type in tree.spec.comments and prev.end_point.row >= row - 1 and len(out) < 8:
        out[:0] = tree.node_text(prev).splitlines()
        row = prev.start_point.row
        prev = prev.prev_named_sibling
    return out[-8:]


def _python_docstring(tree: SyntaxTree, body: Node | None) -> list[str]:
    if body is None or not body.named_children:
        return []
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children and first.named_children[0].type == "string":
        lines = tree.node_text(first).splitlines()
        ind = _indent_of(tree, first)
        return [ind + lines[0], *lines[1:6]] + ([ind + '"""'] if len(lines) > 6 else [])
    return []


SNIPPET_FULL_LINES = 12  # a function this short is shown whole
SNIPPET_MAX_CHARS = 1200


def snippet_for(tree: SyntaxTree, node: Node, kind: str) -> str:
    """What a model should see of a definition: short ones whole; long functions as
    signature, doc and an elision; classes as an outline of their members."""
    spec = tree.spec
    ind = _indent_of(tree, node)
    text = ind + tree.node_text(node)
    lines = text.splitlines()
    doc = _doc_lines(tree, node)
    if kind in _TYPE_KINDS or kind in ("module", "namespace"):
        return "\n".join([*doc, _outline_node(tree, node)])[:SNIPPET_MAX_CHARS]
    if len(lines) <= SNIPPET_FULL_LINES:
        return "\n".join(doc + lines)[:SNIPPET_MAX_CHARS]
    body = _body(node)
    if body is None or kind not in FUNCTION_LIKE:
        return "\n".join(doc + lines[:6] + [_elision(spec, ind)])[:SNIPPET_MAX_CHARS]
    sig = ind + _signature(tree, node, body)
    if spec.name == "python":
        inner = _python_docstring(tree, body)
        inner_ind = inner[0][: len(inner[0]) - len(inner[0].lstrip())] if inner else ind + "    "
        return "\n".join([sig, *inner, _elision(spec, inner_ind)])[:SNIPPET_MAX_CHARS]
    if spec.name in ("ruby", "lua"):
        return "\n".join([*doc, sig, _elision(spec, ind + "    "), ind + "end"])[:SNIPPET_MAX_CHARS]
    return "\n".join([*doc, sig + " {", _elision(spec, ind + "    "), ind + "}"])[:SNIPPET_MAX_CHARS]


def _member_nodes(tree: SyntaxTree, body: Node) -> Iterator[Node]:
    for child in body.named_children:
        node = child
        if node.type in ("decorated_definition", "export_statement", "template_declaration"):
            inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
            node = inner or (node.named_children[-1] if node.named_children else node)
        yield node


def _outline_node(tree: SyntaxTree, node: Node, max_members: int = 40) -> str:
    spec = tree.spec
    ind = _indent_of(tree, node)
    body = _body(node)
    header = ind + _signature(tree, node, body)
    if body is None:
        return ind + tree.node_text(node)
    lines = [header]
    count = 0
    for member in _member_nodes(tree, body):
        if count >= max_members:
            lines.append(_elision(spec, _indent_of(tree, member) or ind + "    "))
            break
        m_ind = _indent_of(tree, member)
        if member.type in spec.comments:
            continue
        if member.type in spec.scopes:
            sig = _signature(tree, member, _body(member))
            if spec.name == "python":
                lines.append(m_ind + sig)
                lines.append(_elision(spec, m_ind + "    "))
            else:
                lines.append(m_ind + sig + (" { ... }" if _body(member) is not None else ""))
        else:
            first = tree.node_text(member).splitlines()
            if first:
                lines.append(m_ind + first[0] + (" ..." if len(first) > 1 else ""))
        count += 1
    if spec.name != "python" and spec.name not in ("ruby", "lua", "bash"):
        lines.append(ind + "}")
    elif spec.name == "ruby":
        lines.append(ind + "end")
    return "\n".join(lines)


def outline(tree: SyntaxTree, scope: Scope) -> str:
    """`scope`'s header and its members' signatures (class outline), as source text."""
    b = tree.char_to_byte(scope.start)
    node: Node | None = tree.root.descendant_for_byte_range(b, b)
    while node is not None:
        s, e = tree.node_span(node)
        if s == scope.start and e == scope.end and node.type in tree.spec.scopes:
            return _outline_node(tree, node)
        node = node.parent
    return scope.signature


def definitions(tree: SyntaxTree, *, with_snippets: bool = True) -> list[Definition]:
    """Definitions from the language's tag query, in document order."""
    query = tree.spec.tags_query
    if query is None:
        return []
    best: dict[tuple[int, int], tuple[int, Node, Node, str]] = {}
    for pattern, caps in QueryCursor(query).matches(tree.root):
        names = caps.get("name")
        if not names:
            continue
        defs = [(k, v) for k, v in caps.items() if k.startswith("definition.")]
        if not defs:
            continue
        key, nodes = defs[0]
        node = nodes[0]
        ident = (node.start_byte, names[0].start_byte)
        if ident in best and best[ident][0] <= pattern:
            continue
        best[ident] = (pattern, node, names[0], key.split(".", 1)[1])
    out: list[Definition] = []
    for _, node, name_node, kind in sorted(best.values(), key=lambda t: (t[1].start_byte, t[2].start_byte)):
        parent = _parent_scope(tree.spec, node)
        parent_kind = tree.spec.scopes.get(parent.type) if parent is not None else None
        name = tree.node_text(name_node).strip()
        if kind in ("constant", "variable"):
            if tree.spec.name == "python":
                kind = "constant" if name.isupper() else "variable"
        if parent_kind in FUNCTION_LIKE:
            continue  # nested in a function body: local to it
        if kind == "function" and parent_kind in _TYPE_KINDS:
            kind = "method"
        container = ""
        if parent is not None and parent_kind in CLASS_LIKE:
            container = _scope_name(tree, parent)
        start, end = tree.node_span(node)
        body = _body(node) if node.type in tree.spec.scopes else None
        out.append(Definition(
            name=name, kind=kind, start=start, end=end,
            line=node.start_point.row, end_line=node.end_point.row,
            signature=_signature(tree, node, body), container=container,
            snippet=snippet_for(tree, node, kind) if with_snippets else ""))
    return out

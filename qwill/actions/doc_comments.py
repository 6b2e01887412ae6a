"""Documentation in each language's convention, placed where its tools look.

The model writes only the words; this module decides where they go and how
they are marked, so the code itself is never touched by a docstring action:

- Python: a docstring, the first statement of the body (PEP 257);
- JavaScript/TypeScript/Java/PHP/C/C++: a `/** ... */` block above the
  declaration (JSDoc, Javadoc, PHPDoc, Doxygen), above `export` and annotations;
- Go: `//` lines above, starting with the name (Go doc comments);
- Rust: `///` lines above the item and its attributes; C#: `/// <summary>`;
- Ruby and shell `#`, Lua `---`.

An existing doc comment (or docstring) is replaced rather than duplicated.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass

from tree_sitter import Node

from ..context.syntax import Scope, SyntaxTree
from .answers import AnswerError, code_blocks
from .syntax_check import scope_node

WIDTH = 88

# Parents that belong to a declaration (its doc comment goes above them).
_WRAPPERS = frozenset({
    "export_statement", "variable_declarator", "lexical_declaration", "variable_declaration",
    "template_declaration", "decorated_definition", "type_declaration", "assignment_statement",
    "assignment", "expression_statement", "public_field_definition", "field_definition",
    "local_function_statement", "local_variable_declaration", "function_declaration",
})

_BLOCK_STYLE = {"javascript", "typescript", "tsx", "java", "php", "c", "cpp"}
_LINE_PREFIX = {"go": "// ", "rust": "/// ", "c_sharp": "/// ", "ruby": "# ", "bash": "# ", "lua": "--- "}


@dataclass(frozen=True)
class DocPlacement:
    """Where the documentation goes: replace `text[start:end]` (start == end: insert)."""

    start: int
    end: int
    indent: str
    inline_body: bool = False  # Python one-liner `def f(): return 1`: the body moves down
    existing: str = ""  # the doc being replaced, if any


def supported(language: str) -> bool:
    return language == "python" or language in _BLOCK_STYLE or language in _LINE_PREFIX


def doc_noun(language: str) -> str:
    return "docstring" if language == "python" else "doc comment"


def placement(tree: SyntaxTree, scope: Scope) -> DocPlacement:
    """Where `scope`'s documentation goes in `tree.text`."""
    node = scope_node(tree, scope)
    if node is None:
        raise AnswerError(f"cannot find `{scope.name}` in the syntax tree")
    if tree.spec.name == "python":
        return _python_placement(tree, node)
    return _comment_placement(tree, node)


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _indent_at(text: str, offset: int) -> str:
    ls = _line_start(text, offset)
    line = text[ls:offset + 200]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _python_placement(tree: SyntaxTree, node: Node) -> DocPlacement:
    text = tree.text
    body = node.child_by_field_name("body")
    colon = next((c for c in node.children if c.type == ":"), None)
    if body is None or colon is None:
        raise AnswerError("this definition has no body to document")
    first = body.named_children[0] if body.named_children else None
    if first is not None and first.type == "expression_statement" and first.named_children and (
            first.named_children[0].type == "string"):
        s, e = tree.node_span(first)
        start = _line_start(text, s)
        nl = text.find("\n", e)
        end = len(text) if nl < 0 else nl + 1
        return DocPlacement(start, end, _indent_at(text, s), existing=text[start:end])
    if body.start_point.row == colon.start_point.row:
        # `def f(): return 1`: the docstring needs the body on lines of its own
        colon_end = tree.byte_to_char(colon.end_byte)
        body_start = tree.node_span(body)[0]
        header_indent = _indent_at(text, tree.node_span(node)[0])
        return DocPlacement(colon_end, body_start, header_indent + "    ", inline_body=True)
    nl = text.find("\n", tree.byte_to_char(colon.end_byte))
    start = len(text) if nl < 0 else nl + 1
    body_first = tree.node_span(body)[0]
    return DocPlacement(start, start, _indent_at(text, body_first))


def _anchor(tree: SyntaxTree, node: Node) -> Node:
    """The outermost node of the declaration: `export const f = () => ...`, `type T struct`."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in _WRAPPERS and anchor.parent.parent is not None:
        if anchor.parent.type in ("assignment", "expression_statement", "variable_declarator") and (
                anchor.parent.start_point.row != node.start_point.row):
            break
        anchor = anchor.parent
    # Rust attributes and C# attribute lists are siblings above the item.
    prev = anchor.prev_named_sibling
    while prev is not None and prev.type in ("attribute_item", "attribute_list", "decorator") and (
            prev.end_point.row >= anchor.start_point.row - 1):
        anchor = prev
        prev = anchor.prev_named_sibling
    return anchor


def _is_doc_comment(language: str, text: str) -> bool:
    t = text.lstrip()
    if language in _BLOCK_STYLE:
        return t.startswith("/**")
    if language in ("rust", "c_sharp"):
        return t.startswith("///") or t.startswith("/**")
    if language == "lua":
        return t.startswith("--")
    return t.startswith(("//", "#"))


def _comment_placement(tree: SyntaxTree, node: Node) -> DocPlacement:
    text = tree.text
    anchor = _anchor(tree, node)
    a_start = tree.node_span(anchor)[0]
    start = _line_start(text, a_start)
    indent = _indent_at(text, a_start)
    # the first attribute may sit on the line before: comments go above it
    first_doc = start
    prev = anchor.prev_named_sibling
    row = anchor.start_point.row
    while prev is not None and prev.type in tree.spec.comments and prev.end_point.row == row - 1 and (
            _is_doc_comment(tree.spec.name, tree.node_text(prev))):
        first_doc = _line_start(text, tree.node_span(prev)[0])
        row = prev.start_point.row
        prev = prev.prev_named_sibling
    return DocPlacement(first_doc, start, indent, existing=text[first_doc:start])


# -- formatting -------------------------------------------------------------------


def _wrap(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for line in lines:
        if len(line) <= width or not line.strip():
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        bullet = re.match(r"\s*(?:[-*+]|\d+[.)]|\w+(?:\s*\([^)]*\))?:)\s+", line)
        hang = lead + ("  " if bullet else "")
        out.extend(textwrap.wrap(line.strip(), width=width, initial_indent=lead,
                                 subsequent_indent=hang, break_long_words=False,
                                 break_on_hyphens=False) or [""])
    return out


def format_doc(language: str, words: str, indent: str, name: str = "") -> str:
    """`words` as documentation for `language`, each line indented, ending in a newline."""
    lines = textwrap.dedent(words.strip("\n")).rstrip().splitlines()
    if language == "go" and name:
        lines = _go_lead(lines, name)
    if language == "python":
        return _python_docstring(lines, indent)
    if language in _BLOCK_STYLE:
        width = max(40, WIDTH - len(indent) - 3)
        body = [ln.replace("*/", "*\\/") for ln in _wrap(lines, width)]
        if len(body) == 1 and len(body[0]) + len(indent) + 7 <= WIDTH:
            return f"{indent}/** {body[0]} */\n"
        inner = "".join(f"{indent} *{' ' + ln if ln.strip() else ''}\n" for ln in body)
        return f"{indent}/**\n{inner}{indent} */\n"
    prefix = _LINE_PREFIX.get(language, "# ")
    if language == "c_sharp":
        esc = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in lines]
        body = ["<summary>", *_wrap(esc, max(40, WIDTH - len(indent) - 4)), "</summary>"]
    else:
        body = _wrap(lines, max(40, WIDTH - len(indent) - len(prefix)))
    return "".join(f"{indent}{prefix.rstrip() if not ln.strip() else prefix + ln}\n" for ln in body)


def _python_docstring(lines: list[str], indent: str) -> str:
    width = max(40, WIDTH - len(indent) - 6)
    lines = [ln.replace('"""', '\\"\\"\\"') for ln in lines]
    raw = "r" if any("\\" in ln and '\\"' not in ln for ln in lines) else ""
    if lines and len(lines[0]) > width:
        # PEP 257: a summary sentence, then the rest after a blank line
        m = re.match(r"(.+?[.!?])\s+(.*)", lines[0])
        if m:
            lines = [m.group(1), m.group(2), *lines[1:]]
    if len(lines) > 1 and lines[1].strip():
        lines.insert(1, "")
    lines = _wrap(lines, width)
    if len(lines) == 1:
        return f'{indent}{raw}"""{lines[0]}"""\n'
    rest = "".join(f"{indent}{ln}\n" if ln.strip() else "\n" for ln in lines[1:])
    return f'{indent}{raw}"""{lines[0]}\n{rest}{indent}"""\n'


def _go_lead(lines: list[str], name: str) -> list[str]:
    """Go doc comments start with the name: "Average returns ..."."""
    if not lines or lines[0].startswith(name):
        return lines
    first = lines[0]
    m = re.match(r"(?i)(?:the|this)\s+(?:function|method|type|struct)\s+(?:`?\w+`?\s+)?(.*)", first)
    if m:
        first = m.group(1)
    elif re.match(rf"`?{re.escape(name)}`?\s", first):
        first = first.split(None, 1)[1] if " " in first else ""
    if first[:1].isupper() and not first[:2].isupper():
        first = first[0].lower() + first[1:]
    return [f"{name} {first}".rstrip(), *lines[1:]]


# -- reading the model's words -------------------------------------------------

_LABEL = re.compile(r"^\s*[^\n]{0,60}\b(?:here|docstring|documentation|comment)\b[^\n]{0,40}:\s*$",
                    re.IGNORECASE)


def doc_words(answer: str, language: str) -> str:
    """The documentation text in the model's answer, without quotes or comment marks.

    Asked for words only, small models sometimes answer with the function and
    its docstring, or with the docstring in quotes: both are accepted.
    """
    text = answer.strip()
    blocks = code_blocks(text)
    if blocks:
        inside = _doc_from_code("\n".join(b.code for b in blocks), language)
        outside = _strip_fenced(text)
        text = inside or outside
    else:
        quoted = _doc_from_code(text, language)
        if quoted:
            text = quoted
    lines = [ln.rstrip() for ln in text.strip().splitlines()]
    while lines and (_LABEL.match(lines[0]) or not lines[0].strip()):
        lines.pop(0)
    lines = _strip_markers(lines)
    words = textwrap.dedent("\n".join(lines)).strip()
    words = words.strip('"\'`').strip()
    if not words:
        raise AnswerError("the model's answer contains no documentation text")
    return words


def _strip_fenced(text: str) -> str:
    return re.sub(r"^[ \t]*(```|~~~).*?(^[ \t]*\1[ \t]*$|\Z)", "", text, flags=re.MULTILINE | re.DOTALL).strip()


def _doc_from_code(code: str, language: str) -> str:
    m = re.search(r'[rRuU]?("""|\'\'\')(.*?)\1', code, re.DOTALL)
    if m and language == "python":
        return inspect.cleandoc(m.group(2))
    m = re.search(r"/\*\*(.*?)\*/", code, re.DOTALL)
    if m:
        return "\n".join(_strip_markers(m.group(1).splitlines())).strip()
    comment = re.compile(r"^\s*(///|//|#|--+)\s?")
    run: list[str] = []
    for line in code.splitlines():
        if comment.match(line) and not line.lstrip().startswith("#!"):
            run.append(line)
        elif run:
            break
    if run and any(not comment.match(ln) for ln in code.splitlines() if ln.strip()):
        return "\n".join(_strip_markers(run)).strip()
    if m is None and language == "python" and '"""' in code:
        return code.split('"""', 1)[1].strip()
    return ""


def _strip_markers(lines: list[str]) -> list[str]:
    """Remove comment marks when every non-blank line carries the same kind."""
    out = []
    for ln in lines:
        s = re.sub(r"^\s*/\*\*?\s?", "", ln)
        s = re.sub(r"\s*\*/\s*$", "", s)
        out.append(s)
    body = [ln for ln in out if ln.strip()]
    for pat in (r"^\s*\*\s?", r"^\s*///\s?", r"^\s*//\s?", r"^\s*#\s?", r"^\s*---?\s?"):
        if body and all(re.match(pat, ln) for ln in body):
            out = [re.sub(pat, "", ln) for ln in out]
            break
    return out

"""Incremental parsing and scope facts over several languages."""

from __future__ import annotations

import random

import pytest

from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.languages import get_language, parser_for
from qwill.context.syntax import SyntaxStore, SyntaxTree, definitions, enclosing_scopes, outline, scope_facts

PY = '''import os

MAX_SIZE = 3


class Shape(Base):
    """A shape."""

    sides = 0

    def area(self, scale: float = 1.0) -> float:
        """Area."""
        total = 0
        # a comment here
        label = "a string here"
        return total

    def perimeter(self):
        pass


def helper(x):
    def inner(y):
        return y
    return inner(x)
'''


def fresh_sexp(lang: str, text: str) -> str:
    spec = get_language(lang)
    assert spec is not None
    return str(parser_for(spec).parse(text.encode()).root_node)


def test_tree_after_edits_equals_a_fresh_parse() -> None:
    docs = DocumentStore()
    store = SyntaxStore(docs)
    docs.open("file:///a.py", PY, 1, "python")
    rng = random.Random(7)
    words = ["x", "(", ")", ":", "\n", "    ", "def f():\n", "é", "日本", "'", "#", "return 1\n", ""]
    for version in range(2, 200):
        doc = docs.get("file:///a.py")
        assert doc is not None
        start = rng.randrange(len(doc.text) + 1)
        end = min(len(doc.text), start + rng.choice([0, 0, 1, 3, 10]))
        a, b = doc.position_at(start), doc.position_at(end)
        docs.change(doc.uri, version, [TextChange(rng.choice(words), Range(a, b))])
        tree = store.get(doc.uri)
        assert tree is not None and tree.text == doc.text
        assert str(tree.root) == fresh_sexp("python", doc.text), f"after edit {version}"


def test_several_changes_in_one_notification_and_full_replacement() -> None:
    docs = DocumentStore()
    store = SyntaxStore(docs)
    docs.open("file:///m.go", "package p\n\nfunc A() {}\n", 1, "go")
    docs.change("file:///m.go", 2, [
        TextChange("B", Range(Position(2, 5), Position(2, 6))),
        TextChange("\nfunc C(x int) int { return x }\n", Range(Position(3, 0), Position(3, 0))),
    ])
    tree = store.get("file:///m.go")
    assert tree is not None
    assert [d.name for d in definitions(tree)] == ["B", "C"]
    docs.change("file:///m.go", 3, [TextChange("package q\nconst K = 1\n")])
    assert [d.name for d in definitions(store.get("file:///m.go"))] == ["K"]  # type: ignore[arg-type]
    docs.close("file:///m.go")
    assert store.get("file:///m.go") is None


def test_unknown_language_has_no_tree_and_no_error() -> None:
    docs = DocumentStore()
    store = SyntaxStore(docs)
    doc = docs.open("file:///notes.md", "# title\n", 1, "markdown")
    assert store.get(doc.uri) is None
    facts = store.facts(doc, 3)
    assert facts.language is None and facts.scopes == () and facts.mid_line


def test_python_scopes_comment_string() -> None:
    tree = SyntaxTree(get_language("python"), PY)  # type: ignore[arg-type]
    scopes = enclosing_scopes(tree, PY.index("total = 0"))
    assert [(s.kind, s.name) for s in scopes] == [("class", "Shape"), ("method", "area")]
    assert scopes[1].signature == "def area(self, scale: float = 1.0) -> float:"
    assert PY[scopes[0].start:scopes[0].end].startswith("class Shape(Base):")
    facts = scope_facts(tree, PY, PY.index("comment here"))
    assert facts.in_comment and not facts.in_string and facts.mid_line
    facts = scope_facts(tree, PY, PY.index("string here"))
    assert facts.in_string and not facts.in_comment
    end_of_comment = PY.index("comment here") + len("comment here")
    assert scope_facts(tree, PY, end_of_comment).in_comment
    facts = scope_facts(tree, PY, PY.index("return inner"))
    assert [s.name for s in facts.scopes] == ["helper"] and facts.function is not None
    assert facts.container is None


def test_python_blank_indented_line_after_body_stays_in_the_function() -> None:
    text = "def f(a):\n    x = a\n    \n\nz = 1\n"
    tree = SyntaxTree(get_language("python"), text)  # type: ignore[arg-type]
    assert [s.name for s in enclosing_scopes(tree, text.index("    \n") + 4)] == ["f"]
    assert enclosing_scopes(tree, text.index("z = 1")) == []


def test_empty_block_and_mid_line() -> None:
    text = "def f(a):\n    \n\nx = f(1)\n"
    tree = SyntaxTree(get_language("python"), text)  # type: ignore[arg-type]
    assert scope_facts(tree, text, text.index("    \n") + 4).in_empty_block
    assert not scope_facts(tree, text, text.index("x = f")).in_empty_block
    assert scope_facts(tree, text, text.index("(1)")).mid_line
    assert not scope_facts(tree, text, text.index("(1)") + 4).mid_line
    js = "function g(a) {\n  \n}\nfunction h() {\n  return 1;\n}\n"
    tree = SyntaxTree(get_language("javascript"), js)  # type: ignore[arg-type]
    assert scope_facts(tree, js, js.index("  \n") + 2).in_empty_block
    assert not scope_facts(tree, js, js.index("return 1")).in_empty_block
    # without a tree (unknown language) the text rule still answers
    assert scope_facts(None, js, js.index("  \n") + 2).in_empty_block


CASES = {
    "typescript": ("export class Circle implements Shape {\n  area(): number {\n    return 1;\n  }\n}\n",
                   [("class", "Circle"), ("method", "area")], "area(): number"),
    "tsx": ("export function App(props: Props) {\n  return <div>{props.x}</div>;\n}\n",
            [("function", "App")], "function App(props: Props)"),
    "go": ("package p\n\nfunc (s *S) M(x int) int {\n\treturn x\n}\n",
           [("method", "M")], "func (s *S) M(x int) int"),
    "rust": ("impl Shape for Circle {\n    fn area(&self) -> f64 {\n        return 1.0;\n    }\n}\n",
             [("impl", "Shape for Circle"), ("method", "area")], "fn area(&self) -> f64"),
    "java": ("class A {\n  int m(int a) {\n    return a;\n  }\n}\n", [("class", "A"), ("method", "m")],
             "int m(int a)"),
    "c": ("int add(int a, int b) {\n  return a + b;\n}\n", [("function", "add")], "int add(int a, int b)"),
    "cpp": ("namespace n {\nint A::f(int x) {\n  return x;\n}\n}\n", [("namespace", "n"), ("function", "A::f")],
            "int A::f(int x)"),
    "c_sharp": ("namespace N {\n  class A {\n    int M() {\n      return 1;\n    }\n  }\n}\n",
                [("namespace", "N"), ("class", "A"), ("method", "M")], "int M()"),
    "ruby": ("module M\n  class A\n    def f(a)\n      return a\n    end\n  end\nend\n",
             [("module", "M"), ("class", "A"), ("method", "f")], "def f(a)"),
    "php": ("<?php\nclass A {\n  public function f($a) {\n    return $a;\n  }\n}\n",
            [("class", "A"), ("method", "f")], "public function f($a)"),
    "bash": ("deploy() {\n  return 0\n}\n", [("function", "deploy")], "deploy()"),
    "lua": ("function M.get(t, k)\n  return t[k]\nend\n", [("function", "M.get")], "function M.get(t, k)"),
}


@pytest.mark.parametrize("lang", sorted(CASES))
def test_enclosing_scopes_per_language(lang: str) -> None:
    text, expected, signature = CASES[lang]
    tree = SyntaxTree(get_language(lang), text)  # type: ignore[arg-type]
    scopes = enclosing_scopes(tree, text.index("return"))
    assert [(s.kind, s.name) for s in scopes] == expected
    assert scopes[-1].signature == signature
    assert enclosing_scopes(tree, 0) == [] or lang in ("ruby", "cpp", "c_sharp", "rust", "java", "typescript")


@pytest.mark.parametrize(("lang", "text", "expected"), [
    ("python", PY, [("constant", "MAX_SIZE", ""), ("class", "Shape", ""), ("method", "area", "Shape"),
                    ("method", "perimeter", "Shape"), ("function", "helper", "")]),
    ("typescript", "export interface I { a(): void }\nexport const K = 1;\ntype T = string;\n"
                   "export function make(r: number): number { return r; }\n",
     [("interface", "I", ""), ("method", "a", "I"), ("constant", "K", ""), ("type", "T", ""),
      ("function", "make", "")]),
    ("go", "package p\n\ntype S struct {\n\tA int\n}\n\nfunc (s *S) M() {}\n\nconst C = 1\n",
     [("type", "S", ""), ("method", "M", ""), ("constant", "C", "")]),
    ("c", "#define X 1\nstruct S { int a; };\nint f(int a) { return a; }\nint g(void);\n",
     [("constant", "X", ""), ("struct", "S", ""), ("function", "f", ""), ("function", "g", "")]),
])
def test_definitions_from_tag_queries(lang: str, text: str, expected: list[tuple[str, str, str]]) -> None:
    tree = SyntaxTree(get_language(lang), text)  # type: ignore[arg-type]
    assert [(d.kind, d.name, d.container) for d in definitions(tree)] == expected


def test_snippets_and_outline() -> None:
    tree = SyntaxTree(get_language("python"), PY)  # type: ignore[arg-type]
    defs = {d.name: d for d in definitions(tree)}
    assert defs["perimeter"].snippet == "    def perimeter(self):\n        pass"
    cls = defs["Shape"].snippet
    assert cls.startswith("class Shape(Base):") and "def area(self, scale: float = 1.0) -> float:" in cls
    assert "total = 0" not in cls  # an outline, not the body
    scope = enclosing_scopes(tree, PY.index("total = 0"))[0]
    assert outline(tree, scope) == cls
    long_body = "def big(a):\n    \"\"\"Doc line.\"\"\"\n" + "".join(f"    x{i} = {i}\n" for i in range(20))
    big = definitions(SyntaxTree(get_language("python"), long_body))[0]  # type: ignore[arg-type]
    assert big.snippet == 'def big(a):\n    """Doc line."""\n    ...'


def test_signature_stops_before_comments_that_open_the_body() -> None:
    text = "class A:\n    def f(self):\n        # explains f\n        # more\n        return 1\n"
    tree = SyntaxTree(get_language("python"), text)  # type: ignore[arg-type]
    (scope,) = enclosing_scopes(tree, text.index("return"))[1:]
    assert scope.signature == "def f(self):"
    assert "explains" not in definitions(tree)[0].snippet


def test_non_ascii_offsets_are_characters() -> None:
    text = "s = '日本語'\ndef f():\n    return 1\n"
    tree = SyntaxTree(get_language("python"), text)  # type: ignore[arg-type]
    (d,) = [d for d in definitions(tree) if d.name == "f"]
    assert text[d.start:d.end] == "def f():\n    return 1"
    (scope,) = enclosing_scopes(tree, text.index("return"))
    assert text[scope.start:scope.end] == "def f():\n    return 1"


@pytest.mark.parametrize(("lang", "text", "comment_at", "string_at"), [
    ("javascript", "function f() {\n  // note here\n  return `tmpl ${x} here`;\n}\n", "note", "tmpl"),
    ("rust", "fn f() {\n    /* block note */\n    let s = \"text here\";\n}\n", "note", "text"),
    ("go", "package p\n\nfunc f() {\n\t// note\n\ts := `raw text`\n}\n", "note", "raw"),
    ("c", "int f(void) {\n  /* note */\n  char *s = \"text\";\n}\n", "note", "text"),
])
def test_comment_and_string_facts_per_language(lang: str, text: str, comment_at: str, string_at: str) -> None:
    tree = SyntaxTree(get_language(lang), text)  # type: ignore[arg-type]
    c = scope_facts(tree, text, text.index(comment_at))
    s = scope_facts(tree, text, text.index(string_at))
    assert c.in_comment and not c.in_string
    assert s.in_string and not s.in_comment
    code = scope_facts(tree, text, text.index("f(") + 1)
    assert not code.in_comment and not code.in_string


def test_a_document_whose_language_changes_gets_a_new_tree() -> None:
    docs = DocumentStore()
    store = SyntaxStore(docs)
    docs.open("file:///x", "def f():\n    pass\n", 1, "python")
    assert store.get("file:///x").spec.name == "python"  # type: ignore[union-attr]
    docs.close("file:///x")
    docs.open("file:///x", "fn f() {}\n", 1, "rust")
    tree = store.get("file:///x")
    assert tree is not None and tree.spec.name == "rust" and [d.name for d in definitions(tree)] == ["f"]

"""Documentation in each language's convention, in the right place, never touching code."""

from __future__ import annotations

import pytest

from qwill.actions.answers import AnswerError
from qwill.actions.doc_comments import doc_words, format_doc, placement
from qwill.actions.edits import TextEdit, apply_edits
from qwill.actions.syntax_check import parse, spec_for, syntax_errors
from qwill.context.syntax import enclosing_scopes


def _document(language: str, path: str, source: str, at: str, words: str) -> str:
    spec = spec_for(language, path)
    tree = parse(source, spec)
    assert tree is not None
    scope = [s for s in enclosing_scopes(tree, source.index(at))][-1]
    place = placement(tree, scope)
    doc = format_doc(tree.spec.name, words, place.indent, scope.name)
    new = ("\n" + doc + place.indent) if place.inline_body else doc
    out = apply_edits(source, [TextEdit(place.start, place.end, new)])
    assert syntax_errors(parse(out, spec)).count == syntax_errors(tree).count  # type: ignore[arg-type]
    return out


def test_python_docstring_goes_first_in_the_body_of_a_decorated_method() -> None:
    src = "class A:\n    @staticmethod\n    def f(x):  # note\n        # why\n        return x\n"
    out = _document("python", "a.py", src, "return x", "Return `x` unchanged.")
    assert out == ('class A:\n    @staticmethod\n    def f(x):  # note\n        """Return `x` unchanged."""\n'
                   "        # why\n        return x\n")


def test_python_one_liner_body_moves_down() -> None:
    out = _document("python", "a.py", "def f(): return 1\n", "return", "One.")
    assert out == 'def f():\n    """One."""\n    return 1\n'


def test_python_existing_docstring_is_replaced_and_long_summary_split() -> None:
    src = 'def f(a):\n    """Old."""\n    return a\n'
    words = ("Compute something rather long that will not fit on one line of a docstring at all. "
             "More detail follows here.\n\nArgs:\n    a: the input.")
    out = _document("python", "a.py", src, "return a", words)
    assert "Old." not in out
    lines = out.splitlines()
    assert lines[1].startswith('    """Compute something')
    end = next(i for i, ln in enumerate(lines) if ln.endswith(" all."))
    assert lines[end + 1] == "" and lines[end + 2] == "    More detail follows here."
    assert "    Args:" in lines and "        a: the input." in lines
    assert lines[-2] == '    """' and lines[-1] == "    return a"


def test_quotes_in_words_cannot_end_the_docstring() -> None:
    out = _document("python", "a.py", "def f():\n    pass\n", "pass", 'Returns """ safely.')
    assert out.count('"""') == 2


def test_jsdoc_above_export_and_replacing_an_old_one() -> None:
    src = "/** old */\nexport const add = (a, b) => {\n  return a + b;\n};\n"
    out = _document("javascript", "a.js", src, "return", "Add two numbers.\n\n@param a first\n@returns the sum")
    assert out.startswith("/**\n * Add two numbers.\n *\n * @param a first\n * @returns the sum\n */\nexport const add")
    assert "old" not in out


def test_go_doc_comment_starts_with_the_name() -> None:
    src = "package p\n\nfunc (p Point) Len() int {\n\treturn 1\n}\n"
    out = _document("go", "p.go", src, "return", "Returns the length of the point.")
    assert "// Len returns the length of the point.\nfunc (p Point) Len() int {" in out


def test_rust_doc_goes_above_attributes() -> None:
    src = "#[inline]\npub fn add(a: i32) -> i32 {\n    a + 1\n}\n"
    out = _document("rust", "a.rs", src, "a + 1", "Add one.")
    assert out.startswith("/// Add one.\n#[inline]\npub fn add")


def test_java_javadoc_above_annotations_at_member_indent() -> None:
    src = "class A {\n  @Override\n  public int m(int x) {\n    return x;\n  }\n}\n"
    out = _document("java", "A.java", src, "return x", "Identity.")
    assert "class A {\n  /** Identity. */\n  @Override\n  public int m" in out


def test_doc_words_from_the_shapes_small_models_answer_with() -> None:
    assert doc_words('"""Compute the mean."""', "python") == "Compute the mean."
    fenced = '```python\ndef f(x):\n    """Compute the mean.\n\n    Args: x\n    """\n    return x\n```'
    assert doc_words(fenced, "python") == "Compute the mean.\n\nArgs: x"
    assert doc_words("Here is the docstring:\n\nAdds numbers.", "python") == "Adds numbers."
    assert doc_words("/**\n * Adds numbers.\n * @param a x\n */", "javascript") == "Adds numbers.\n@param a x"
    assert doc_words("/// Adds one.\n/// Safe.", "rust") == "Adds one.\nSafe."
    with pytest.raises(AnswerError):
        doc_words("```python\n```", "python")

"""The language registry: every grammar loads, ids and extensions map, unknowns are None."""

from __future__ import annotations

import pytest

from qwill.context.languages import LANGUAGES, available, get_language, language_for, parser_for

EXPECTED = {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp",
            "c_sharp", "ruby", "php", "bash", "lua"}


def test_every_official_grammar_loads_with_its_tag_query() -> None:
    assert {spec.name for spec in LANGUAGES} >= EXPECTED
    problems = {name: err for name, err in available().items() if err is not None}
    assert problems == {}


@pytest.mark.parametrize(("language_id", "path", "expected"), [
    ("python", None, "python"),
    ("typescriptreact", None, "tsx"),
    ("javascriptreact", None, "javascript"),
    ("csharp", None, "c_sharp"),
    ("shellscript", None, "bash"),
    ("", "/src/app/main.go", "go"),
    ("", "/src/lib.rs", "rust"),
    ("", "/src/Widget.TSX", "tsx"),
    ("", "/src/x.hpp", "cpp"),
    ("plaintext", "/src/x.lua", "lua"),  # an unknown id falls back to the extension
])
def test_language_ids_and_extensions_map(language_id: str, path: str | None, expected: str) -> None:
    spec = language_for(language_id, path)
    assert spec is not None and spec.name == expected


@pytest.mark.parametrize(("language_id", "path"), [
    ("markdown", "/docs/readme.md"), ("", "/x/Makefile"), ("", None), ("cobol", "/x.cbl")])
def test_unknown_languages_are_none_not_errors(language_id: str, path: str | None) -> None:
    assert language_for(language_id, path) is None


def test_parsers_parse_their_language() -> None:
    spec = get_language("rust")
    assert spec is not None
    tree = parser_for(spec).parse(b"fn main() { let x = 1; }\n")
    assert tree.root_node.type == "source_file" and not tree.root_node.has_error
    assert parser_for(spec) is parser_for(spec)  # one per thread

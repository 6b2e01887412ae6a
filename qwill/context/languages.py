"""The languages Qwill parses: official tree-sitter grammar wheels, one registry.

A `LanguageSpec` says how to load a grammar, which LSP `languageId`s and file
extensions map to it, which syntax nodes are scopes (and of what kind), which
are comments, strings and blocks, and the tag query that finds definitions for
the workspace index (captures `@name` plus `@definition.<kind>`, the convention
of tree-sitter's `tags.scm`). Files of any other language get window-only
context: `language_for` returns None, never raises.

Usage::

    spec = language_for("python")                 # by LSP languageId
    spec = language_for("", "/src/app/main.go")   # by file extension
    tree = parser_for(spec).parse(source_bytes)

Parsers are not thread-safe: `parser_for` keeps one per thread and language.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath

from tree_sitter import Language, Parser, Query

# Scope kinds: what `Scope.kind` and `Symbol.kind` can be.
CLASS_LIKE = frozenset({"class", "interface", "struct", "enum", "trait", "impl", "module", "namespace"})
FUNCTION_LIKE = frozenset({"function", "method"})


@dataclass(frozen=True, eq=False)
class LanguageSpec:
    name: str
    module: str  # the grammar wheel's import name
    entry: str  # the function in it that returns the language capsule
    language_ids: tuple[str, ...]
    extensions: tuple[str, ...]
    scopes: Mapping[str, str] = field(default_factory=dict)  # node type -> scope kind
    comments: frozenset[str] = frozenset({"comment"})
    strings: frozenset[str] = frozenset({"string"})
    blocks: frozenset[str] = frozenset()
    tags: str = ""  # definition query in the tags.scm capture convention
    line_comment: str = "#"

    @cached_property
    def language(self) -> Language:
        mod = importlib.import_module(self.module)
        return Language(getattr(mod, self.entry)())

    @cached_property
    def tags_query(self) -> Query | None:
        return Query(self.language, self.tags) if self.tags.strip() else None

    def __repr__(self) -> str:
        return f"LanguageSpec({self.name!r})"


_PY_TAGS = """
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement (assignment left: (identifier) @name) @definition.constant))
"""

_JS_COMMON_TAGS = """
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(method_definition name: (property_identifier) @name) @definition.method
(lexical_declaration (variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression)])) @definition.function
(variable_declaration (variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression)])) @definition.function
(lexical_declaration (variable_declarator name: (identifier) @name)) @definition.constant
"""

_JS_TAGS = _JS_COMMON_TAGS + """
(class_declaration name: (identifier) @name) @definition.class
"""

_TS_TAGS = _JS_COMMON_TAGS + """
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(function_signature name: (identifier) @name) @definition.function
(method_signature name: (property_identifier) @name) @definition.method
(abstract_method_signature name: (property_identifier) @name) @definition.method
(internal_module name: (identifier) @name) @definition.namespace
(module name: (identifier) @name) @definition.namespace
"""

_GO_TAGS = """
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method
(type_spec name: (type_identifier) @name) @definition.type
(method_elem name: (field_identifier) @name) @definition.method
(const_spec name: (identifier) @name) @definition.constant
(var_spec name: (identifier) @name) @definition.constant
"""

_RUST_TAGS = """
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(union_item name: (type_identifier) @name) @definition.struct
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(mod_item name: (identifier) @name) @definition.module
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(macro_definition name: (identifier) @name) @definition.function
"""

_JAVA_TAGS = """
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @definition.constant
"""

_C_TAGS = """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (pointer_declarator
  declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(declaration declarator: (pointer_declarator
  declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(type_definition declarator: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name) @definition.constant
(preproc_function_def name: (identifier) @name) @definition.function
"""

_CPP_TAGS = _C_TAGS + """
(function_definition declarator: (function_declarator
  declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(namespace_definition name: (namespace_identifier) @name) @definition.namespace
"""

_CS_TAGS = """
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(property_declaration name: (identifier) @name) @definition.constant
(delegate_declaration name: (identifier) @name) @definition.type
(namespace_declaration name: (_) @name) @definition.namespace
"""

_RUBY_TAGS = """
(method name: (_) @name) @definition.method
(singleton_method name: (_) @name) @definition.method
(class name: (_) @name) @definition.class
(module name: (_) @name) @definition.module
(assignment left: (constant) @name) @definition.constant
"""

_PHP_TAGS = """
(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.method
(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum
(const_element (name) @name) @definition.constant
"""

_BASH_TAGS = """
(function_definition name: (word) @name) @definition.function
"""

_LUA_TAGS = """
(function_declaration name: (identifier) @name) @definition.function
(function_declaration name: (dot_index_expression field: (identifier) @name)) @definition.function
(function_declaration name: (method_index_expression method: (identifier) @name)) @definition.method
(assignment_statement (variable_list name: (identifier) @name)
  (expression_list value: (function_definition))) @definition.function
"""

_JS_SCOPES = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "function_expression": "function", "arrow_function": "function",
    "class_declaration": "class", "class": "class", "method_definition": "method",
}
_TS_SCOPES = {
    **_JS_SCOPES, "abstract_class_declaration": "class", "interface_declaration": "interface",
    "enum_declaration": "enum", "internal_module": "namespace", "module": "namespace",
}
_JS_STRINGS = frozenset({"string", "template_string"})
_C_SCOPES = {"function_definition": "function", "struct_specifier": "struct",
             "union_specifier": "struct", "enum_specifier": "enum"}
_C_STRINGS = frozenset({"string_literal", "char_literal", "raw_string_literal"})

LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python", "tree_sitter_python", "language", ("python",), (".py", ".pyi", ".pyw"),
        scopes={"function_definition": "function", "class_definition": "class"},
        strings=frozenset({"string"}), blocks=frozenset({"block"}), tags=_PY_TAGS),
    LanguageSpec(
        "javascript", "tree_sitter_javascript", "language",
        ("javascript", "javascriptreact", "js", "jsx"), (".js", ".jsx", ".mjs", ".cjs"),
        scopes=_JS_SCOPES, strings=_JS_STRINGS, blocks=frozenset({"statement_block", "class_body"}),
        tags=_JS_TAGS, line_comment="//"),
    LanguageSpec(
        "typescript", "tree_sitter_typescript", "language_typescript", ("typescript", "ts"),
        (".ts", ".mts", ".cts"),
        scopes=_TS_SCOPES, strings=_JS_STRINGS,
        blocks=frozenset({"statement_block", "class_body", "interface_body", "enum_body"}),
        tags=_TS_TAGS, line_comment="//"),
    LanguageSpec(
        "tsx", "tree_sitter_typescript", "language_tsx", ("typescriptreact", "tsx"), (".tsx",),
        scopes=_TS_SCOPES, strings=_JS_STRINGS,
        blocks=frozenset({"statement_block", "class_body", "interface_body", "enum_body"}),
        tags=_TS_TAGS, line_comment="//"),
    LanguageSpec(
        "go", "tree_sitter_go", "language", ("go",), (".go",),
        scopes={"function_declaration": "function", "method_declaration": "method",
                "func_literal": "function", "type_spec": "struct"},
        strings=frozenset({"interpreted_string_literal", "raw_string_literal", "rune_literal"}),
        blocks=frozenset({"block", "field_declaration_list"}), tags=_GO_TAGS, line_comment="//"),
    LanguageSpec(
        "rust", "tree_sitter_rust", "language", ("rust",), (".rs",),
        scopes={"function_item": "function", "impl_item": "impl", "trait_item": "trait",
                "struct_item": "struct", "enum_item": "enum", "mod_item": "module",
                "closure_expression": "function"},
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal", "raw_string_literal", "char_literal"}),
        blocks=frozenset({"block", "declaration_list", "field_declaration_list"}),
        tags=_RUST_TAGS, line_comment="//"),
    LanguageSpec(
        "java", "tree_sitter_java", "language", ("java",), (".java",),
        scopes={"class_declaration": "class", "record_declaration": "class",
                "interface_declaration": "interface", "enum_declaration": "enum",
                "annotation_type_declaration": "interface", "method_declaration": "method",
                "constructor_declaration": "method", "lambda_expression": "function"},
        comments=frozenset({"line_comment", "block_comment"}),
        strings=frozenset({"string_literal", "text_block", "character_literal"}),
        blocks=frozenset({"block", "class_body", "constructor_body", "interface_body"}),
        tags=_JAVA_TAGS, line_comment="//"),
    LanguageSpec(
        "c", "tree_sitter_c", "language", ("c",), (".c", ".h"),
        scopes=_C_SCOPES, strings=_C_STRINGS,
        blocks=frozenset({"compound_statement", "field_declaration_list"}),
        tags=_C_TAGS, line_comment="//"),
    LanguageSpec(
        "cpp", "tree_sitter_cpp", "language", ("cpp", "c++", "cuda-cpp"),
        (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".cu"),
        scopes={**_C_SCOPES, "class_specifier": "class", "namespace_definition": "namespace",
                "lambda_expression": "function"},
        strings=_C_STRINGS,
        blocks=frozenset({"compound_statement", "field_declaration_list", "declaration_list"}),
        tags=_CPP_TAGS, line_comment="//"),
    LanguageSpec(
        "c_sharp", "tree_sitter_c_sharp", "language", ("csharp", "c#", "cs"), (".cs",),
        scopes={"class_declaration": "class", "record_declaration": "class",
                "struct_declaration": "struct", "interface_declaration": "interface",
                "enum_declaration": "enum", "namespace_declaration": "namespace",
                "method_declaration": "method", "constructor_declaration": "method",
                "local_function_statement": "function"},
        strings=frozenset({"string_literal", "verbatim_string_literal", "raw_string_literal",
                           "interpolated_string_expression", "character_literal"}),
        blocks=frozenset({"block", "declaration_list"}), tags=_CS_TAGS, line_comment="//"),
    LanguageSpec(
        "ruby", "tree_sitter_ruby", "language", ("ruby",), (".rb", ".rake", ".gemspec"),
        scopes={"method": "method", "singleton_method": "method", "class": "class",
                "module": "module"},
        strings=frozenset({"string", "heredoc_body", "string_array", "symbol_array"}),
        blocks=frozenset({"body_statement"}), tags=_RUBY_TAGS),
    LanguageSpec(
        "php", "tree_sitter_php", "language_php", ("php",), (".php", ".phtml"),
        scopes={"function_definition": "function", "method_declaration": "method",
                "class_declaration": "class", "interface_declaration": "interface",
                "trait_declaration": "trait", "enum_declaration": "enum",
                "namespace_definition": "namespace", "anonymous_function": "function",
                "arrow_function": "function"},
        strings=frozenset({"string", "encapsed_string", "heredoc", "nowdoc"}),
        blocks=frozenset({"compound_statement", "declaration_list"}), tags=_PHP_TAGS,
        line_comment="//"),
    LanguageSpec(
        "bash", "tree_sitter_bash", "language", ("shellscript", "sh", "bash", "zsh"),
        (".sh", ".bash", ".zsh"),
        scopes={"function_definition": "function"},
        strings=frozenset({"string", "raw_string", "heredoc_body", "ansi_c_string"}),
        blocks=frozenset({"compound_statement"}), tags=_BASH_TAGS),
    LanguageSpec(
        "lua", "tree_sitter_lua", "language", ("lua",), (".lua",),
        scopes={"function_declaration": "function", "function_definition": "function"},
        strings=frozenset({"string"}), blocks=frozenset({"block"}), tags=_LUA_TAGS,
        line_comment="--"),
)

_BY_NAME = {spec.name: spec for spec in LANGUAGES}
_BY_ID = {lid: spec for spec in LANGUAGES for lid in spec.language_ids}
_BY_EXT = {ext: spec for spec in LANGUAGES for ext in spec.extensions}


def get_language(name: str) -> LanguageSpec | None:
    """The language registered under `name` (e.g. "python", "tsx"), or None."""
    return _BY_NAME.get(name)


def language_for(language_id: str = "", path: str | None = None) -> LanguageSpec | None:
    """The language of a document from its LSP languageId, else its file extension.

    None means "not a language we parse": callers fall back to window-only context.
    """
    spec = _BY_ID.get(language_id.lower()) if language_id else None
    if spec is None and path:
        spec = _BY_EXT.get(PurePath(path).suffix.lower())
    return spec


def extensions() -> frozenset[str]:
    """Every file extension some registered language claims (for the indexer)."""
    return frozenset(_BY_EXT)


_local = threading.local()


def parser_for(spec: LanguageSpec) -> Parser:
    """This thread's parser for `spec` (tree-sitter parsers are not thread-safe)."""
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(spec.name)
    if parser is None:
        parser = parsers[spec.name] = Parser(spec.language)
    return parser


def available() -> dict[str, str | None]:
    """Language name -> None when its grammar loads, else the error (for `qwill doctor`)."""
    out: dict[str, str | None] = {}
    for spec in LANGUAGES:
        try:
            spec.language  # noqa: B018 - loads the grammar
            spec.tags_query  # noqa: B018 - compiles the query
            out[spec.name] = None
        except Exception as exc:  # a broken or missing wheel must not break the rest
            out[spec.name] = f"{type(exc).__name__}: {exc}"
    return out


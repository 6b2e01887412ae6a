"""Golden tests: raw model output -> the suggestion a user sees, per language.

Each row is (language, source with `|` at the cursor, raw model output, expected
suggestion). The output goes through the real pipeline: CompletionService on the fake
engine (stop strings, the cut while streaming), then postprocess.finish and
syntax_rules.check_parse. "" means no suggestion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from qwill.completion.postprocess import Shape, cut_to_shape, finish, remove_suffix_overlap
from qwill.completion.service import CompletionRequest, CompletionService
from qwill.completion.syntax_rules import check_parse, syntax_shape
from qwill.config import CompletionSettings
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker

EXT = {"python": "py", "javascript": "js", "typescript": "ts", "go": "go", "rust": "rs",
       "java": "java", "c": "c", "lua": "lua"}


@dataclass(frozen=True)
class Case:
    language: str
    source: str  # `|` marks the cursor
    raw: str  # what the model wrote
    expected: str  # the suggestion ("" for none)
    why: str

    def split(self) -> tuple[str, int]:
        i = self.source.index("|")
        return self.source[:i] + self.source[i + 1:], i


def cases(*rows: tuple[str, str, str, str, str]) -> list[object]:
    return [pytest.param(Case(*row), id=f"{row[0]}-{row[4]}") for row in rows]


# -- single line or a block, from the cursor's position ----------------------------------
SHAPE = cases(
    ("python", "# compute the |\ndef f():\n    pass\n", "sum of items\ndef g():", "sum of items", "comment"),
    ("python", 'msg = "hello |"\n', 'world"\nprint(msg)', "world", "string"),
    ("python", 'def f():\n    """Return the |\n    """\n', 'total\n    """', "total", "docstring"),
    ("python", "value = |\n", "compute(1)\nother()", "compute(1)", "mid-statement"),
    ("python", "def add(a, b):\n    |\n\nprint(add(1, 2))\n", "return a + b\n\nprint(add(1, 2))",
     "return a + b", "empty-line"),
    ("python", "def area(r):|\n", "\n    return 3.14 * r * r\n\nprint(area(2))", "\n    return 3.14 * r * r",
     "block-opener"),
    ("javascript", "// sum the |\nfunction f() {}\n", "values\nfunction g() {}", "values", "comment"),
    ("javascript", "const s = 'hello |';\n", "world';\nconsole.log(s);", "world", "string"),
    ("javascript", "function add(a, b) {\n  |\n}\n", "return a + b;\n}\n\nconsole.log(add(1, 2));",
     "return a + b;", "empty-block"),
    ("typescript", "/** Returns the |\n */\nfunction f() {}\n", "user's name\n */", "user's name", "doc-comment"),
    ("typescript", "function greet(name: |): string {\n  return name;\n}\n", "string): string {", "string",
     "mid-line"),
    ("typescript", "const n: number = |;\n", "parseInt(s, 10);\nconst m = 2;", "parseInt(s, 10)", "mid-statement"),
    ("typescript", "interface User {\n  |\n}\n", "name: string;\n  age: number;\n}\n\nfunction f() {}",
     "name: string;\n  age: number;", "empty-block"),
    ("go", "// Add returns |\nfunc Add() {}\n", "the sum\nfunc Sub() {}", "the sum", "comment"),
    ("go", 'func main() {\n\tfmt.Println("hello |")\n}\n', 'world")\n}', "world", "string"),
    ("go", "func main() {\n\tx := |\n}\n", "compute(1)\n\ty := 2", "compute(1)", "mid-statement"),
    ("go", "func add(a, b int) int {\n\t|\n}\n", "return a + b\n}\n\nfunc main() {", "return a + b", "empty-block"),
    ("rust", "// returns the |\nfn f() {}\n", "sum\nfn g() {}", "sum", "comment"),
    ("rust", 'fn main() {\n    println!("hi |");\n}\n', 'there");\n}', "there", "string"),
    ("rust", "fn main() {\n    let v: Vec<i32> = |;\n}\n", "vec![1, 2, 3];\n}", "vec![1, 2, 3]", "mid-statement"),
    ("rust", "fn add(a: i32, b: i32) -> i32 {\n    |\n}\n", "a + b\n}\n\nfn main() {}", "a + b", "empty-block"),
    ("java", 'class A {\n    String s = "a |";\n}\n', 'b";\n}', "b", "string"),
    ("java", "class A {\n    void f() {\n        int x = |;\n    }\n}\n", "compute(2);\n        y();", "compute(2)",
     "mid-statement"),
    ("java", "class A {\n    int add(int a, int b) {\n        |\n    }\n}\n",
     "return a + b;\n    }\n\n    int sub() {", "return a + b;", "empty-block"),
    ("c", "/* compute |\n */\nint f(void);\n", "the total\n */", "the total", "block-comment"),
    ("c", "#include <|>\n", "stdio.h>", "stdio.h", "include"),
    ("c", "int add(int a, int b) {\n    |\n}\n", "return a + b;\n}\nint main(void) {", "return a + b;",
     "empty-block"),
    ("lua", "-- compute |\nlocal x = 1\n", "the sum\nlocal y", "the sum", "comment"),
    ("lua", 'local s = "hello |"\n', 'world"\nprint(s)', "world", "string"),
    ("lua", "function add(a, b)\n  |\nend\n", "return a + b\nend\n\nprint(add(1, 2))", "return a + b",
     "empty-block"),
    ("lua", "for i = 1, 10 do|\n", "\n  print(i)\nend\nprint(2)", "\n  print(i)\nend", "block-opener"),
)

# -- the suggestion ends with the block it started in -----------------------------------
BLOCK_END = cases(
    ("python", "for x in items:\n    |\n", "total += x\nprint(total)", "total += x", "dedent"),
    ("python", "class A:\n    def f(self):\n        |\n\n    def g(self):\n        pass\n",
     "return 1\n\n    def g(self):\n        pass", "return 1", "next-method"),
    ("python", "if x > 0:\n    |\nelse:\n    y = 2\n", "y = 1\nelse:\n    y = 2", "y = 1", "else"),
    ("python", "def f():\n    x = 1\n    |\n", "y = 2\n\n\n    z = 3", "y = 2", "blank-lines"),
    ("javascript", "function f() {\n  if (x) {\n    |\n  }\n}\n", "y();\n  }\n}", "y();", "closer"),
    ("javascript", "if (x) {\n  |\n} else {\n  y();\n}\n", "x();\n} else {", "x();", "else"),
    ("typescript", "class A {\n  greet(): string {\n    |\n  }\n}\n", "return 'hi';\n  }\n}", "return 'hi';",
     "method"),
    ("go", "func main() {\n\tfor i := 0; i < 3; i++ {\n\t\t|\n\t}\n}\n", "sum += i\n\t}\n\tfmt.Println(sum)",
     "sum += i", "tabs"),
    ("rust", "fn f(x: i32) -> &'static str {\n    match x {\n        |\n    }\n}\n",
     '1 => "one",\n        _ => "other",\n    }\n}', '1 => "one",\n        _ => "other",', "match-arms"),
    ("java", "class A {\n    void f() {\n        while (true) {\n            |\n        }\n    }\n}\n",
     "step();\n        }\n    }", "step();", "nested"),
    ("c", "int f(int x) {\n    if (x > 0) {\n        |\n    }\n    return x;\n}\n", "x--;\n    }\n    return x;",
     "x--;", "closer"),
    ("lua", "if x > 0 then|\n", "\n  print(x)\nend\nprint(1)", "\n  print(x)\nend", "then-end"),
)

# -- text the suffix already has is not suggested again -----------------------------------
SUFFIX = cases(
    ("python", "x = foo(|)\n", "a)", "a", "closing-paren"),
    ("python", "print(add(1, |))\n", "2))", "2", "two-closers"),
    ("python", "total = compute(|)\n", "items, 2)\nprint(total)", "items, 2", "closer-then-next-line"),
    ("python", "def f(x):\n    |\n    return y\n", "y = x * 2\n    return y", "y = x * 2", "next-line"),
    ("python", "def f():\n    |\n    a = 1\n    b = 2\n", "z = 0\n    a = 1\n    b = 2", "z = 0", "next-lines"),
    ("python", "def f(x):|\n    return x\n", "\n    y = x\n    return x", "\n    y = x", "body-below"),
    ("javascript", "const total = items.reduce(|);\n", "(a, b) => a + b, 0);\nconsole.log(total);",
     "(a, b) => a + b, 0", "closers-and-semicolon"),
    ("javascript", "function add(a, b) {|}\n", "\n  return a + b;\n}", "\n  return a + b;\n", "empty-braces"),
    ("javascript", "items.map((x) => {|});\n", "\n  return x * 2;\n});", "\n  return x * 2;\n", "callback"),
    ("javascript", "const o = {|};\n", "\n  a: 1,\n  b: 2,\n};", "\n  a: 1,\n  b: 2,\n", "object"),
    ("go", "func f() error {\n\tif err != nil {|}\n\treturn nil\n}\n", "\n\t\treturn err\n\t}",
     "\n\t\treturn err\n\t", "empty-braces"),
    ("java", "class A {\n    public static void main(String[] args) {|}\n}\n",
     "\n        System.out.println(1);\n    }", "\n        System.out.println(1);\n    ", "empty-braces"),
    ("c", "int main(void) {\n    for (int i = 0; i < n; i++) {|}\n}\n", "\n        sum += i;\n    }",
     "\n        sum += i;\n    ", "empty-braces-before-closer"),
    ("lua", "if x > 0 then|\nend\n", "\n  print(x)\nend", "\n  print(x)", "end-below"),
    ("lua", "local t = {|}\n", "\n  a = 1,\n}", "\n  a = 1,\n", "table"),
)

# -- a suggestion that makes the parse worse is cut back or dropped ----------------------
PARSE = cases(
    ("python", "def f(x):\n    |\n", "return (x +", "", "dropped"),
    ("python", "def f(x):\n    |\n", "y = x * 2\n    return (y +", "y = x * 2", "cut-back"),
    ("python", "def f():\n    return |\n", "1 +", "", "dangling-operator"),
    ("javascript", "foo(|);\n", "a, b));", "a, b", "extra-closer"),
    ("javascript", "const x = |\n", "compute(1))", "compute(1)", "extra-paren"),
    ("typescript", "function f(): number {\n  |\n}\n", "const a = 1;\n  const b = ;", "const a = 1;", "cut-back"),
    ("go", "func main() {\n\t|\n}\n", "x := )", "", "dropped"),
    ("rust", "fn main() {\n    |\n}\n", "let x = ;", "", "dropped"),
    ("java", "class A {\n    void f() {\n        |\n    }\n}\n", "int y = 1;\n        int z = (;", "int y = 1;",
     "cut-back"),
    ("c", "int main(void) {\n    |\n}\n", "int a = 1;\n    int b = 2 +;", "int a = 1;", "cut-back"),
    ("lua", "local function f()\n  |\nend\n", "return 1 +", "", "dropped"),
)


@pytest.fixture(scope="module")
def worker() -> Iterator[EngineWorker]:
    w = EngineWorker()
    yield w
    w.shutdown()


async def suggest(worker: EngineWorker, case: Case) -> str:
    text, offset = case.split()
    engine = FakeEngine([case.raw])
    worker.load(lambda: engine).result(timeout=5)
    service = CompletionService(worker, CompletionSettings())
    service.speculate = False
    path = f"src/sample.{EXT[case.language]}"
    s = await asyncio.wait_for(service.complete(CompletionRequest(
        f"file:///{path}", text, offset, path, case.language)), 5)
    assert len(engine.history) == 1
    return s.text if s is not None else ""


@pytest.mark.parametrize("case", SHAPE + BLOCK_END + SUFFIX + PARSE)
async def test_golden(worker: EngineWorker, case: Case) -> None:
    assert await suggest(worker, case) == case.expected


def test_every_language_has_each_kind_of_case() -> None:
    for table in (SHAPE, BLOCK_END, SUFFIX, PARSE):
        langs = {p.values[0].language for p in table}  # type: ignore[attr-defined]
        assert len(langs) >= 5
    all_langs = {p.values[0].language for p in SHAPE + BLOCK_END + SUFFIX + PARSE}  # type: ignore[attr-defined]
    assert all_langs == set(EXT)


# -- the shape itself, where the table above does not show it -----------------------------

@pytest.mark.parametrize(
    ("language", "source", "multiline"),
    [
        ("python", "x = 1|\n", False),  # completing the statement being typed
        ("python", "x = foo(a, |b)\n", False),  # code after the cursor
        ("python", "def f():\n    |\n", True),
        ("python", "# a comment |\n", False),
        ("javascript", "function f() {|}\n", True),  # empty block
        ("javascript", "const a = `x ${|}`;\n", False),  # inside a template string
        ("go", "var s = `raw |`\n", False),
        ("rust", "/* block |*/\n", False),
        ("java", "class A {\n    |\n}\n", True),
        ("c", "struct P {\n    |\n};\n", True),
        ("lua", "--[[ long |\n]]\n", False),
        ("lua", "local function f()\n  |\nend\n", True),
    ],
)
def test_shape_at_the_cursor(language: str, source: str, multiline: bool) -> None:
    i = source.index("|")
    text = source[:i] + source[i + 1:]
    assert syntax_shape(text, i, language).multiline is multiline
    assert syntax_shape(text, i, language, allow_multiline=False).multiline is False


def test_unknown_languages_fall_back_to_indentation_rules() -> None:
    text = "foo:\n  \nbar\n"
    at = text.index("  \n") + 2
    assert syntax_shape(text, at, "yaml").multiline
    assert check_parse(text, at, "anything (", "yaml").text == "anything ("


def test_cut_to_shape_reports_the_cut_so_streaming_can_stop() -> None:
    block = Shape(True, 4, None)
    assert cut_to_shape("a = 1\n    b = 2", block) == ("a = 1\n    b = 2", False)
    assert cut_to_shape("a = 1\nprint(a)", block) == ("a = 1", True)
    assert cut_to_shape("one\ntwo", Shape(False, 0, None)) == ("one", True)


def test_finish_keeps_single_line_spaces_and_drops_blank_output() -> None:
    single = Shape(False, 0, None)
    assert finish("a = 1  ", single, "") == "a = 1  "
    assert finish("\n\n", Shape(True, 0, None), "") == ""
    assert remove_suffix_overlap("x)", "") == "x)"

"""The calls a task names, and the examples of the docs it names, run before the first answer.

"parse_duration('45m') raises an error" says exactly how to see the bug, and a small model
that is only told so often answers that the code already works (measured: it wrote the file
back unchanged, then said the README "remains unchanged", until the run ended). When the task
text contains a call of a function the workspace defines at the top level of a module, with
literal arguments only (numbers, strings, lists, dicts, ...), Qwill runs it once in the
project, as a developer would in a REPL, and the first message says what it returned or
raised, and where.

The program that runs is Qwill's: the module and function are looked up in the workspace, and
the call is rebuilt from its parsed literal arguments (`ast.unparse`), so nothing but a call of
that function with those values can run. It comes from the user's own task, never from model
output, and runs like the project's tests (in the sandbox when there is one).

The same goes for a doc file the task names ("fix the example in README.md, which shows a wrong
result") that holds Python examples (`>>> parse_duration("1h30m")` and the output it shows):
they run as doctest runs them (Markdown fences set aside), and each one whose output differs
is one line, `README.md:5: parse_duration("1h30m") shows 3630, but gives 5400`.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .alias import DEFINITION_NODES
from .module_move import module_name

MAX_CALLS = 3
_CALL = re.compile(r"(?<![\w.])[A-Za-z_]\w*\(")  # where a call may start


@dataclass(frozen=True)
class TaskCall:
    module: str  # the dotted module that defines the function
    name: str
    source: str  # the call, rebuilt from its parsed literal arguments


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _call_at(text: str, start: int) -> ast.Call | None:
    """The call expression that starts at `start` (its closing parenthesis found by parsing
    ever longer slices, at most 300 characters), or None."""
    end = start
    for _ in range(40):
        end = text.find(")", end + 1)
        if end < 0 or end - start > 300:
            return None
        try:
            node = ast.parse(text[start:end + 1], mode="eval").body
        except SyntaxError:
            continue
        return node if isinstance(node, ast.Call) else None
    return None


def task_calls(task: str, defined: Callable[[str], str | None]) -> list[TaskCall]:
    """The calls in `task` of a function `defined` maps to its module (None: not defined in
    the workspace), with literal arguments only; at most MAX_CALLS, each once."""
    out: list[TaskCall] = []
    for m in _CALL.finditer(task):
        node = _call_at(task, m.start())
        if node is None or not isinstance(node.func, ast.Name):
            continue
        if not all(_literal(a) for a in node.args) or not all(k.arg and _literal(k.value) for k in node.keywords):
            continue
        module = defined(node.func.id)
        source = ast.unparse(node)
        if module is None or any(c.source == source for c in out):
            continue
        out.append(TaskCall(module, node.func.id, source))
        if len(out) >= MAX_CALLS:
            break
    return out


def definitions(files: Iterable[tuple[str, str]], names: set[str]) -> dict[str, str]:
    """{name: module} for the `names` that one non-test Python file of `files` defines at its
    top level (a name defined in several modules is left out: which one the task means is
    not known)."""
    found: dict[str, list[str]] = {}
    for path, text in files:
        module = module_name(path)
        if module is None or not path.endswith(".py") or re.search(r"(^|/)(tests?/|test_)", path):
            continue
        try:
            body = ast.parse(text).body
        except (SyntaxError, ValueError):
            continue
        for n in body:
            if isinstance(n, DEFINITION_NODES) and n.name in names:
                found.setdefault(n.name, []).append(module)
    return {name: mods[0] for name, mods in found.items() if len(mods) == 1}


def called_names(task: str) -> set[str]:
    return {m.group(0)[:-1] for m in _CALL.finditer(task)}


_SCRIPT = '''import importlib, os, sys, traceback
sys.dont_write_bytecode = True
sys.path.insert(0, ".")
for module, name, source in {calls!r}:
    try:
        function = getattr(importlib.import_module(module), name)
        print(f"{{source}} returned {{eval(source, {{name: function}})!r:.300}}")
    except BaseException as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith(("<", sys.prefix, sys.base_prefix))]
        where = f" (at {{os.path.relpath(frames[-1].filename)}}:{{frames[-1].lineno}}: {{frames[-1].line}})" if frames else ""
        print(f"{{source}} raised {{type(exc).__name__}}: {{str(exc)[:300]}}{{where}}")
'''


def command(calls: list[TaskCall], python: str = "python3") -> str:
    """The shell command that runs `calls` from the workspace root and prints one line each."""
    script = _SCRIPT.format(calls=[(c.module, c.name, c.source) for c in calls])
    return f"{python} -c {shlex.quote(script)}"


_DOC_SCRIPT = '''import doctest, re, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ".")


found = []  # (doctest swaps sys.stdout while an example runs: printed after the run)


class Runner(doctest.DocTestRunner):
    def report_failure(self, out, test, example, got):
        found.append(f"{{test.name}}:{{example.lineno + 1}}: {{example.source.strip()[:200]}} shows "
                     f"{{example.want.strip()[:200] or '(nothing)'}}, but gives {{got.strip()[:200] or '(nothing)'}}")

    def report_unexpected_exception(self, out, test, example, exc_info):
        found.append(f"{{test.name}}:{{example.lineno + 1}}: {{example.source.strip()[:200]}} raised "
                     f"{{exc_info[0].__name__}}: {{str(exc_info[1])[:200]}}")


for path in {paths!r}:
    text = re.sub(r"(?m)^[ \\t]*(```|~~~).*$", "", open(path, encoding="utf-8").read())
    test = doctest.DocTestParser().get_doctest(text, {{}}, path, path, 0)
    Runner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).run(test, out=lambda s: None)
print("\\n".join(found))
'''


def doc_examples_command(paths: list[str], python: str = "python3") -> str:
    """The shell command that runs the `>>>` examples of the doc files `paths` from the
    workspace root and prints one line for each whose output differs."""
    return f"{python} -c {shlex.quote(_DOC_SCRIPT.format(paths=paths))}"


def has_examples(text: str) -> bool:
    return re.search(r"(?m)^[ \t]*>>> \S", text) is not None

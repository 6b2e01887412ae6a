"""Is a `finish` believable? A check of the run's changes against the task, before it ends.

Passing tests are weak evidence when they do not touch what changed: a measured run
changed only the README for a task about a config file and its code, the discovered
tests passed (they never read either), and the run ended as done. Before the loop
accepts `finish`, it asks here; a concern becomes one review turn for the model (the
task, what changed, what looks missing), and the next `finish` is accepted. Plain
functions over plain data: the task text, the run's change sets, the workspace's files.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePosixPath
from typing import NamedTuple

from .changes import ChangeKind, ChangeSet
from .verify import CheckResult

_DOC_SUFFIXES = {".md", ".rst", ".txt", ".adoc"}
_DOC_NAMES = ("readme", "changelog", "changes", "license", "authors", "contributing", "history")
_TEST_FILE = re.compile(r"(^|/)(tests?|__tests__)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[jt]sx?$")
_TASK_CHARS = 1200
# a file the review shows for the next action: at most this many lines of it
_SHOWN_LINES = 60
# names a task introduces: command-line flags, calls, snake_case, CamelCase and CONSTANT_CASE names
_TASK_NAMES = re.compile(
    r"(?<![\w-])(--[a-z][\w-]*)"
    r"|\b([A-Za-z_]\w*)\("
    r"|\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b"
    r"|\b([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)\b"
    r"|\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
# the smallest run of lines that, repeated right after itself, is a copy an edit left behind
_MIN_REPEAT, _MAX_REPEAT = 3, 200
# words of a task that asks for a change to the files; a task without one (a question, "look
# at geo.py", "say done") may rightly end with nothing changed
_CHANGE_WORDS = re.compile(
    r"\b(add|adds|adding|change|changes|fix|fixes|rename|renames|implement|make|update|updates|remove|"
    r"delete|create|write|rewrite|refactor|move|extract|replace|deprecate|validate|release|bump|"
    r"edit|modify|convert|introduce|insert|append|export|configure|upgrade|migrate|correct|split)\b",
    re.I)


def asks_for_change(task: str) -> bool:
    """Whether the task asks for files to change (by its verbs), as opposed to a question."""
    return _CHANGE_WORDS.search(task) is not None


def is_doc(path: str) -> bool:
    p = PurePosixPath(path)
    return p.suffix.lower() in _DOC_SUFFIXES or p.name.lower().startswith(_DOC_NAMES)


def is_test(path: str) -> bool:
    return _TEST_FILE.search(path) is not None


def named_files(task: str, files: Sequence[str]) -> list[str]:
    """The workspace files the task names: by path, or by a file name (with its
    extension) that only one file has."""
    by_name: dict[str, list[str]] = {}
    for rel in files:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    out = []
    for rel in files:
        name = PurePosixPath(rel).name
        if _mentioned(rel, task) or ("." in name.strip(".") and len(by_name[name]) == 1 and _mentioned(name, task)):
            out.append(rel)
    return out


def _mentioned(text: str, task: str) -> bool:
    return re.search(rf"(?<![\w/.-]){re.escape(text)}(?![\w/-])", task) is not None


def task_names(task: str) -> list[str]:
    """The code names a task spells out (`--json`, `slugify(`, `mark_done`, `LogLevel`,
    `APP_PORT`), in order, once each; file names are not among them."""
    out: list[str] = []
    for m in _TASK_NAMES.finditer(task):
        name = next(g for g in m.groups() if g)
        end = m.end(m.lastindex or 0)
        if end < len(task) and task[end] == "." and re.match(r"\.[A-Za-z]{1,4}\b", task[end:]):
            continue  # `settings.ini`, `store.py`: a file, not a name
        if name not in out:
            out.append(name)
    return out


def _run_texts(changes: Sequence[ChangeSet]) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Each changed file's text before the run (its first change's old text) and now (its last
    change's new text; None once deleted), by the path the file ends at."""
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    for cs in changes:
        for c in cs.changes:
            before.setdefault(c.target, c.old_text)
            after[c.target] = None if c.kind is ChangeKind.DELETE else c.new_text
    return before, after


def missing_names(task: str, changes: Sequence[ChangeSet], files: Sequence[str],
                  read: Callable[[str], str | None]) -> list[str]:
    """Names the task introduces that no file had before the run and none has now."""
    before_by, after_by = _run_texts(changes)
    keep = [t for t in (read(p) for p in files if p not in before_by) if t]
    before = [t for t in before_by.values() if t] + keep
    after = [t for t in after_by.values() if t] + keep

    def anywhere(name: str, texts: list[str]) -> bool:
        rx = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        return any(rx.search(t) for t in texts)

    return [n for n in task_names(task) if not anywhere(n, before) and not anywhere(n, after)]


def repeated_runs(text: str, before: str | None) -> list[tuple[int, int]]:
    """Runs of lines (first, last; 1-based) that come twice in a row in `text` and did not
    in `before`: what an edit leaves when its new text keeps the code it replaces."""
    def runs(t: str) -> list[tuple[int, int, tuple[str, ...]]]:
        lines = t.splitlines()
        at: dict[str, list[int]] = {}
        for n, line in enumerate(lines):
            if line.strip():
                at.setdefault(line, []).append(n)
        found: list[tuple[int, int, tuple[str, ...]]] = []
        i = 0
        while i < len(lines):
            hit = 0
            for j in at.get(lines[i], ()):  # where the copy would start: the same line again
                k = j - i
                if k < _MIN_REPEAT or k > _MAX_REPEAT:
                    continue
                block = lines[i:j]
                if lines[j:j + k] == block and sum(1 for x in block if x.strip()) >= _MIN_REPEAT:
                    hit = k
                    break
            if hit:
                found.append((i + 1 + hit, i + 2 * hit, tuple(lines[i:i + hit])))
                i += 2 * hit
            else:
                i += 1
        return found

    old = {blk for _, _, blk in runs(before or "")}
    return [(a, b) for a, b, blk in runs(text) if blk not in old]


def _python_problem(path: str, text: str) -> str | None:
    if not path.endswith(".py"):
        return None
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{path} does not parse: {exc.msg} (line {exc.lineno})"
    except ValueError:
        return None
    return None


def _shown(path: str, text: str | None, whole: bool = False) -> str:
    if text is None:
        return f"Next: read {path} and make the change the task asks for there."
    lines = text.splitlines()
    if whole:  # as the model writes it back: the path, then the text in a fence (no line numbers to copy)
        return (f"Next: write the whole new text of {path} as the task asks, after its path in a fenced block. "
                f"It is now:\n{path}\n```\n{text.rstrip()}\n```")
    body = "\n".join(f"{i:4}| {line}" for i, line in enumerate(lines[:_SHOWN_LINES], 1))
    more = f"\n     ... ({len(lines) - _SHOWN_LINES} more lines)" if len(lines) > _SHOWN_LINES else ""
    return (f"Next: edit {path} as the task asks (edit_file, or write_file with its whole new text). "
            f"It is now:\n{body}{more}")


def next_action(task: str, files: Sequence[str], read_paths: set[str], changed: set[str], *,
                whole: bool = False) -> str:
    """The next thing to do for a task, from the files it names: read the first one not read
    yet, else edit the first one not changed yet. `whole`: the whole-file edit format (the
    model has every file's text and writes files whole; it has no tools to call)."""
    named = named_files(task, files)
    if whole:
        for path in named:
            if path not in changed:
                return f"write the whole new text of {path} as the task asks, after its path in a fenced block."
        return ("write the files that still need a change, each whole, or answer with a short summary and no "
                "code block if the task is done.")
    for path in named:
        if path not in read_paths and path not in changed:
            return f"read_file {path}, then change it as the task asks."
    for path in named:
        if path not in changed:
            return f"edit {path} as the task asks."
    return "make the change the task asks for with edit_file or write_file, or call finish if it is done."


_ASKS_FOR_TESTS = re.compile(r"\b(add|write|update|extend|adjust|cover|create)\w*\b[^.]{0,30}\btests?\b", re.I)
_SPEAKS_OF_TESTS = re.compile(r"\b(tests?|testing|pytest|unittest|spec)\b", re.I)


def _module(path: str) -> str:
    """The dotted module a Python file is imported as from the workspace root."""
    p = PurePosixPath(path)
    parts = p.parent.parts if p.stem == "__init__" else (*p.parent.parts, p.stem)
    return ".".join(parts)


def _definitions(text: str) -> list[str] | None:
    """Each function and class of `text`, dumped (None: it does not parse)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return sorted(ast.dump(n) for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


def changes_behaviour(old: str | None, new: str) -> bool:
    """The change from `old` (None: a new file) to `new` adds or changes a function or class:
    code a test can call. A version string, a constant or an import changed alone is not
    (a release, a moved setting): asking a small model for a test of it got a test of
    functions that do not exist."""
    after = _definitions(new)
    if after is None:
        return True
    before = _definitions(old) if old is not None else []
    return before is None or before != after


class AskedTest(NamedTuple):
    """A review's ask for a new test of the change: what it says, and the file to write."""

    concern: str
    action: str
    path: str


def new_test_request(task: str, changes: Sequence[ChangeSet], files: Sequence[str], *,
                     whole: bool = False) -> AskedTest | None:
    """The ask for a new test of the run's change (AskedTest), or None: only when
    the run changed Python code, no test file, and the task does not speak of tests (a task
    that does, "fix it without changing the tests", "add tests to ...", says what to do with
    them). The test goes in a new file under tests/, named after the changed module."""
    if _SPEAKS_OF_TESTS.search(task):
        return None
    first_old, final = _run_texts(changes)
    if any(is_test(p) for p in final):
        return None
    code = [p for p, text in final.items()
            if text is not None and p.endswith(".py") and not is_test(p) and not is_doc(p)
            and changes_behaviour(first_old.get(p), text)]
    if not code:
        return None
    taken = set(files) | set(final)
    stem = _module(code[0]).rsplit(".", 1)[-1] or "change"
    names = [re.sub(r"\W+", "_", n.lstrip("-")).strip("_").lower() for n in task_names(task)]
    path = next((c for c in (f"tests/test_{stem}.py", *(f"tests/test_{stem}_{n}.py" for n in names if n),
                             f"tests/test_{stem}_change.py") if c not in taken), None)
    if path is None:
        return None
    modules = ", ".join(f"`{_module(p)}`" for p in code[:3])
    concern = ("No test checks this change yet: passing tests that were written before it cannot show that it "
               "does what the task asks.")
    how = (f"import what you changed ({modules}), call it the way the task describes (with the task's own "
           f"examples where it gives them) and assert what the task says it returns or does. The tests then "
           f"run it; if it fails, fix the code, or the test if the test is what is wrong.")
    if whole:
        return AskedTest(concern, f"Next: write a new test file, {path}, whole, after its path in a fenced "
                                    f"block: {how}", path)
    return AskedTest(concern, f"Next: create_file {path} with a test: {how}", path)


def untouched_named(task: str, named: Sequence[str], changed: Collection[str],
                    checks: CheckResult | None) -> list[str]:
    """The files the task names (`named`) that the run did not change and should have. A test
    file the task names ("the test in tests/test_x.py fails") is the evidence, not the thing
    to change, once the tests pass, unless the task asks for tests to be written."""
    passed = checks is not None and checks.ran and checks.passed and not checks.no_tests
    return [p for p in named if p not in changed
            and not (is_test(p) and passed and not _ASKS_FOR_TESTS.search(task))]


def finish_review(task: str, changes: Sequence[ChangeSet], files: Sequence[str],
                  checks: CheckResult | None, read: Callable[[str], str | None],
                  *, again: bool = False, whole: bool = False, test: AskedTest | None = None) -> str | None:
    """The review turn to show the model before its `finish` is accepted, or None when the
    run's changes fit the task as far as can be seen: it changed something (when the task
    asks for a change), every file the task names, not only documentation; the names the task
    introduces exist; changed Python parses and has no block repeated by an edit; and tests
    that passed touch the changed code. It ends with the next action, with the file's text.
    `again`: a second review, only for what an edit can fix (not the tests' reach); `whole`: in
    the whole-file edit format's words; `test`: the ask for a new test of the change
    (new_test_request), made at a first review only."""
    changed = list(dict.fromkeys(p for cs in changes for p in cs.paths))
    named = named_files(task, files)
    concerns: list[str] = []
    action = ""
    request = test if not again and changed else None
    if not changed:
        if asks_for_change(task):
            concerns.append("No file was changed in this run.")
            first = next((p for p in named if not is_doc(p)), named[0] if named else None)
            if first is not None:
                action = _shown(first, read(first), whole)
    else:
        untouched = untouched_named(task, named, changed, checks)
        if all(is_doc(p) for p in changed) and any(not is_doc(p) for p in named):
            concerns.append(f"Only documentation changed ({', '.join(changed)}).")
        if untouched:
            concerns.append(f"The task names files this run did not change: {', '.join(untouched)}.")
            action = _shown(untouched[0], read(untouched[0]), whole)
        first_old, final = _run_texts(changes)
        for path, text in final.items():
            if text is None:
                continue  # deleted in this run
            problem = _python_problem(path, text)
            if problem:
                concerns.append(problem + ".")
                action = action or _shown(path, text, whole)
            for a, b in repeated_runs(text, first_old.get(path))[:1]:
                n = b - a + 1
                concerns.append(f"{path}: lines {a}-{b} repeat the {n} lines right before them (an edit kept "
                                "the code it replaced): remove the copy.")
                action = action or _shown(path, text, whole)
        missing = missing_names(task, changes, files, read)
        if missing:
            listed = ", ".join(f"`{n}`" for n in missing)
            concerns.append(f"The task names {listed}, which no file contains yet.")
        if request is not None:
            concerns.append(request.concern)
            action = action or request.action
        code = [p for p in changed if not is_doc(p) and not is_test(p) and p in files]
        if (code and not again and request is None and checks is not None and checks.ran and checks.passed
                and not checks.no_tests):
            tests = [p for p in files if is_test(p) and not is_doc(p)]
            if not any(_touches(read(t) or "", code) for t in tests):
                concerns.append(f"The tests that passed (`{checks.command}`) do not mention the changed code "
                                f"({', '.join(code)}), so they do not show that the change works.")
    if not concerns:
        return None
    summary = "; ".join(cs.summary() for cs in changes if cs) or "nothing"
    shown = task if len(task) <= _TASK_CHARS else task[:_TASK_CHARS] + " [...]"
    return ("Not finished yet: check your work against the task first.\n"
            f"The task: {shown}\n"
            f"Changed in this run: {summary}.\n" +
            "".join(f"- {c}\n" for c in concerns) +
            (f"{action}\n" if action else "") +
            ("Write the files that still need changes, and the test, now, each whole, after its path in a "
             "fenced block." if whole and request is not None else
             "Write the files that still need changes now, each whole, after its path in a fenced block. If "
             "everything the task asks for is already done, answer again with your summary and no code block."
             if whole else
             "Make the missing changes and write the test now with a tool call; do not call finish before "
             "that." if request is not None else
             "Make the missing changes now with a tool call; do not call finish until they are made. "
             "If everything the task asks for is already done, call finish again with your summary."))


def _touches(test_text: str, code: Sequence[str]) -> bool:
    """Whether a test file mentions one of the changed modules (by module name or path)."""
    for path in code:
        p = PurePosixPath(path)
        stem = p.parent.name if p.stem in ("__init__", "index", "mod", "lib") else p.stem
        if any(t and re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", test_text) for t in (stem, _module(path), path)):
            return True
    return False

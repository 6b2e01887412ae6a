"""Is a `finish` believable? A check of the run's changes against the task, before it ends.

Passing tests are weak evidence when they do not touch what changed: a measured run
changed only the README for a task about a config file and its code, the discovered
tests passed (they never read either), and the run ended as done. Before the loop
accepts `finish`, it asks here; a concern becomes one review turn for the model (the
task, what changed, what looks missing), and the next `finish` is accepted. Plain
functions over plain data: the task text, the run's change sets, the workspace's files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from .changes import ChangeSet
from .verify import CheckResult

_DOC_SUFFIXES = {".md", ".rst", ".txt", ".adoc"}
_DOC_NAMES = ("readme", "changelog", "changes", "license", "authors", "contributing", "history")
_TEST_FILE = re.compile(r"(^|/)(tests?|__tests__)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[jt]sx?$")
_TASK_CHARS = 1200
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


def finish_review(task: str, changes: Sequence[ChangeSet], files: Sequence[str],
                  checks: CheckResult | None, read: Callable[[str], str | None]) -> str | None:
    """The review turn to show the model before its `finish` is accepted, or None when the
    run's changes fit the task as far as can be seen: it changed something (when the task
    asks for a change), every file the
    task names, not only documentation, and tests that passed touch the changed code."""
    changed = list(dict.fromkeys(p for cs in changes for p in cs.paths))
    named = named_files(task, files)
    concerns: list[str] = []
    if not changed:
        if asks_for_change(task):
            concerns.append("No file was changed in this run.")
    else:
        untouched = [p for p in named if p not in changed]
        if all(is_doc(p) for p in changed) and any(not is_doc(p) for p in named):
            concerns.append(f"Only documentation changed ({', '.join(changed)}).")
        if untouched:
            concerns.append(f"The task names files this run did not change: {', '.join(untouched)}.")
        code = [p for p in changed if not is_doc(p) and not is_test(p) and p in files]
        if code and checks is not None and checks.ran and checks.passed and not checks.no_tests:
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
            "If the task needs more changes, make them now (read the files first). "
            "If everything it asks for is done, call finish again with your summary.")


def _touches(test_text: str, code: Sequence[str]) -> bool:
    """Whether a test file mentions one of the changed modules (by module name or path)."""
    for path in code:
        p = PurePosixPath(path)
        stem = p.parent.name if p.stem in ("__init__", "index", "mod", "lib") else p.stem
        dotted = ".".join((*p.parent.parts, p.stem)) if p.stem != "__init__" else ".".join(p.parent.parts)
        if any(t and re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", test_text) for t in (stem, dotted, path)):
            return True
    return False

"""The calls a task names, run before the first answer: which calls qualify, and what a real
run of them in a project says."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.reproduce import called_names, definitions, task_calls
from qwill.agent.tools import ToolContext, run_doc_examples, run_task_calls
from qwill.agent.workspace import Staging, Workspace
from qwill.config import AgentSettings
from qwill.context.document import DocumentStore

from .test_agent_loop import Harness, hermes

DEFINED = {"parse_duration": "timefmt.duration", "mean": "stats"}


@pytest.mark.parametrize(("task", "calls"), [
    ("parse_duration('45m') raises an error; parse_duration(\"1h30m\") is wrong",
     ["parse_duration('45m')", "parse_duration('1h30m')"]),
    ("`mean([1, 2, 3, 4])` returns 2.0, not 2.5", ["mean([1, 2, 3, 4])"]),
    ("mean(values=[1, -2.5], ) is off", ["mean(values=[1, -2.5])"]),
    ("mean(x) fails for an empty list", []),  # not a literal: nothing known to run
    ("mean(open('/etc/passwd').read())", []),  # only literals, never an expression
    ("mean(__import__('os').system('id'))", []),
    ("unknown(1) breaks, and stats.mean(1) too", []),  # not defined / not a bare name
    ("mean(1) mean(1) mean(2) mean(3) mean(4)", ["mean(1)", "mean(2)", "mean(3)"]),  # each once, at most 3
    ("mean([1, 2) is unbalanced", []),
])
def test_only_calls_of_defined_functions_with_literal_arguments(task: str, calls: list[str]) -> None:
    assert [c.source for c in task_calls(task, DEFINED.get)] == calls


def test_definitions_are_top_level_non_test_and_unambiguous() -> None:
    files = [("timefmt/duration.py", "def parse_duration(t):\n    pass\n\n\nclass Helper:\n    def mean(self):\n        pass\n"),
             ("stats.py", "def mean(v):\n    pass\n"), ("tests/test_stats.py", "def mean(v):\n    pass\n"),
             ("a/x.py", "def twice(v):\n    pass\n"), ("b/x.py", "def twice(v):\n    pass\n"),
             ("bad.py", "def (:\n")]
    assert definitions(files, {"parse_duration", "mean", "twice", "Helper"}) == {
        "parse_duration": "timefmt.duration", "mean": "stats", "Helper": "timefmt.duration"}
    assert called_names("see parse_duration('x') and f(1)") == {"parse_duration", "f"}


def _project(root: Path) -> None:
    (root / "timefmt").mkdir(parents=True)
    (root / "timefmt" / "__init__.py").write_text("")
    (root / "timefmt" / "duration.py").write_text(
        "import re\n\n\ndef parse_duration(text):\n    m = re.fullmatch(r'(\\d+)h(\\d+)m', text)\n"
        "    if m is None:\n        raise ValueError(f'not a duration: {text!r}')\n"
        "    return int(m[1]) * 3600 + int(m[2]) * 60\n")
    (root / "README.md").write_text(
        '# timefmt\n\n```python\n>>> from timefmt.duration import parse_duration\n>>> parse_duration("1h30m")\n3630\n'
        '>>> parse_duration("2h0m")\n7200\n>>> parse_duration("2h")\n7200\n```\n\nThe result is in seconds.\n')


async def test_a_real_run_says_what_each_call_returned_or_raised(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _project(root)
    ws = Workspace(root, DocumentStore())
    out = await run_task_calls(ToolContext(ws, Staging(ws)), "parse_duration('45m') raises; parse_duration('1h30m') too?")
    assert out.splitlines() == [
        "parse_duration('45m') raised ValueError: not a duration: '45m' "
        "(at timefmt/duration.py:7: raise ValueError(f'not a duration: {text!r}'))",
        "parse_duration('1h30m') returned 5400"]
    assert await run_task_calls(ToolContext(ws, Staging(ws)), "make parse_duration faster") == ""
    assert not list(root.rglob("__pycache__"))  # it leaves no bytecode behind in the project


async def test_the_first_message_shows_them_when_the_task_speaks_of_a_failure(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _project(root)
    for task, shown in (("parse_duration('45m') raises an error: fix it", True),
                        ("parse_duration('45m') should return 2700", False),  # checksFirst auto: no failure named
                        ):
        h = Harness(root, tmp_path / str(shown), settings=AgentSettings(max_steps=1))
        await h.run(task, hermes("finish", summary="looked"))
        first = h.engine.history[0].prompt
        assert ("Before any change, the calls the task names give:\nparse_duration('45m') raised ValueError" in first) \
            is shown


async def test_the_examples_of_a_named_doc_that_do_not_give_what_they_show(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _project(root)
    (root / "NOTES.md").write_text("no examples here\n")
    ws = Workspace(root, DocumentStore())
    out = await run_doc_examples(ToolContext(ws, Staging(ws)), ["README.md", "NOTES.md", "missing.md"])
    # the fence after the last example is not taken for its output; the right one is not listed
    assert out.splitlines() == ['README.md:5: parse_duration("1h30m") shows 3630, but gives 5400',
                                "README.md:9: parse_duration(\"2h\") raised ValueError: not a duration: '2h'"]
    assert await run_doc_examples(ToolContext(ws, Staging(ws)), ["NOTES.md"]) == ""
    h = Harness(root, tmp_path / "run", settings=AgentSettings(max_steps=1))
    await h.run("fix the example in README.md, which shows a wrong result", hermes("finish", summary="looked"))
    first = h.engine.history[0].prompt
    assert "do not give what they show:\nREADME.md:5: parse_duration(\"1h30m\") shows 3630, but gives 5400" in first

"""A finish checked against the task: when the run's changes do not fit it (nothing changed,
only documentation, files the task names left alone, names the task introduces that no file has,
Python that does not parse or a block an edit left twice, tests that passed without touching the
changed code), the model gets a review turn that shows the next file to edit, at most twice a
run, and the next finish is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.changes import ChangeKind, ChangeSet, FileChange
from qwill.agent.finish_review import (
    asks_for_change,
    finish_review,
    is_doc,
    is_test,
    named_files,
    next_action,
    repeated_runs,
    task_names,
)
from qwill.agent.verify import CheckResult

from .test_agent_loop import Harness, hermes

TASK = ("Change the default port of the service from 8000 to 8080 (in service/defaults.ini and in "
        "README.md), and make load_config() in service/config.py use the APP_PORT environment variable.")


@pytest.fixture
def service(tmp_path: Path) -> Path:
    root = tmp_path / "service-repo"
    (root / "service").mkdir(parents=True)
    (root / "service" / "defaults.ini").write_text("[server]\nport = 8000\n")
    (root / "service" / "config.py").write_text("def load_config():\n    return {'port': 8000}\n")
    (root / "README.md").write_text("The service listens on port 8000.\n")
    return root


def modified(*paths: str) -> ChangeSet:
    return ChangeSet(1, [FileChange(ChangeKind.MODIFY, p, "a\n", "b\n") for p in paths])


FILES = ["README.md", "service/config.py", "service/defaults.ini", "tests/test_misc.py"]


async def test_a_readme_only_change_for_a_config_task_is_sent_back_with_the_next_file(
        service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    result = await h.run(
        TASK,
        hermes("edit_file", path="README.md", old_text="port 8000", new_text="port 8080"),
        hermes("finish", summary="Port changed."),  # reviewed: not accepted yet
        hermes("edit_file", path="service/defaults.ini", old_text="port = 8000", new_text="port = 8080"),
        hermes("finish", summary="Port changed everywhere."),  # config.py still as it was: reviewed again
        hermes("write_file", path="service/config.py",
               content="import os\n\n\ndef load_config():\n    return {'port': int(os.environ.get('APP_PORT', 8080))}\n"),
        hermes("finish", summary="Port changed, APP_PORT read."))
    assert result.reason == "done" and result.message == "Port changed, APP_PORT read."
    assert result.reviews == 2 and result.steps == 6
    # after the first edit, the files still to change and the next action
    assert ("The task also names service/config.py, service/defaults.ini, not changed yet. Next: edit "
            "service/config.py as the task asks.") in h.engine.history[1].prompt
    review = h.engine.history[2].prompt.rsplit("<tool_response>", 1)[1]
    assert review.startswith("\nNot finished yet: check your work against the task first.")
    assert "The task: Change the default port" in review and "Changed in this run: modified README.md." in review
    assert "Only documentation changed (README.md)." in review
    assert "did not change: service/config.py, service/defaults.ini." in review
    assert "The task names `APP_PORT`, which no file contains yet." in review
    # the next action: the first file left alone, with its text
    assert "Next: edit service/config.py as the task asks" in review and "   1| def load_config():" in review
    second = h.engine.history[4].prompt.rsplit("<tool_response>", 1)[1]
    assert "- The task names files this run did not change: service/config.py.\n" in second
    shown = [e for e in h.events if e.kind == "tool_result" and e.data["name"] == "finish"]
    assert len(shown) == 2 and shown[0].data["ok"] and "Only documentation changed" in shown[0].data["output"]


async def test_the_review_is_bounded_a_fourth_finish_ends_the_run(service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    result = await h.run(TASK, *["I changed the port."] * 4)
    assert result.reason == "done" and result.reviews == 3 and result.steps == 4
    assert "No file was changed in this run." in h.engine.history[1].prompt
    assert (service / "service" / "defaults.ini").read_text() == "[server]\nport = 8000\n"


async def test_a_call_that_repeats_the_last_step_is_told_the_next_action(service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    plan = hermes("todo", items=["change the port"])
    result = await h.run(TASK, plan, plan, hermes("read_file", path="service/config.py"), "Done.", "Done.",
                         "Done.", "Done.")
    first, second = h.engine.history[1].prompt, h.engine.history[2].prompt
    assert "You made this same call" not in first
    assert ("(You made this same call in the previous step and got this answer already; repeating it does not "
            "move the task on. Next: edit README.md as the task asks.)") in second
    assert result.reason == "done" and result.steps == 7  # no loop stop: the third call was another


async def test_a_question_that_changes_nothing_is_answered_at_once(service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    result = await h.run("Which port does the service listen on?", "It listens on port 8000.")
    assert result.reason == "done" and result.reviews == 0 and result.steps == 1
    assert result.message == "It listens on port 8000."


async def test_a_second_finish_without_a_summary_keeps_what_the_first_said(service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    result = await h.run(TASK, "I changed the port.", *[hermes("finish")] * 3)
    assert result.reason == "done" and result.reviews == 3 and result.message == "I changed the port."


async def test_a_run_whose_changes_fit_the_task_finishes_at_once(service: Path, tmp_path: Path) -> None:
    h = Harness(service, tmp_path)
    step = "\n".join([
        hermes("edit_file", path="README.md", old_text="port 8000", new_text="port 8080"),
        hermes("edit_file", path="service/defaults.ini", old_text="port = 8000", new_text="port = 8080"),
        hermes("write_file", path="service/config.py",
               content="import os\n\n\ndef load_config():\n    return {'port': int(os.environ.get('APP_PORT', 8080))}\n")])
    result = await h.run(TASK, step, hermes("finish", summary="done"))
    assert result.reason == "done" and result.reviews == 0 and result.steps == 2


async def test_tests_that_pass_without_touching_the_changed_code_are_named(tmp_path: Path) -> None:
    root = tmp_path / "calc"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "other.py").write_text("def one():\n    return 1\n")
    (root / "tests" / "test_other.py").write_text("from other import one\n\n\ndef test_one():\n    assert one() == 1\n")
    h = Harness(root, tmp_path)  # the test command is found (pytest)
    result = await h.run("fix add in calc.py",
                         hermes("edit_file", path="calc.py", old_text="a - b", new_text="a + b"),
                         hermes("finish", summary="fixed"), hermes("finish", summary="fixed, checked"))
    assert result.checks_passed is True and result.reviews == 1 and result.message == "fixed, checked"
    review = h.engine.history[2].prompt
    assert "do not mention the changed code (calc.py)" in review


def test_review_rules_on_plain_data() -> None:
    passed = CheckResult("pytest -q", True, "3 passed")
    tests = {"tests/test_misc.py": "from service import config\n"}
    # every named file changed, the names the task introduces are there, tests mention the code:
    # nothing to say
    done = ChangeSet(1, [
        FileChange(ChangeKind.MODIFY, "README.md", "port 8000\n", "port 8080\n"),
        FileChange(ChangeKind.MODIFY, "service/config.py", "def load_config():\n    return {}\n",
                   "import os\n\n\ndef load_config():\n    return {'port': os.environ['APP_PORT']}\n"),
        FileChange(ChangeKind.MODIFY, "service/defaults.ini", "port = 8000\n", "port = 8080\n")])
    assert finish_review(TASK, [done], FILES, passed, tests.get) is None
    # the same files changed, but APP_PORT is nowhere: named; a second review does not repeat
    # the tests' reach (an edit cannot fix that)
    no_env = ChangeSet(1, [*done.changes[::2], FileChange(
        ChangeKind.MODIFY, "service/config.py", "def load_config():\n    return {}\n",
        "def load_config():\n    return {'port': 8080}\n")])
    text = finish_review(TASK, [no_env], FILES, passed, tests.get)
    assert text is not None and "The task names `APP_PORT`, which no file contains yet." in text
    assert "`load_config`" not in text  # the file had it before the run (its old text)
    assert finish_review("fix util.py", [modified("util.py")], [*FILES, "util.py"], passed,
                         {"tests/test_misc.py": "import service\n"}.get, again=True) is None
    # tests that passed but mention none of the changed code
    text = finish_review("fix util.py", [modified("util.py")], [*FILES, "util.py"], passed,
                         {"tests/test_misc.py": "import service\n"}.get)
    assert text is not None and "do not mention the changed code (util.py)" in text
    # no tests ran: no claim about them
    assert finish_review("fix util.py", [modified("util.py")], [*FILES, "util.py"], None, tests.get) is None
    # nothing changed: a concern only when the task asks for a change
    assert "No file was changed" in (finish_review(TASK, [], FILES, None, tests.get) or "")
    assert finish_review("What does load_config return?", [], FILES, None, tests.get) is None
    assert asks_for_change("Add a --json flag") and not asks_for_change("explain how the port is read")
    # a docs task changing only docs is fine
    assert finish_review("Fix the typo in README.md", [modified("README.md")], FILES, None, tests.get) is None


def modified_to(path: str, old: str, new: str) -> ChangeSet:
    return ChangeSet(1, [FileChange(ChangeKind.MODIFY, path, old, new)])


GREET = ('import argparse\n\n\ndef main(argv=None):\n    parser = argparse.ArgumentParser()\n'
         '    parser.add_argument("name")\n    args = parser.parse_args(argv)\n    return f"Hello, {args.name}!"\n')


def test_an_edit_that_kept_the_old_block_or_broke_the_syntax_is_named_with_the_file() -> None:
    body = GREET.split("def main(argv=None):\n")[1]
    twice = GREET + body  # the body again after itself, as a header-only old_text leaves it
    text = finish_review("Add a --upper flag to greet.py", [modified_to("greet.py", GREET, twice)],
                         ["greet.py"], None, {}.get)
    assert text is not None
    assert "greet.py: lines 9-12 repeat the 4 lines right before them" in text
    assert "The task names `--upper`, which no file contains yet." in text
    assert "Next: edit greet.py as the task asks" in text and "   9|     parser = argparse.ArgumentParser()" in text
    assert repeated_runs(twice, GREET) == [(9, 12)] and repeated_runs(twice, twice) == []
    assert repeated_runs("a = 1\na = 1\n", None) == []  # fewer than three lines: not a copy
    broken = finish_review("Add a --upper flag to greet.py",
                           [modified_to("greet.py", GREET, GREET.replace("):", ")", 1) + "# --upper\n")],
                           ["greet.py"], None, {}.get)
    assert broken is not None and "greet.py does not parse: expected ':' (line 4)." in broken
    fixed = GREET.replace('    return f', '    parser.add_argument("--upper", action="store_true")\n    return f')
    assert finish_review("Add a --upper flag to greet.py", [modified_to("greet.py", GREET, fixed)], ["greet.py"],
                         None, {}.get) is None


def test_the_names_a_task_introduces_and_the_next_action() -> None:
    task = ("Add a --upper flag to greet.py: main() returns it upper-cased; add mark_done(todos, id) to "
            "todo/store.py, read APP_PORT, raise LogLevelError; see settings.ini and log_level.py")
    assert task_names(task) == ["--upper", "main", "mark_done", "APP_PORT", "LogLevelError"]
    files = ["greet.py", "todo/store.py", "README.md"]
    assert next_action(task, files, set(), set()) == "read_file greet.py, then change it as the task asks."
    assert next_action(task, files, {"greet.py", "todo/store.py"}, {"greet.py"}) == \
        "edit todo/store.py as the task asks."
    assert next_action(task, files, set(), {"greet.py", "todo/store.py"}).startswith("make the change")


def test_which_files_a_task_names() -> None:
    files = ["pkg/__init__.py", "lib/__init__.py", "conf/settings.ini", "README.md", "app.py", "app.pyc"]
    task = "Set level in settings.ini, export it from pkg/__init__.py, mention it in README.md; app stays"
    assert named_files(task, files) == ["pkg/__init__.py", "conf/settings.ini", "README.md"]
    assert named_files("edit __init__.py", files) == []  # two files have that name
    assert is_doc("README.md") and is_doc("docs/guide.rst") and is_doc("CHANGELOG") and not is_doc("setup.cfg")
    assert is_test("tests/test_x.py") and is_test("pkg/x_test.go") and is_test("src/a.spec.ts")
    assert not is_test("pkg/testing_tools.py")


def test_a_new_test_is_asked_for_python_code_changed_without_one() -> None:
    from qwill.agent.finish_review import new_test_request

    code = modified_to("todo/store.py", "X = 1\n", "def mark_done(todos, id):\n    return todos\n")
    files = ["todo/store.py", "todo/cli.py", "tests/test_store.py", "README.md"]
    task = "Add a mark_done(todos, id) function to todo/store.py"
    concern, action, _ = new_test_request(task, [code], files, whole=True) or ("", "", "")
    # tests/test_store.py is taken: the name the task introduces tells the new file apart
    assert "No test checks this change yet" in concern
    assert action.startswith("Next: write a new test file, tests/test_store_mark_done.py, whole")
    assert "(`todo.store`)" in action
    assert "create_file tests/test_store_mark_done.py" in (new_test_request(task, [code], files) or ("", "", ""))[1]
    # not for: a task that speaks of tests, a run that changed a test, documentation or data only
    assert new_test_request(task + " and add tests for it", [code], files) is None
    assert new_test_request(task, [code, modified_to("tests/test_store.py", "a\n", "b\n")], files) is None
    assert new_test_request("Fix the README", [modified("README.md")], files) is None
    assert new_test_request("Set the port to 8080", [modified("service/defaults.ini")], files) is None
    # nor for Python whose functions and classes did not change: a version, a constant, an import
    release = modified_to("todo/__init__.py", '"""Todo."""\n\n__version__ = "1.4.2"\n',
                          '"""Todo."""\n\n__version__ = "1.5.0"\n')
    assert new_test_request("Release version 1.5.0: set it in todo/__init__.py", [release], files) is None
    body = modified_to("todo/store.py", "def f():\n    return 1\n", "import os\n\n\ndef f():\n    return 1\n")
    assert new_test_request(task, [body], files) is None
    changed = modified_to("todo/store.py", "def f():\n    return 1\n", "def f():\n    return 2\n")
    assert new_test_request(task, [changed], files) is not None
    # the review asks for it only when told to, and only at the first review
    passed = CheckResult("pytest -q", True, "3 passed")
    reads = {"tests/test_store.py": "from todo import store\n"}.get
    assert finish_review(task, [code], files, passed, reads) is None
    ask = new_test_request(task, [code], files, whole=True)
    assert ask is not None and ask.path == "tests/test_store_mark_done.py"
    review = finish_review(task, [code], files, passed, reads, test=ask, whole=True) or ""
    assert "tests/test_store_mark_done.py" in review and review.endswith("the test, now, each whole, after its "
                                                                         "path in a fenced block.")
    assert finish_review(task, [code], files, passed, reads, test=ask, again=True) is None


@pytest.mark.parametrize(("task", "passed", "flagged"), [
    # the failing test the task points at is the evidence: passing now, it needs no change
    ("The test in tests/test_stats.py fails. Find the bug in stats.py and fix it, then run the tests.", True, False),
    # still failing: the file stays named (the run is not done)
    ("The test in tests/test_stats.py fails. Find the bug in stats.py and fix it, then run the tests.", False, True),
    # a task that asks for tests to be written there
    ("Fix mean in stats.py and add tests for it to tests/test_stats.py.", True, True),
])
def test_a_named_test_file_is_evidence_once_the_tests_pass(task: str, passed: bool, flagged: bool) -> None:
    files = ["stats.py", "tests/test_stats.py"]
    checks = CheckResult("pytest -q", passed, "1 passed" if passed else "1 failed")
    texts = {"stats.py": "def mean(v):\n    return sum(v) / len(v)\n",
             "tests/test_stats.py": "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 3]) == 2\n"}
    review = finish_review(task, [modified("stats.py")], files, checks, texts.get, again=True)
    said = review is not None and "did not change: tests/test_stats.py" in review
    assert said is flagged

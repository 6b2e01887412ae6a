"""The whole-file edit format: answers read as files written whole, and the agent loop that
shows a small model every file and lands what it writes through review, checks and the
workspace's confinement."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.whole_files import WholeFileParser, close_cut_listing, elided, parse_whole_files
from qwill.config import AgentSettings

from .test_agent_loop import APP, QWEN25_TEMPLATE
from .test_agent_loop import Harness as ToolsHarness

# Qwen2.5's template renders the system turn without tools too (the trimmed one of the loop
# tests shows it only with them)
TEMPLATE = QWEN25_TEMPLATE.replace(
    "{%- for message in messages %}",
    "{%- if not tools and messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] "
    "+ '<|im_end|>\\n' }}{%- endif %}\n{%- for message in messages %}", 1)


def Harness(*args, **kwargs) -> ToolsHarness:
    return ToolsHarness(*args, template=TEMPLATE, **kwargs)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "geo.py").write_text(APP)
    (root / "README.md").write_text("area(r) uses 3.14\n")
    return root


def exists(*paths: str):
    return lambda rel: rel in paths


NEW_GEO = "import math\n\n\ndef area(r):\n    return math.pi * r ** 2\n"


@pytest.mark.parametrize("path_line", ["geo.py", "`geo.py`", "**geo.py**", "geo.py:", "File: geo.py",
                                       "### geo.py", "./geo.py"])
def test_the_path_before_the_fence_names_the_file(path_line: str) -> None:
    r = parse_whole_files(f"Here it is.\n\n{path_line}\n```python\n{NEW_GEO}```\nDone.", exists("geo.py"))
    assert [(c.name, c.arguments) for c in r.calls] == [("write_file", {"path": "geo.py", "content": NEW_GEO})]
    assert r.text == "Here it is.\n\nDone." and r.errors == []
    assert r.calls[0].format == "whole"


def test_a_new_path_is_created_and_the_info_string_may_name_the_file() -> None:
    r = parse_whole_files(f"```pkg/util.py\nX = 1\n```\n\ngeo.py\n```\n{NEW_GEO}```", exists("geo.py"))
    assert [(c.name, c.arguments["path"]) for c in r.calls] == [("create_file", "pkg/util.py"),
                                                                ("write_file", "geo.py")]
    assert r.calls[0].arguments["content"] == "X = 1\n"


def test_a_file_written_twice_keeps_its_last_text() -> None:
    r = parse_whole_files("geo.py\n```\nA = 1\n```\ngeo.py\n```\nA = 2\n```", exists("geo.py"))
    assert [c.arguments["content"] for c in r.calls] == ["A = 2\n"]


def test_a_markdown_file_keeps_its_own_code_blocks() -> None:
    readme = "# Tool\n\nRun it:\n\n```bash\ntool --json\n```\n\nThat is all.\n"
    r = parse_whole_files(f"README.md\n```markdown\n{readme}```\n", exists("README.md"))
    assert [c.arguments["content"] for c in r.calls] == [readme]


def test_an_unclosed_block_writes_nothing_and_says_why() -> None:
    r = parse_whole_files("geo.py\n```python\nimport math\n\ndef area(r):", exists("geo.py"))
    assert r.calls == [] and "no closing ```" in r.errors[0] and "geo.py was not changed" in r.errors[0]


def test_blocks_without_a_path() -> None:
    # alone: an error that says how to name the file
    r = parse_whole_files("Use this:\n```python\nprint(1)\n```", exists())
    assert r.calls == [] and "no file path" in r.errors[0]
    # beside a named one: an example in the prose, ignored
    r = parse_whole_files(f"geo.py\n```\n{NEW_GEO}```\nCall it like:\n```\narea(2)\n```", exists("geo.py"))
    assert [c.arguments["path"] for c in r.calls] == ["geo.py"] and r.errors == []
    # prose that is no path ("Here is the code:") does not name a file
    r = parse_whole_files("Here is the code:\n```\nx\n```", exists())
    assert r.calls == [] and r.errors


def test_an_answer_without_blocks_is_prose_only() -> None:
    r = parse_whole_files("The task is done: area uses math.pi.", exists("geo.py"))
    assert r.calls == [] and r.errors == [] and r.text == "The task is done: area uses math.pi."


def test_elided_lines_are_found_only_where_they_stand_for_lost_text() -> None:
    before = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    assert elided("def a():\n    return 10\n\n# ... rest of the file unchanged\n", before) \
        == "# ... rest of the file unchanged"
    assert elided("def a():\n    return 10\n\n// ...\n", before) == "// ..."
    assert elided("def a():\n    return 10\n    # keep the rest of the logic here\n", before)
    # Python's own `...`, a comment the file already had, and a new file are fine
    assert elided("class P:\n    ...\n", before) == ""
    assert elided("# ... see below\n", "# ... see below\nx = 1\n") == ""
    assert elided("# ... rest unchanged\n", None) == ""


def test_streaming_shows_prose_and_holds_the_files() -> None:
    p = WholeFileParser(exists("geo.py"))
    text = f"I will change geo.py.\n\ngeo.py\n```python\n{NEW_GEO}```\nDone.\n"
    shown = []
    for i in range(0, len(text), 5):
        shown += [e.text for e in p.feed(text[i:i + 5]) if e.text]
    tail, result = p.finish()
    assert "".join(shown).startswith("I will change geo.py.") and "import math" not in "".join(shown)
    assert [e.call.arguments["path"] for e in tail if e.call] == ["geo.py"]
    assert any(e.text == "Done." for e in tail)
    assert result.calls[0].arguments["content"] == NEW_GEO


# -- the loop in the whole-file format --------------------------------------------------------------
# the test of the change a review asks for is tested on its own (WHOLE_ASKING, at the end)
WHOLE = AgentSettings(edit_format="whole", ask_for_test="off")
WHOLE_ASKING = AgentSettings(edit_format="whole")


def whole(path: str, text: str) -> str:
    return f"{path}\n```python\n{text}```"


async def test_a_whole_file_answer_is_reviewed_applied_and_finished(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    result = await h.run("use math.pi in geo.py", "I will use math.pi.\n\n" + whole("geo.py", NEW_GEO),
                         "geo.py now uses math.pi.")
    assert result.reason == "done" and result.message == "geo.py now uses math.pi."
    assert (repo / "geo.py").read_text() == NEW_GEO
    assert len(h.reviews) == 1 and result.applied == 1 and result.tool_calls == 1
    first = h.engine.history[0].prompt
    # no tool list: the format is in the system turn, every file in the first message as it is written back
    assert '"name": "edit_file"' not in first and "Every *file listing* has this shape" in first
    assert f"geo.py\n```\n{APP.rstrip()}\n```" in first and "README.md\n```\narea(r) uses 3.14\n```" in first
    assert first.endswith("then its new text in a fenced block.\n\nThe task: use math.pi in geo.py<|im_end|>\n<|im_start|>assistant\n")
    assert "for geo.py, the line `geo.py`" in first
    # the result is the user's next message, plain
    second = h.engine.history[1].prompt
    assert "rewrote geo.py; +3 lines (applied)" in second and "<tool_response>" not in second
    assert h.kinds("start")[0].data["editFormat"] == "whole"


async def test_a_file_with_lines_left_out_is_refused_and_shown(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    result = await h.run("use math.pi in geo.py",
                         whole("geo.py", "import math\n# ... rest of the code unchanged\n"),
                         whole("geo.py", NEW_GEO), "Done.")
    assert result.reason == "done" and (repo / "geo.py").read_text() == NEW_GEO
    told = h.engine.history[1].prompt.rsplit("<|im_start|>user", 1)[1]
    assert "leaves lines out (`# ... rest of the code unchanged`)" in told and "geo.py was not changed" in told
    assert f"geo.py\n```\n{APP.rstrip()}\n```" in told
    assert len(h.reviews) == 1  # the refused text never reached the review


async def test_paths_out_of_the_workspace_and_misplaced_files_write_nothing(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    before = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".qwill" not in p.parts)
    result = await h.run("use math.pi in geo.py",
                         whole("../outside.py", "X = 1\n") + "\n\n" + whole("path/to/geo.py", NEW_GEO),
                         "Done.")
    assert not (tmp_path / "outside.py").exists() and not (repo / "path").exists()
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".qwill" not in p.parts) == before
    told = h.engine.history[1].prompt.rsplit("<|im_start|>user", 1)[1]
    assert "path/to/geo.py was not created" in told and "geo.py is the file of that name" in told
    assert result.applied == 0


async def test_an_unreadable_answer_is_explained(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    result = await h.run("use math.pi in geo.py", "geo.py\n```python\nimport math\n", whole("geo.py", NEW_GEO),
                         "Done.")
    assert result.reason == "done" and (repo / "geo.py").read_text() == NEW_GEO
    assert result.malformed_calls == 1
    assert "Nothing was written: the block for geo.py has no closing ```" in h.engine.history[1].prompt


async def test_a_finish_that_leaves_a_named_file_alone_is_reviewed_in_the_format(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    # (the answer after the review starts as README.md's listing: the script goes on from there)
    result = await h.run("use math.pi in geo.py and say so in README.md", whole("geo.py", NEW_GEO),
                         "Done.", "area(r) uses math.pi\n```", "Both done.")
    assert result.reason == "done" and result.reviews == 1 and result.message == "Both done."
    review = h.engine.history[2].prompt.rsplit("<|im_start|>user", 1)[1]
    assert "The task names files this run did not change: README.md." in review
    assert "write the whole new text of README.md" in review and "README.md\n```\narea(r) uses 3.14\n```" in review
    assert "edit_file" not in review
    # the next answer starts as README.md's listing, as for an asked-for test
    assert h.engine.history[2].prompt.endswith("<|im_start|>assistant\nREADME.md\n```markdown\n")
    assert (repo / "README.md").read_text() == "area(r) uses math.pi\n"


@pytest.mark.parametrize(("parameters", "setting", "expected"), [
    (1_500_000_000, "auto", "whole"), (0, "auto", "tools"), (30_000_000_000, "auto", "tools"),
    (30_000_000_000, "whole", "whole"), (1_500_000_000, "tools", "tools")])
async def test_auto_picks_whole_files_for_a_small_local_model(repo: Path, tmp_path: Path, parameters: int,
                                                              setting: str, expected: str) -> None:
    h = Harness(repo, tmp_path, settings=AgentSettings(edit_format=setting))
    h.engine.info.parameters = parameters
    await h.run("use math.pi", "Nothing to do.")
    assert h.session.edit_format == expected


async def test_auto_uses_tools_when_the_files_do_not_fit(repo: Path, tmp_path: Path) -> None:
    (repo / "big.py").write_text("x = 1\n" * 4000)  # 24 kB: more than a 4k context's share
    h = Harness(repo, tmp_path, context_size=4096)
    h.engine.info.parameters = 1_500_000_000
    await h.run("use math.pi", "Nothing to do.")
    assert h.session.edit_format == "tools"


def test_a_path_in_a_fence_of_its_own_names_the_next_block() -> None:
    r = parse_whole_files(f"```\ngeo.py\n```\n\n```python\n{NEW_GEO}```", exists("geo.py"))
    assert [(c.name, c.arguments) for c in r.calls] == [("write_file", {"path": "geo.py", "content": NEW_GEO})]


async def test_a_finish_without_a_test_of_the_change_is_asked_for_one_and_its_failure_fixed(
        repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE_ASKING)
    wrong = "import math\n\n\ndef area(r):\n    return math.pi * r\n"
    test = "import math\n\nfrom geo import area\n\n\ndef test_area():\n    assert area(2) == math.pi * 4\n"
    # after the review the answer starts as the test's listing (written for the model): it goes on from there
    result = await h.run("make area(r) in geo.py use math.pi", whole("geo.py", wrong), "Done.",
                         test + "```", whole("geo.py", NEW_GEO), "Done, and tested.")
    assert result.reason == "done" and result.reviews == 1 and result.message == "Done, and tested."
    assert (repo / "tests" / "test_geo.py").read_text() == test and (repo / "geo.py").read_text() == NEW_GEO
    review = h.engine.history[2].prompt.rsplit("<|im_start|>user", 1)[1]
    assert "No test checks this change yet" in review
    assert "write a new test file, tests/test_geo.py, whole" in review and "(`geo`)" in review
    assert "Write the files that still need changes, and the test, now" in review
    assert h.engine.history[2].prompt.endswith("<|im_start|>assistant\ntests/test_geo.py\n```python\n")
    assert f"tests/test_geo.py\n```python\n{test}```<|im_end|>" in h.engine.history[3].prompt  # the answer, whole
    failed = h.engine.history[3].prompt.rsplit("<|im_start|>user", 1)[1]
    assert "after your change the tests FAIL" in failed and "assert" in failed  # the new test ran, and failed
    assert result.checks_passed is True


async def test_no_test_is_asked_for_when_the_task_speaks_of_tests_or_the_setting_is_off(
        repo: Path, tmp_path: Path) -> None:
    for task, settings in (("use math.pi in geo.py without changing the tests", WHOLE_ASKING),
                           ("use math.pi in geo.py", WHOLE)):
        h = Harness(repo, tmp_path / task[-3:], settings=settings)
        result = await h.run(task, whole("geo.py", NEW_GEO), "Done.")
        assert result.reason == "done" and result.reviews == 0, task
        (repo / "geo.py").write_text(APP)


def test_a_listing_cut_off_is_closed_after_its_last_whole_statement() -> None:
    cut = "tests/test_geo.py\n```python\nfrom geo import area\n\n\ndef test_one():\n    assert area(1)\n\n\ndef test_tw"
    assert close_cut_listing(cut) == "tests/test_geo.py\n```python\nfrom geo import area\n\n\ndef test_one():\n    assert area(1)\n```"
    inner = "t.py\n```python\ndef test_one():\n    x = 1\n\n    assert x"  # a blank line inside a function
    assert close_cut_listing(inner) is None  # nothing whole before the cut: nothing is made up
    assert close_cut_listing("t.py\n```python\nX = 1\n```\nDone.") is None  # closed: as it was
    assert close_cut_listing("no listing at all") is None


async def test_a_test_file_that_runs_on_is_cut_to_its_whole_tests(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE_ASKING)
    cases = "".join(f"\n\ndef test_area_{i}():\n    assert area({i}) == math.pi * {i} ** 2" for i in range(400))
    result = await h.run("make area(r) in geo.py use math.pi", whole("geo.py", NEW_GEO), "Done.",
                         "import math\n\nfrom geo import area" + cases, "Done, and tested.")
    assert result.reason == "done" and result.checks_passed is True
    written = (repo / "tests" / "test_geo.py").read_text()
    assert written.startswith("import math\n\nfrom geo import area\n\ndef test_area_0():")
    assert 3 < written.count("def test_") < 400 and written.endswith("** 2\n")  # whole tests only
    assert any("cut off after 768 tokens" in e.data["message"] for e in h.kinds("notice"))


async def test_an_answer_that_changes_nothing_is_followed_by_a_sampled_one(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, settings=WHOLE)
    result = await h.run("use math.pi in geo.py", whole("geo.py", APP), whole("geo.py", NEW_GEO), "Done.")
    assert result.reason == "done"
    temperatures = [r.temperature for r in h.engine.history]
    assert temperatures == [0.0, 0.7, 0.0]  # the answer after one that wrote every file back as it was
    assert any("changed no file; the next one is sampled" in e.data["message"] for e in h.kinds("notice"))


async def test_an_answer_that_repeats_the_runs_changes_is_taken_as_done(repo: Path, tmp_path: Path) -> None:
    """After a change, an answer that writes every file back as the run left it has nothing
    more to change: it is a finish, checked by the tests and the review like one."""
    h = Harness(repo, tmp_path, settings=WHOLE)
    result = await h.run("use math.pi in geo.py", whole("geo.py", NEW_GEO), whole("geo.py", NEW_GEO))
    assert result.reason == "done" and (repo / "geo.py").read_text() == NEW_GEO
    assert len(h.engine.history) == 2 and [r.temperature for r in h.engine.history] == [0.0, 0.0]
    assert any("changed no file: taken as done" in e.data["message"] for e in h.kinds("notice"))
    # it is a finish like any other: the review looks at it (here: asks for a test of the change)
    (repo / "geo.py").write_text(APP)
    h = Harness(repo, tmp_path / "again", settings=WHOLE_ASKING)
    await h.run("use math.pi in geo.py", whole("geo.py", NEW_GEO), whole("geo.py", NEW_GEO), "Done.")
    assert "Not finished yet" in h.engine.history[2].prompt.rsplit("<|im_start|>user", 1)[1]


@pytest.mark.parametrize(("task", "renames"), [
    ("Rename the function area to disk_area and update its callers.", True),
    ("Rename area in geo.py to disk_area.", True),
    ("rename `area` to `disk_area`", True),
    ("Rename the function perimeter to circumference.", False),  # geo.py defines no perimeter
    ("Rename the module geo.py to shapes.py and update the imports.", True),  # a file: rename_file
    ("Move `geo.py` into lib/.", True),
    ("Rename the module nowhere.py to shapes.py.", False),  # no such file
    ("Rename area to area.", False),
    ("Use math.pi in area.", False),
])
async def test_a_rename_of_a_defined_name_uses_the_tools(repo: Path, tmp_path: Path, task: str,
                                                          renames: bool) -> None:
    from qwill.agent.loop import moves_a_file, renames_a_definition
    from qwill.agent.workspace import Workspace

    assert (renames_a_definition(task, Workspace(repo)) or moves_a_file(task, Workspace(repo))) is renames
    h = Harness(repo, tmp_path)
    h.engine.info.parameters = 1_500_000_000  # a small local model: whole files, but for a rename
    await h.run(task, "Nothing to do.")
    assert h.session.edit_format == ("tools" if renames else "whole")


async def test_the_asked_for_test_that_stays_wrong_is_removed_not_left_failing(repo: Path, tmp_path: Path) -> None:
    """The code is right and the tests passed; the test the review asked for asserts something
    wrong, and the model keeps answering that it is done: after a second refused finish the
    test goes (the user did not ask for it), the tests pass again and the run ends, saying so."""
    (repo / "test_readme.py").write_text("def test_readme():\n    assert open('README.md').read()\n")
    h = Harness(repo, tmp_path, settings=WHOLE_ASKING)
    wrong_test = "from geo import area\n\n\ndef test_area():\n    assert area(2) == 3\n"
    result = await h.run("make area(r) in geo.py use math.pi", whole("geo.py", NEW_GEO), "Done.",
                         wrong_test + "```", "Done.", "Done.")
    assert result.reason == "done" and result.checks_passed is True
    assert not (repo / "tests" / "test_geo.py").exists() and (repo / "geo.py").read_text() == NEW_GEO
    assert "the test Qwill asked for, tests/test_geo.py, failed and was not fixed, so it was removed" in result.message
    assert "assert" in result.message  # what it said
    # the first refusal still sent the model back with the failure
    assert "not finished" in h.engine.history[4].prompt.rsplit("<|im_start|>user", 1)[1]


async def test_an_asked_for_test_that_finds_a_bug_in_the_code_is_kept(repo: Path, tmp_path: Path) -> None:
    """When the failure is raised in the code (a frame outside the test), the test is doing its
    job: it stays, and the run is not ended as done."""
    h = Harness(repo, tmp_path, settings=WHOLE_ASKING)
    broken = "import math\n\n\ndef area(r):\n    return math.pi * r ** 2 / (r - r)\n"
    test = "from geo import area\n\n\ndef test_area():\n    assert area(2) > 12\n"
    result = await h.run("make area(r) in geo.py use math.pi", whole("geo.py", broken), "Done.",
                         test + "```", "Done.", "Done.", "Done.")
    assert (repo / "tests" / "test_geo.py").exists()
    assert result.reason != "done" or result.checks_passed is not True


async def test_a_rejected_removal_of_the_asked_for_test_is_not_reported_as_done(repo: Path, tmp_path: Path) -> None:
    """The removal is reviewed like any change: rejected, the test stays and the finish is
    refused as before (the rejection's text says "NOT applied", not "applied")."""
    (repo / "test_readme.py").write_text("def test_readme():\n    assert open('README.md').read()\n")

    async def review(changes):
        return not any(c.kind.name == "DELETE" for c in changes.changes)

    h = Harness(repo, tmp_path, settings=WHOLE_ASKING, review=review)
    wrong_test = "from geo import area\n\n\ndef test_area():\n    assert area(2) == 3\n"
    result = await h.run("make area(r) in geo.py use math.pi", whole("geo.py", NEW_GEO), "Done.",
                         wrong_test + "```", "Done.", "Done.", "Done.")
    assert (repo / "tests" / "test_geo.py").exists()
    assert "was removed" not in result.message and result.checks_passed is not True


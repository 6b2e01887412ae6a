"""Verify and finish: the test command found from project files, the repository map, and
the loop ending a run only when the model says it is done and the tests pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwill.agent.verify import discover_test_command, read_result
from qwill.config import AgentSettings
from qwill.context.repo_map import build_repo_map

from .test_agent_loop import Harness, hermes


@pytest.mark.parametrize(("files", "command"), [
    ({"pyproject.toml": "[project]\nname='x'\n", "tests/test_x.py": "def test(): pass\n"}, "pytest"),
    ({"setup.py": "", "x_test.py": "def test(): pass\n"}, "pytest"),
    ({"lib.py": "", "test_lib.py": "def test(): pass\n"}, "pytest"),  # no build file, test files
    ({"package.json": json.dumps({"scripts": {"test": "node --test"}})}, "npm test"),
    ({"go.mod": "module x\n"}, "go test ./..."),
    ({"Cargo.toml": "[package]\nname='x'\n"}, "cargo test"),
    ({"Makefile": "all:\n\techo\n\ntest:\n\t./run-tests\n"}, "make test"),
])
def test_the_test_command_comes_from_the_projects_files(tmp_path: Path, files: dict, command: str) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = discover_test_command(tmp_path)
    assert found is not None and command in found.command


@pytest.mark.parametrize("files", [
    {},
    {"pyproject.toml": "[project]\n", "lib.py": ""},  # Python, but no tests
    {"package.json": json.dumps({"scripts": {"test": 'echo "Error: no test specified" && exit 1'}})},
    {"Makefile": "build:\n\tcc x.c\n"},
    {"node_modules/dep/test_x.py": "", "pyproject.toml": ""},  # tests of a dependency do not count
])
def test_no_tests_no_command(tmp_path: Path, files: dict) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert discover_test_command(tmp_path) is None


def test_reading_a_test_run() -> None:
    assert read_result("pytest -q", 0, "3 passed").passed
    assert read_result("pytest -q", 5, "no tests ran in 0.01s").no_tests
    failed = read_result("pytest -q", 1, "x" * 5000 + "\n1 failed")
    assert failed.blocks_finish and failed.output.endswith("1 failed") and len(failed.output) < 3000
    assert "1 failed" in failed.summary()


def test_repo_map_ranks_definitions_by_references_within_a_budget() -> None:
    files = {
        "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n\ndef helper():\n    pass\n",
        "shop/checkout.py": "from shop.cart import Cart\n\ndef pay(c: Cart):\n    return Cart().total()\n",
        "shop/util.py": "def unused_thing():\n    pass\n",
        "README.md": "Cart docs\n",
        "config.toml": "x = 1\n",
    }
    text = build_repo_map(list(files), files.get, token_budget=1024)
    assert text.index("shop/cart.py:") < text.index("shop/checkout.py:") < text.index("shop/util.py:")
    assert "  class Cart:\n    def total(self):" in text  # methods under their class
    assert text.endswith("Other files: README.md, config.toml")
    small = build_repo_map(list(files), files.get, token_budget=30)
    assert "shop/cart.py:" in small and "unused_thing" not in small
    assert "shop/util.py" in small or "more" in small  # a file that does not fit is still named


async def test_a_run_ends_when_the_model_finishes_and_the_tests_pass(tmp_path: Path) -> None:
    root = tmp_path / "calc"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    h = Harness(root, tmp_path)
    result = await h.run(
        "fix add",
        "It is fine as it is.",  # text without a call: a finish; the tests fail, so it goes on
        hermes("edit_file", path="calc.py", old_text="a - b", new_text="a + b"),
        hermes("finish", summary="add adds"))
    assert result.reason == "done" and result.message == "add adds" and result.steps == 3
    assert result.checks_passed is True
    prompts = [r.prompt for r in h.engine.history]
    assert "not finished" in prompts[1] and "1 failed" in prompts[1]
    # after the edit the tests ran by themselves, and the model was told they pass
    assert "after your change the tests pass" in prompts[2]
    checks = [e for e in h.events if e.kind == "checks"]
    assert [c.data["passed"] for c in checks] == [False, True, True]


async def test_tool_calls_are_decoded_under_the_formats_grammar(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    h = Harness(root, tmp_path)
    h.engine.supports_grammar = True
    result = await h.run("read it", hermes("read_file", path="a.py"), hermes("finish", summary="ok"))
    assert result.grammar and result.reason == "done"
    req = h.engine.history[0]
    assert req.grammar_triggers == ("<tool_call>", "```json", '{"name"')
    assert '"\\"name\\": \\"read_file\\", \\"arguments\\": "' in req.grammar

    h2 = Harness(root, tmp_path / "off", settings=AgentSettings(constrain_tool_calls=False))
    h2.engine.supports_grammar = True
    await h2.run("read it", hermes("finish", summary="ok"))
    assert h2.engine.history[0].grammar == ""


def test_editor_settings_that_widen_the_agent_need_consent() -> None:
    from qwill.agent import policy_consent
    from qwill.config import McpServerSettings

    mine = AgentSettings()
    assert policy_consent.widening(AgentSettings(approval_mode="plan"), mine) == {}  # plan narrows
    sent = AgentSettings(approval_mode="yolo", mcp_allow=["git"],
                         mcp_servers={"git": McpServerSettings(command="mcp-server-git")})
    values = policy_consent.widening(sent, mine)
    assert set(values) == {"approvalMode", "mcpAllow", "mcpServers"}
    text = policy_consent.describe(values)
    assert "`yolo` mode" in text and "MCP servers `git`" in text and "MCP tools `git`" in text
    narrowed = policy_consent.narrowed(sent, mine)
    assert narrowed.approval_mode == "ask" and narrowed.mcp_servers == {} and narrowed.mcp_allow == []
    assert policy_consent.ConsentStore.key(values)  # JSON-serialisable, so it can be remembered


def _failing_project(root: Path) -> None:
    root.mkdir()
    (root / "stats.py").write_text("def mean(values):\n    return sum(values) / (len(values) + 1)\n")
    (root / "test_stats.py").write_text(
        "import warnings\n\nfrom stats import mean\n\n\ndef test_mean():\n"
        "    warnings.warn('a deprecation nobody asked about', DeprecationWarning)\n"
        "    print('captured output nobody needs')\n"
        "    assert mean([1, 2, 3, 4]) == 2.5\n\n\ndef test_empty():\n    assert mean([0]) == 0\n")


def test_pytest_failures_are_digested_for_the_model(tmp_path: Path) -> None:
    import subprocess
    import sys
    root = tmp_path / "stats"
    _failing_project(root)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    result = read_result("pytest -q", run.returncode, run.stdout + run.stderr)
    digest = result.for_model
    assert digest == result.failures and digest != result.output
    lines = digest.splitlines()
    assert "test_mean:" in lines
    assert ">       assert mean([1, 2, 3, 4]) == 2.5" in lines
    assert any(ln.startswith("E       assert 2.0 == 2.5") for ln in lines)
    assert any(ln.startswith("test_stats.py:9: AssertionError") for ln in lines)
    assert lines[-1].startswith("1 failed, 1 passed")
    assert "deprecation nobody asked" not in digest and "captured output" not in digest
    # a failure at a `with` statement (pytest.raises saw nothing raised) shows the block's body
    (root / "test_raises.py").write_text(
        "import pytest\n\nfrom stats import mean\n\n\ndef test_raises():\n    with pytest.raises(ZeroDivisionError):\n"
        "        mean([])\n        mean([1])\n    assert True\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_raises.py"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    lines = read_result("pytest -q", run.returncode, run.stdout + run.stderr,
                        read=lambda rel: (root / rel).read_text()).failures.splitlines()
    at = lines.index("    the with block's body:")
    assert lines[at - 1].startswith("test_raises.py:7: Failed")
    assert lines[at + 1:at + 3] == ["                mean([])", "                mean([1])"]
    assert read_result("pytest -q", run.returncode, run.stdout + run.stderr).failures.count("body") == 0
    # not pytest's output, or nothing failed: the tail, as before
    other = read_result("npm test", 1, "Error: expected 3, got 2\n1 failing")
    assert other.failures == "" and other.for_model == other.output
    assert read_result("pytest -q", 0, "2 passed").failures == ""


@pytest.mark.parametrize(("task", "checks_first", "shown"), [
    ("The test in test_stats.py fails: fix mean", "auto", True),
    ("mean is wrong for four values, fix it", "auto", True),
    ("make mean faster", "auto", False),  # nothing said to fail: no test run before the answer
    ("make mean faster", "on", True),
    ("The test in test_stats.py fails: fix mean", "off", False),
])
async def test_a_task_about_a_failure_starts_with_what_fails(tmp_path: Path, task: str, checks_first: str,
                                                              shown: bool) -> None:
    root = tmp_path / "stats"
    _failing_project(root)
    settings = AgentSettings(checks_first=checks_first, max_steps=1)  # type: ignore[arg-type]
    h = Harness(root, tmp_path, settings=settings)
    await h.run(task, hermes("finish", summary="looked"))
    first = h.engine.history[0].prompt
    assert ("Before any change, the tests fail" in first) is shown
    assert ("E       assert 2.0 == 2.5" in first) is shown
    checks = h.kinds("checks")
    assert (bool(checks) and checks[0].step == 0) is shown

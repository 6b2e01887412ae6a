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

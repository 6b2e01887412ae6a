"""The agent evaluation harness: each task's check passes for a correct solution
(scripted through the real loop and fake engine) and fails for a wrong one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.agent_eval import load_tasks, run_task, summarize
from qwill.config import parse_settings
from qwill.session import Session


def call(name: str, **args) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def edit(path: str, old: str, new: str) -> str:
    return call("edit_file", path=path, old_text=old, new_text=new)


SOLUTIONS = {
    "rename_setting": [edit("app/config.py", "TIMEOUT = 30", "REQUEST_TIMEOUT = 30")
                       + edit("app/client.py", "config.TIMEOUT", "config.REQUEST_TIMEOUT")
                       + edit("README.md", "`TIMEOUT`", "`REQUEST_TIMEOUT`"), "Renamed."],
    "fix_bug": [call("read_file", path="stats.py"),
                edit("stats.py", "(len(values) + 1)", "len(values)"), call("run_tests"), "Fixed."],
    "add_function": [edit("textkit/slug.py", '"""URL slugs."""',
                          '"""URL slugs."""\n\n\ndef slugify(text):\n    return "-".join(text.lower().split())')
                     + edit("textkit/__init__.py", "from .case import title_case",
                            "from .case import title_case\nfrom .slug import slugify"), "Added."],
    "add_flag": [edit("greet.py", '    parser.add_argument("name")',
                      '    parser.add_argument("name")\n    parser.add_argument("--upper", action="store_true")')
                 + edit("greet.py", "    return greeting",
                        "    return greeting.upper() if args.upper else greeting"), "Added."],
    "rename_function": [edit("shop/cart.py", "def calc_total", "def total_price")
                        + edit("shop/checkout.py", "from shop.cart import calc_total",
                               "from shop.cart import total_price")
                        + edit("shop/checkout.py", "{calc_total(items)", "{total_price(items)"), "Renamed."],
}


async def _run(tmp_path: Path, fake_script, name: str, script: list[str]):
    settings = parse_settings({"engine": {"model": fake_script(script)}}).settings
    session = Session(settings)
    await session.load_model()
    (task,) = load_tasks([name])
    try:
        return await run_task(session, task, tmp_path, max_steps=8, context_size=8192, verbose=False)
    finally:
        session.close()


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
async def test_reference_solution_passes_the_check(name: str, tmp_path: Path, fake_script) -> None:
    result = await _run(tmp_path, fake_script, name, SOLUTIONS[name])
    assert result.success, result.check_output
    assert result.reason == "done" and result.malformed_turns == 0 and result.applied >= 1


async def test_no_change_fails_the_check_and_summary_counts(tmp_path: Path, fake_script) -> None:
    bad = await _run(tmp_path, fake_script, "fix_bug", ["<tool_call>oops</tool_call>", "I am done."])
    assert not bad.success and bad.malformed_turns == 1
    summary = summarize([bad])
    assert summary["success_rate"] == 0.0 and summary["well_formed_tool_call_rate"] == 0.0

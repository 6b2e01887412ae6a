"""The agent evaluation's tasks and harness: every task's hidden checks fail on its
repository and pass with its reference solution; the harness drives `qwill agent` as a
user types it and reads its result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks.agent_eval import check, lay_out, load_tasks, run_qwill, summarize, table

TASKS = load_tasks()


def test_there_are_enough_realistic_tasks() -> None:
    assert len(TASKS) >= 15
    for task in TASKS:
        assert len(task["instruction"]) > 40, task["name"]
        assert list(task["dir"].glob("check_*.py")), task["name"]
        assert (task["dir"] / "solution").is_dir(), task["name"]
    # multi-file: most solutions touch more than one file
    multi = [t for t in TASKS if sum(1 for p in (t["dir"] / "solution").rglob("*") if p.is_file()) > 1]
    assert len(multi) >= 12


@pytest.mark.parametrize("task", TASKS, ids=[t["name"] for t in TASKS])
def test_checks_fail_before_and_pass_with_the_reference_solution(task: dict, tmp_path: Path) -> None:
    ok, out = check(task, lay_out(task, tmp_path / "before"))
    assert not ok, f"{task['name']}: the checks pass without any change\n{out}"
    ok, out = check(task, lay_out(task, tmp_path / "after", solution=True))
    assert ok, f"{task['name']}: the reference solution fails its checks\n{out}"


def call(name: str, **args) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def test_the_harness_runs_the_cli_and_reads_its_result(tmp_path: Path, fake_script) -> None:
    (task,) = load_tasks(["config_port"])
    solution = task["dir"] / "solution"
    script = [call("write_file", path=p.relative_to(solution).as_posix(), content=p.read_text())
              for p in sorted(solution.rglob("*")) if p.is_file()]
    script.append(call("finish", summary="port 8080, APP_PORT"))
    args = argparse.Namespace(model=fake_script(script), max_steps=10, ctx=4096, threads=0, timeout=120)
    repo = lay_out(task, tmp_path)
    r = run_qwill(task, repo, args, system="qwill-tools", log=tmp_path / "log")
    assert r.success and r.reason == "done", (tmp_path / "log").read_text()
    assert r.steps == len(script) and r.tool_calls == len(script) and r.invalid_calls == 0
    assert "passed" in r.checks  # Qwill found and ran the project's tests by itself
    summary = summarize([r])
    assert summary["solved"] == 1 and summary["ended"] == {"done": 1} and summary["well_formed_rate"] == 1.0
    assert "| qwill | 1 / 1 | done 1 |" in table({"qwill": summary})

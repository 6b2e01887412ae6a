"""The agent loop on scripted transcripts: every format, every way it can go wrong."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qwill.agent.appliers import DiskApplier
from qwill.agent.loop import Agent, AgentEvent, new_session
from qwill.config import AgentSettings
from qwill.engine.base import CancelToken
from qwill.engine.chat import ChatFormat
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker

# Qwen2.5's chat template (as shipped in its GGUF): tools in the system turn,
# tool results as <tool_response> in a user turn.
QWEN25_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

APP = "def area(r):\n    return 3.14 * r * r\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "geo.py").write_text(APP)
    (root / "README.md").write_text("area(r) uses 3.14\n")
    return root


class Harness:
    def __init__(self, repo: Path, tmp: Path, *, template: str | None = QWEN25_TEMPLATE,
                 review=None, settings: AgentSettings | None = None, context_size: int = 8192,
                 approve=None) -> None:
        self.engine = FakeEngine()
        if template is not None:
            self.engine.info.chat_format = ChatFormat(template)
        self.worker = EngineWorker()
        self.worker.load(lambda: self.engine).result()
        self.events: list[AgentEvent] = []
        self.reviews: list = []

        async def default_review(changes):
            self.reviews.append(changes)
            return True

        self.session = new_session(repo, store_dir=tmp / "store")
        self.agent = Agent(self.worker, settings or AgentSettings(), DiskApplier(repo, review or default_review),
                           on_event=self.events.append, context_size=context_size, approve_command=approve)

    def kinds(self, kind: str) -> list[AgentEvent]:
        return [e for e in self.events if e.kind == kind]

    async def run(self, task: str = "use math.pi", *script: str, cancel=None):
        self.engine.enqueue(*script)
        try:
            return await self.agent.run(self.session, task, cancel)
        finally:
            self.worker.shutdown(wait=False)


def hermes(name: str, **args) -> str:
    import json
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


EDIT_ARGS = {"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2"}
FORMATS = {
    "hermes": hermes("edit_file", **EDIT_ARGS),
    "qwen3_xml": ("<tool_call>\n<function=edit_file>\n<parameter=path>\ngeo.py\n</parameter>\n"
                  "<parameter=old_text>\n3.14 * r * r\n</parameter>\n<parameter=new_text>\n"
                  "math.pi * r ** 2\n</parameter>\n</function>\n</tool_call>"),
    "mistral": '[TOOL_CALLS][{"name": "edit_file", "arguments": {"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2"}}]',
    "llama3": '<|python_tag|>{"name": "edit_file", "parameters": {"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2"}}',
    "fenced": 'Editing.\n```json\n{"name": "edit_file", "arguments": {"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2",}}\n```',
    "deepseek": ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>edit_file\n```json\n"
                 '{"path": "geo.py", "old_text": "3.14 * r * r", "new_text": "math.pi * r ** 2"}\n```'
                 "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
    "pythonic": '[edit_file(path="geo.py", old_text="3.14 * r * r", new_text="math.pi * r ** 2")]',
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_every_format_edits_the_file(fmt: str, repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    result = await h.run("use math.pi", FORMATS[fmt], "Done: area uses math.pi.")
    assert result.reason == "done" and result.message == "Done: area uses math.pi."
    # the edit uses math without importing it: the import comes with it (qwill.agent.imports)
    assert (repo / "geo.py").read_text() == "import math\n\n\ndef area(r):\n    return math.pi * r ** 2\n"
    assert [e.data["format"] for e in h.kinds("tool_call")] == [fmt]
    assert result.applied == 1 and result.tool_calls == 1 and result.malformed_calls == 0


async def test_history_is_append_only_and_prompts_extend_each_other(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    outputs = [hermes("read_file", path="geo.py"), hermes("edit_file", **EDIT_ARGS),
               hermes("grep", pattern="3.14"), "All done."]
    result = await h.run("use math.pi", *outputs)
    assert result.reason == "done" and result.steps == 4
    prompts = [r.prompt for r in h.engine.history]
    for i in range(len(prompts) - 1):
        assert prompts[i + 1].startswith(prompts[i] + outputs[i]), f"step {i + 2} rewrote history"
    # the tool list is rendered once, in the system turn, the same bytes every step
    assert prompts[0].count('"name": "edit_file"') == 1
    # the repository map, once, with the first task
    assert "Repository map (files, and what they define, most used first):\ngeo.py:\n  def area(r):\n" \
        "Other files: README.md" in prompts[0]
    assert all(r.slot == "agent" for r in h.engine.history)
    assert [s.step for s in result.stats] == [1, 2, 3, 4]
    stats = h.kinds("stats")
    assert all(e.data["promptTokens"] > 0 for e in stats)
    # tool results went back to the model
    assert "1| def area(r):" in prompts[1] and "edited geo.py" in prompts[2] and "(applied)" in prompts[2]
    last_result = prompts[3].rsplit("<tool_response>", 1)[1]
    assert "README.md:1: area(r) uses 3.14" in last_result and "geo.py" not in last_result


async def test_rejected_edit_is_reported_to_the_model(repo: Path, tmp_path: Path) -> None:
    async def reject(changes):
        return "not like that"

    h = Harness(repo, tmp_path, review=reject)
    result = await h.run("use math.pi", hermes("edit_file", **EDIT_ARGS), "Understood, leaving it.")
    assert (repo / "geo.py").read_text() == APP
    assert "NOT applied: not like that" in h.engine.history[1].prompt
    assert result.rejected == 1 and result.applied == 0
    assert [e.kind for e in h.events if e.kind in ("changes", "rejected")] == ["changes", "rejected"]


async def test_several_edits_in_one_step_are_one_change_set(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    step = (hermes("edit_file", **EDIT_ARGS) + "\n" + hermes("edit_file", path="README.md",
            old_text="3.14", new_text="math.pi") + "\n" + hermes("create_file", path="tests/test_geo.py",
            content="def test():\n    pass\n"))
    await h.run("use math.pi", step, "done")
    assert len(h.reviews) == 1
    assert sorted(h.reviews[0].paths) == ["README.md", "geo.py", "tests/test_geo.py"]
    assert h.reviews[0].flagged == ["tests/test_geo.py"]
    (changes,) = h.kinds("changes")
    assert "+++ b/geo.py" in changes.data["diff"] and changes.data["flagged"] == ["tests/test_geo.py"]


async def test_undo_and_rewind_restore_exactly(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    await h.run("use math.pi", hermes("edit_file", **EDIT_ARGS),
                hermes("edit_file", path="README.md", old_text="3.14", new_text="math.pi"),
                hermes("create_file", path="new.py", content="x = 1\n"), "done")
    assert (repo / "new.py").exists()
    session = h.session
    undo, step = session.restore_changes()
    assert step == 3 and [c.path for c in undo.changes] == ["new.py"]
    assert (await DiskApplier(repo).apply(undo)).applied
    session.forget_from(step)
    assert not (repo / "new.py").exists() and "math.pi" in (repo / "README.md").read_text()
    rewind, step = session.restore_changes(to_step=1)
    assert step == 1
    assert (await DiskApplier(repo).apply(rewind)).applied
    assert (repo / "geo.py").read_text() == APP and (repo / "README.md").read_text() == "area(r) uses 3.14\n"


async def test_malformed_call_is_explained_then_model_recovers(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    result = await h.run("x", "<tool_call>\nplease read geo.py\n</tool_call>",
                         hermes("read_file", path="geo.py"), "ok")
    assert result.reason == "done" and result.malformed_calls == 1
    assert "could not be read" in h.engine.history[1].prompt


async def test_unreadable_calls_three_times_stop(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    result = await h.run("x", *["<tool_call>garbage</tool_call>"] * 5)
    assert result.reason == "loop" and result.steps == 3


async def test_same_call_repeated_stops(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    result = await h.run("x", *[hermes("read_file", path="geo.py")] * 6)
    assert result.reason == "loop" and "same tool call" in result.message and result.steps == 3
    assert h.kinds("done")[0].data["reason"] == "loop"


async def test_alternation_stops(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    a, b = hermes("read_file", path="geo.py"), hermes("list_files")
    result = await h.run("x", a, b, a, b, a, b)
    assert result.reason == "loop" and "alternating" in result.message and result.steps == 4


async def test_three_call_cycle_stops(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    a, b, c = (hermes("rename_file", path=p, new_path=p) for p in ("geo.py", "README.md", "x.py"))
    result = await h.run("x", a, b, c, a, b, c, a, "never")
    assert result.reason == "loop" and "three tool calls" in result.message and result.steps == 6


async def test_same_error_repeated_stops(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    bad = [hermes("read_file", path="missing.py", start_line=i) for i in (1, 2, 3)]
    result = await h.run("x", *bad, "never")
    assert result.reason == "loop" and "same error" in result.message


def test_errors_that_alternate_or_differ_only_in_timings_are_a_loop() -> None:
    from qwill.agent.loop import Agent

    unreadable, refused = "Nothing was written: no path", "error: not finished: `pytest` failed: 2 failed in {}s"
    assert Agent._repeated([unreadable, refused.format("0.97"), unreadable, refused.format("1.05")])
    assert Agent._repeated([refused.format("0.9"), refused.format("1.1"), refused.format("12")])
    assert not Agent._repeated([unreadable, refused.format("1"), "", refused.format("1")])  # a clean step between
    assert not Agent._repeated([unreadable, refused.format("1"), unreadable])
    assert not Agent._repeated(["a", "b", "c", "d"])


async def test_step_cap_and_tool_call_cap(repo: Path, tmp_path: Path) -> None:
    settings = AgentSettings(max_steps=2, max_tool_calls_per_step=2)
    h = Harness(repo, tmp_path, settings=settings)
    many = "\n".join(hermes("read_file", path="geo.py", start_line=i) for i in range(1, 5))
    result = await h.run("x", many, hermes("list_files"), "never")
    assert result.reason == "max_steps" and result.steps == 2
    assert result.tool_calls == 3
    assert "only the first 2 tool calls" in h.engine.history[1].prompt


async def test_cancel_stops_the_run(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    h.engine.delay = 0.05
    cancel = CancelToken()
    long = "I am thinking " * 100
    task = asyncio.ensure_future(h.run("x", long, "never", cancel=cancel))
    await asyncio.sleep(0.3)
    cancel.cancel()
    result = await asyncio.wait_for(task, 5)
    assert result.reason == "cancelled"


async def test_context_full_stops_cleanly(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, context_size=300)
    result = await h.run("x", hermes("read_file", path="geo.py"), "never")
    assert result.reason == "context_full" and "contextSize" in result.message


async def test_template_without_tools_gets_fallback_instructions(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, template=None)  # plain ChatML, no tool support
    result = await h.run("x", hermes("read_file", path="geo.py"), "ok")
    assert result.reason == "done"
    first, second = (r.prompt for r in h.engine.history)
    assert "To call a function" in first and '"name": "read_file"' in first
    assert "<tool_response>\n[read_file]" in second


async def test_command_that_needs_approval_without_an_approver_is_refused(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    await h.run("x", hermes("run_command", command="rm geo.py"), "ok")
    assert (repo / "geo.py").exists()
    assert "needs the user's approval" in h.engine.history[1].prompt


async def test_command_runs_after_staged_edits_land(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    step = hermes("edit_file", **EDIT_ARGS) + hermes("run_command", command="cat geo.py")
    await h.run("x", step, "ok")
    prompt = h.engine.history[1].prompt
    assert "math.pi * r ** 2" in prompt.split("$ cat geo.py")[1]


async def test_second_turn_continues_and_compacts_at_the_boundary(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path, context_size=2600)
    h.engine.enqueue(hermes("read_file", path="geo.py"), "first done")
    (repo / "big.txt").write_text("line of text that is long enough\n" * 150)
    await h.agent.run(h.session, "read it")
    h.engine.enqueue(hermes("read_file", path="big.txt"), "second done")
    await h.agent.run(h.session, "read big")
    h.engine.enqueue("third done")
    result = await h.agent.run(h.session, "and now?")
    h.worker.shutdown(wait=False)
    assert result.reason == "done"
    assert any(e.kind == "compacted" for e in h.events)
    last = h.engine.history[-1].prompt
    assert "elided to save context" in last and "read it" in last and "and now?" in last


async def test_files_named_in_the_task_are_attached(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    await h.run("In geo.py, use math.pi", "ok")
    first = h.engine.history[0].prompt
    assert "geo.py:\n1| def area(r):\n2|     return 3.14 * r * r" in first
    assert "README.md:\n" not in first  # not named in the task


async def test_repeating_a_failed_call_gets_a_nudge(repo: Path, tmp_path: Path) -> None:
    h = Harness(repo, tmp_path)
    bad = hermes("edit_file", path="geo.py", old_text="nope", new_text="x")
    await h.run("x", bad, bad, "ok")
    assert "You made this exact call before" not in h.engine.history[1].prompt
    assert "You made this exact call before" in h.engine.history[2].prompt

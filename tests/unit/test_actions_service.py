"""The action pipeline with the scripted fake engine: prompts, answers, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.actions.service import ActionService
from qwill.actions.targets import ActionError, ActionKind, ActionTarget, Diagnostic
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.syntax import SyntaxStore
from qwill.engine.base import CancelToken
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker

SOURCE = '''import math


class Stats:
    def average(self, values):
        total = 0
        for v in values:
            total += v
        return total / len(value)


def area(r):
    return math.pi * r * r
'''
DIAG = Diagnostic("undefined name 'value'", Position(8, 28), Position(8, 33), "pyflakes", "F821")


@pytest.fixture
def env(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "stats.py"
    path.write_text(SOURCE)
    worker, fake = EngineWorker(), FakeEngine()
    worker.load(lambda: fake).result()
    docs = DocumentStore()
    syntax = SyntaxStore(docs)
    doc = docs.open(path.as_uri(), SOURCE, 1, "python")
    yield ActionService(worker, docs, syntax=syntax), fake, doc, docs
    worker.shutdown()


def _target(kind: ActionKind, doc, line: int, col: int, end: tuple[int, int] | None = None,
            **kw) -> ActionTarget:
    stop = Position(*end) if end else Position(line, col)
    return ActionTarget(kind, doc.uri, Position(line, col), stop, doc.version, **kw)


def test_offers_need_no_model(env) -> None:
    svc, fake, doc, _ = env
    offers = svc.offers(doc, Position(8, 10), Position(8, 10), diagnostics=[DIAG])
    assert [o.kind for o in offers] == [ActionKind.FIX, ActionKind.EXPLAIN, ActionKind.DOCSTRING, ActionKind.TESTS]
    assert fake.history == []
    # outside any function: nothing but what the selection allows
    assert [o.kind for o in svc.offers(doc, Position(0, 0), Position(0, 11))] == [
        ActionKind.EXPLAIN, ActionKind.REWRITE]


async def test_fix_prompt_uses_the_chat_template_and_the_method_dedented(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("```python\ndef average(self, values):\n    total = 0\n    for v in values:\n"
                 "        total += v\n    return total / len(values)\n```")
    result = await svc.run(_target(ActionKind.FIX, doc, 8, 28, diagnostics=(DIAG,)))
    assert result.ok, result.error
    req = fake.history[0]
    assert req.prompt.startswith("<|im_start|>system\n") and req.prompt.endswith("<|im_start|>assistant\n")
    assert "undefined name 'value' (pyflakes F821)" in req.prompt
    assert "\ndef average(self, values):\n    total = 0" in req.prompt  # shown dedented
    assert req.slot == "actions" and req.stop == ("<|im_end|>", "<|endoftext|>")
    (fc,) = result.change.files
    assert fc.result() == SOURCE.replace("len(value)", "len(values)")  # re-indented into the class
    assert [e.old_text for e in fc.edits] == ["        return total / len(value)\n"]


async def test_a_partial_answer_is_not_allowed_to_replace_the_function(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("```python\nreturn total / len(values)\n```")
    result = await svc.run(_target(ActionKind.FIX, doc, 8, 28, diagnostics=(DIAG,)))
    assert result.change is None and "only part of the code" in (result.error or "")


async def test_no_change_and_cut_off_answers_are_reported(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("```python\ndef area(r):\n    return math.pi * r * r\n```")
    result = await svc.run(_target(ActionKind.REWRITE, doc, 11, 0, (13, 0), instruction="tidy"))
    assert result.error == "the model suggested no change"
    svc.options.max_tokens = 5
    fake.enqueue("```python\ndef area(r):\n    return math.pi * r ** 2\n```")
    result = await svc.run(_target(ActionKind.REWRITE, doc, 11, 0, (13, 0), instruction="tidy"))
    assert "cut off" in (result.error or "")


async def test_docstring_for_a_class(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("Running statistics over numbers.")
    result = await svc.run(_target(ActionKind.DOCSTRING, doc, 3, 8))
    assert result.ok, result.error
    assert result.change.files[0].result().startswith(
        'import math\n\n\nclass Stats:\n    """Running statistics over numbers."""\n    def average')
    assert "class `Stats`" in fake.history[0].prompt


async def test_tests_file_is_created_without_a_copy_of_the_code(env, tmp_path: Path) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("```python\nimport math\n\ndef area(r):\n    return 0\n\n\ndef test_area():\n"
                 "    assert area(2) == 4 * math.pi\n```")
    result = await svc.run(_target(ActionKind.TESTS, doc, 12, 8))
    assert result.ok, result.error
    (fc,) = result.change.files
    assert fc.create and fc.uri == (tmp_path / "tests" / "test_stats.py").as_uri()
    text = fc.result()
    assert text.startswith("from pkg.stats import area\n\nimport math\n")
    assert "return 0" not in text and "def test_area():" in text
    assert "from pkg.stats import area" in fake.history[0].prompt and "pytest" in fake.history[0].prompt


async def test_explain_selection_returns_markdown(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("Imports **math**.")
    result = await svc.run(_target(ActionKind.EXPLAIN, doc, 0, 0, (0, 11)))
    assert result.markdown == "### Explain selection\n\nImports **math**.\n" and result.change is None


async def test_streaming_and_cancel(env) -> None:
    svc, fake, doc, _ = env
    fake.enqueue("one two three four five six")
    seen: list[str] = []
    cancel = CancelToken()

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == 2:
            cancel.cancel("user")

    result = await svc.run(_target(ActionKind.EXPLAIN, doc, 12, 8), cancel=cancel, on_text=on_text)
    assert result.cancelled and result.change is None and result.markdown is None
    assert seen[:2] == ["one", "one two"]


async def test_edit_is_rebased_when_the_user_typed_meanwhile(env) -> None:
    svc, fake, doc, docs = env
    fake.enqueue("```python\ndef area(r):\n    return math.pi * r ** 2\n```")
    seen: list[str] = []

    def type_while_generating(text: str) -> None:
        if not seen:
            docs.change(doc.uri, 2, [TextChange("# typed\n", Range(Position(0, 0), Position(0, 0)))])
        seen.append(text)

    result = await svc.run(_target(ActionKind.REWRITE, doc, 11, 0, (13, 0), instruction="square"),
                           on_text=type_while_generating)
    assert result.ok, result.error
    (fc,) = result.change.files
    assert fc.version == 2
    assert fc.result() == "# typed\n" + SOURCE.replace("r * r", "r ** 2")


async def test_an_edit_to_code_the_user_changed_is_refused(env) -> None:
    svc, fake, doc, docs = env
    fake.enqueue("```python\ndef area(r):\n    return math.pi * r ** 2\n```")

    def rewrite_the_same_code(text: str) -> None:
        if doc.version == 1:
            docs.change(doc.uri, 2, [TextChange("rr", Range(Position(12, 20), Position(12, 21)))])

    result = await svc.run(_target(ActionKind.REWRITE, doc, 11, 0, (13, 0), instruction="square"),
                           on_text=rewrite_the_same_code)
    assert result.change is None and "changed while the model was working" in (result.error or "")


async def test_refusals_without_a_model_call(env) -> None:
    svc, fake, doc, _ = env
    cases = [
        (_target(ActionKind.FIX, doc, 8, 28), "no problem to fix"),
        (_target(ActionKind.REWRITE, doc, 11, 0, (13, 0)), "needs an instruction"),
        (_target(ActionKind.REWRITE, doc, 1, 0, (2, 0), instruction="x"), "select the code"),
        (_target(ActionKind.DOCSTRING, doc, 0, 3), "inside a function or class"),
        (_target(ActionKind.TESTS, doc, 0, 3), "inside a function"),
        (ActionTarget(ActionKind.EXPLAIN, "file:///nope.py", Position(0, 0), Position(0, 0)), "not open"),
    ]
    for target, why in cases:
        result = await svc.run(target)
        assert why in (result.error or ""), (target.kind, result.error)
    assert fake.history == []


def test_targets_round_trip_and_bad_input() -> None:
    t = ActionTarget(ActionKind.FIX, "file:///a.py", Position(1, 2), Position(1, 4), 3, (DIAG,), "")
    assert ActionTarget.from_json(t.to_json()) == t
    for raw, why in [({}, "unknown action"), ({"action": "fix"}, "uri"),
                     ({"action": "fix", "uri": "file:///a", "range": {"start": {"line": -1, "character": 0},
                                                                     "end": {"line": 0, "character": 0}}},
                      "non-negative"),
                     ({"action": "fix", "uri": "file:///a", "range": {"start": {"line": 2, "character": 0},
                                                                     "end": {"line": 1, "character": 0}}},
                      "ends before")]:
        with pytest.raises(ActionError, match=why):
            ActionTarget.from_json(raw)


async def test_a_big_class_is_documented_from_its_outline(env) -> None:
    svc, fake, _, docs = env
    methods = "".join(f"\n    def m{i}(self):\n        return {i} * SECRET\n" for i in range(30))
    doc = docs.open("file:///tmp/big.py", "class Big:\n    size = 3\n" + methods, 1, "python")
    fake.enqueue("A class with many methods.")
    result = await svc.run(ActionTarget(ActionKind.DOCSTRING, doc.uri, Position(0, 3), Position(0, 3), 1))
    assert result.ok, result.error
    prompt = fake.history[0].prompt
    assert "def m29(self):" in prompt and "SECRET" not in prompt
    assert result.change.files[0].result().startswith('class Big:\n    """A class with many methods."""\n    size = 3')


async def test_a_huge_document_gets_no_actions_and_a_clear_refusal(env) -> None:
    svc, fake, _, docs = env
    from qwill.context.syntax import MAX_PARSE_CHARS

    doc = docs.open("file:///tmp/huge.py", "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1), 1, "python")
    assert svc.offers(doc, Position(0, 0), Position(0, 5)) == []
    result = await svc.run(ActionTarget(ActionKind.EXPLAIN, doc.uri, Position(0, 0), Position(0, 5), 1))
    assert "too large" in (result.error or "") and fake.history == []


# -- fixes by model size ------------------------------------------------------------------
HYPOT = '''import math


def label(x):
    return str(x)


def hypot(a, b):
    scale = 1
    return mth.sqrt(a*a + b*b) * scale
'''
MTH = Diagnostic("undefined name 'mth'", Position(9, 11), Position(9, 14), "pyflakes", "F821")


@pytest.fixture
def small(tmp_path: Path):
    """The service over a fake engine that says it is a 0.5B model."""
    worker, fake = EngineWorker(), FakeEngine()
    fake.info.parameters = 494_000_000
    worker.load(lambda: fake).result()
    docs = DocumentStore()
    doc = docs.open((tmp_path / "geo.py").as_uri(), HYPOT, 1, "python")
    yield ActionService(worker, docs, syntax=SyntaxStore(docs)), fake, doc
    worker.shutdown()


async def test_a_small_model_is_asked_for_the_problem_line_only(small) -> None:
    svc, fake, doc = small
    fake.enqueue("```python\nreturn math.sqrt(a*a + b*b) * scale\n```")
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(MTH,)))
    assert result.ok, result.error
    prompt = fake.history[0].prompt
    assert "The file starts with:\n```python\nimport math\n```" in prompt  # what `mth` may have meant
    assert "The problem is on the line:\n```python\nreturn mth.sqrt(a*a + b*b) * scale\n```" in prompt
    assert "def hypot(a, b):\n    scale = 1" in prompt  # the function, for understanding
    (fc,) = result.change.files
    assert [e.old_text for e in fc.edits] == ["    return mth.sqrt(a*a + b*b) * scale\n"]
    assert fc.result() == HYPOT.replace("mth.", "math.")
    assert len(fake.history) == 1


async def test_a_whole_function_answer_counts_when_it_changes_only_the_problem_line(small) -> None:
    svc, fake, doc = small
    fake.enqueue("```python\ndef hypot(a, b):\n    scale = 1\n    return math.sqrt(a*a + b*b) * scale\n```")
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(MTH,)))
    assert result.ok, result.error
    assert result.change.files[0].result() == HYPOT.replace("mth.", "math.")


async def test_an_answer_outside_the_problem_lines_is_refused_then_the_range_infilled(small) -> None:
    svc, fake, doc = small
    fake.enqueue("```python\ndef hypot(a, b):\n    scale = 2\n    return mth.sqrt(a*a + b*b) * scale\n```",
                 "math.sqrt(a*a + b*b) * scale")  # the infill, with its own copy of the rest of the line
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(MTH,)))
    assert result.ok, result.error
    assert len(fake.history) == 2
    infill = fake.history[1]
    assert infill.fim is not None and infill.fim.prefix.endswith("    return ")
    assert infill.fim.suffix.startswith(".sqrt(a*a + b*b) * scale\n") and "\n" in infill.stop
    assert infill.prompt.startswith("<|fim_prefix|>")  # the engine's FIM format, not a chat
    (fc,) = result.change.files
    assert [(e.old_text, e.new_text) for e in fc.edits] == [("mth", "math")]
    assert fc.result() == HYPOT.replace("mth.", "math.")


async def test_hostile_answers_change_nothing_and_the_message_tells_both_asks(small) -> None:
    svc, fake, doc = small
    fake.enqueue("```python\nimport os\n```", "__import__('os').system('true') or math")
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(MTH,)))
    assert result.change is None
    assert result.error == ("the model replaced the problem's line with different code; nothing was changed; "
                            "asked again for an infill of `mth`: the model's replacement for `mth` is not a "
                            "name: \"__import__('os').system('true') or math\"")


async def test_an_infill_that_breaks_the_syntax_is_refused(small) -> None:
    svc, fake, doc = small
    fake.enqueue("```python\nreturn math.sqrt((a*a + b*b) * scale\n```", "mth")
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(MTH,)))
    assert result.change is None
    assert result.error == ("the model's edit would leave geo.py with syntax errors (line 10); nothing was "
                            "changed; asked again for an infill of `mth`: the model suggested no change")


async def test_a_linter_range_to_the_end_of_the_line_infills_the_quoted_name(small) -> None:
    svc, fake, doc = small
    wide = Diagnostic("undefined name 'mth'", Position(9, 11), Position(9, 40), "pyflakes")
    fake.enqueue("no code here", "math")
    result = await svc.run(_target(ActionKind.FIX, doc, 9, 11, diagnostics=(wide,)))
    assert result.ok, result.error
    assert [(e.old_text, e.new_text) for e in result.change.files[0].edits] == [("mth", "math")]


async def test_a_large_model_gets_the_whole_function_then_the_lines(env) -> None:
    svc, fake, doc, _ = env
    fake.info.parameters = 30_000_000_000
    unchanged = ("```python\ndef average(self, values):\n    total = 0\n    for v in values:\n"
                 "        total += v\n    return total / len(value)\n```")
    fake.enqueue(unchanged, "```python\nreturn total / len(values)\n```")
    result = await svc.run(_target(ActionKind.FIX, doc, 8, 28, diagnostics=(DIAG,)))
    assert result.ok, result.error
    assert "all of the code" in fake.history[0].prompt and "import math" in fake.history[0].prompt
    assert "The problem is on the line" in fake.history[1].prompt
    assert result.change.files[0].result() == SOURCE.replace("len(value)", "len(values)")
    assert len(fake.history) == 2  # one retry, then the answer stands or falls

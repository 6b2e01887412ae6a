"""Next-edit prediction with the scripted fake engine: history, diffs, region, formats, rules."""

from __future__ import annotations

import asyncio

import pytest

from qwill.config import NextEditSettings
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.edit_history import EditHistory
from qwill.context.languages import language_for
from qwill.engine.base import CancelToken
from qwill.engine.chat import ChatFormat
from qwill.engine.fake import FakeEngine
from qwill.engine.worker import EngineWorker
from qwill.nextedit.diffs import TextEdit, apply_edits, changed_lines, hunks, minimal_edits, unified_diff
from qwill.nextedit.formats import (
    FORMATS,
    FormatError,
    PromptInputs,
    choose_format,
    detect_format,
)
from qwill.nextedit.region import editable_region, region_of_lines
from qwill.nextedit.rules import check, error_count
from qwill.nextedit.service import NextEditService, build_inputs

PY = language_for("python")

SOURCE = """import math


def area(radius):
    '''The area of a circle.'''
    return math.pi * radius * radius


def main():
    print(area(2))
"""


def _type(docs: DocumentStore, uri: str, line: int, col: int, text: str, delete: int = 0) -> None:
    """Type `text` at line:col (after deleting `delete` characters there), one change per
    character as an editor sends keystrokes."""
    doc = docs.get(uri)
    assert doc is not None
    if delete:
        docs.change(uri, doc.version + 1, [TextChange("", Range(Position(line, col), Position(line, col + delete)))])
    for i, ch in enumerate(text):
        docs.change(uri, doc.version + 1, [TextChange(ch, Range(Position(line, col + i), Position(line, col + i)))])


# -- history ---------------------------------------------------------------------------------

def test_keystrokes_on_one_line_are_one_group_and_an_edit_elsewhere_starts_another() -> None:
    docs, history = DocumentStore(), EditHistory()
    docs.listeners.append(history.on_change)
    docs.open("file:///a.py", SOURCE, 1, "python")
    assert history.groups() == []  # opening is not an edit
    _type(docs, "file:///a.py", 3, 9, "r", delete=6)  # radius -> r
    groups = history.groups("file:///a.py")
    assert len(groups) == 1
    assert groups[0].before == SOURCE
    assert "def area(r):" in groups[0].after
    _type(docs, "file:///a.py", 9, 4, "x = 1\n    ")
    groups = history.groups("file:///a.py")
    assert len(groups) == 2
    assert groups[1].before == groups[0].after
    assert history.last("file:///a.py") is groups[1]


def test_typing_and_deleting_it_again_leaves_no_group() -> None:
    docs, history = DocumentStore(), EditHistory()
    docs.listeners.append(history.on_change)
    docs.open("file:///a.py", SOURCE, 1)
    _type(docs, "file:///a.py", 9, 4, "ab")
    docs.change("file:///a.py", None, [TextChange("", Range(Position(9, 4), Position(9, 6)))])
    assert history.groups() == []


def test_history_is_bounded() -> None:
    history = EditHistory(per_document=2, documents=2)
    for i in range(5):
        history.record(f"file:///{i % 3}.py", "a\n" * 40, "b\n" * 40, i * 10, i * 10)
    assert len(history.groups()) <= 4
    assert len({g.uri for g in history.groups()}) == 2


# -- diffs -----------------------------------------------------------------------------------

def test_unified_diff_and_hunks() -> None:
    before = "a\nb\nc\n"
    after = "a\nB\nc\n"
    diff = unified_diff(before, after, "x.py", context=1)
    assert diff.startswith("--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n")
    assert "-b\n+B\n" in diff
    assert hunks(before, after).startswith("@@ -2 +2 @@\n-b\n+B")
    assert changed_lines(before, after) == ("b\n", "B\n")
    assert unified_diff(before, before, "x.py") == ""


def test_minimal_edits_are_character_sized_and_apply() -> None:
    old = "def f(a):\n    return a + 1\n\nprint(f(2))\n"
    new = "def f(b):\n    return b + 1\n\nprint(f(2))\n"
    edits = minimal_edits(old, new, base=100)
    assert [(e.start - 100, e.end - 100, e.text) for e in edits] == [(6, 7, "b"), (21, 22, "b")]
    assert apply_edits("x" * 100 + old, edits) == "x" * 100 + new
    added = minimal_edits("a\nc\n", "a\nb\nc\n")
    assert added == [TextEdit(2, 2, "b\n")]
    assert minimal_edits("same\n", "same\n") == []
    with pytest.raises(ValueError):
        apply_edits("abc", [TextEdit(0, 2, "x"), TextEdit(1, 3, "y")])


# -- region ----------------------------------------------------------------------------------

def test_region_sits_mostly_below_the_cursor_and_is_whole_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    cursor = text.index("line 50")
    r = editable_region(text, cursor + 3, 12)
    assert (r.first, r.last) == (48, 59)
    assert r.text(text).startswith("line 48\n") and r.text(text).endswith("line 59\n")


def test_region_moves_to_cover_the_last_edit_when_both_fit() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    cursor = text.index("line 50")
    r = editable_region(text, cursor, 12, last_edit=(44, 44))
    assert r.first == 44 and r.last == 55
    far = editable_region(text, cursor, 12, last_edit=(10, 10))  # too far: the cursor wins
    assert far.first == 48
    below = editable_region(text, cursor, 12, last_edit=(58, 60))
    assert below.last == 60 and below.first <= 50


def test_region_is_clamped_to_the_text() -> None:
    text = "a\nb\nc"
    r = editable_region(text, 0, 15)
    assert (r.first, r.last, r.start, r.end) == (0, 2, 0, len(text))
    assert region_of_lines("", 0, 3).text("") == ""


# -- formats -----------------------------------------------------------------------------------

def _inputs(**kw: object) -> PromptInputs:
    base: dict[str, object] = dict(path="pkg/geo.py", language="python", edits=(), region="def f(r):\n    return radius\n",
                                   cursor=7, original_region="def f(radius):\n    return radius\n",
                                   above="import math\n", below="\nx = 1\n")
    base.update(kw)
    return PromptInputs(**base)  # type: ignore[arg-type]


def test_instruct_prompt_puts_the_stable_part_first_and_parses_a_fenced_answer() -> None:
    fmt = FORMATS["instruct"]
    inputs = _inputs()
    rendered = fmt.render(inputs, ChatFormat())
    assert rendered.prompt.startswith("<|im_start|>system\nYou predict a programmer's next edit.")
    # the region comes last, the assistant turn is opened with a fence
    assert rendered.prompt.index("import math") < rendered.prompt.index("return radius")
    assert rendered.prompt.endswith("<|im_start|>assistant\n```python\n")
    assert fmt.parse("def f(r):\n    return r", inputs) == "def f(r):\n    return r\n"
    assert fmt.parse("def f(r):\n    return r\n```\n", inputs) == "def f(r):\n    return r\n"
    with pytest.raises(FormatError):
        fmt.parse("def f(r):\n```\nAnd here is why.", inputs)


def test_instruct_fence_is_longer_than_backticks_in_the_code() -> None:
    inputs = _inputs(region="s = '```'\n")
    rendered = FORMATS["instruct"].render(inputs, ChatFormat())
    assert rendered.prompt.endswith("````python\n")
    assert "\n````" in rendered.stop


def test_sweep_prompt_shape_and_parse() -> None:
    from qwill.nextedit.formats import EditDiff

    fmt = FORMATS["sweep"]
    edit = EditDiff("pkg/geo.py", "@@ -1 +1 @@\n-def f(radius):\n+def f(r):\n", "def f(radius):\n", "def f(r):\n")
    inputs = _inputs(edits=(edit,))
    rendered = fmt.render(inputs, ChatFormat())
    assert rendered.prompt == (
        "<|file_sep|>pkg/geo.py.diff\noriginal:\ndef f(radius):\nupdated:\ndef f(r):\n"
        "<|file_sep|>original/pkg/geo.py\ndef f(radius):\n    return radius\n"
        "<|file_sep|>current/pkg/geo.py\ndef f(r):\n    return radius\n"
        "<|file_sep|>updated/pkg/geo.py\n")
    assert "<|file_sep|>" in rendered.stop
    assert fmt.parse("def f(r):\n    return r\n", inputs) == "def f(r):\n    return r\n"
    with pytest.raises(FormatError):
        fmt.parse("def f(r):\n<|fim_middle|>", inputs)


def test_zeta_prompt_shape_and_parse() -> None:
    from qwill.nextedit.formats import EditDiff

    fmt = FORMATS["zeta"]
    edit = EditDiff("pkg/geo.py", "@@ -1 +1 @@\n-def f(radius):\n+def f(r):\n", "", "")
    inputs = _inputs(edits=(edit,))
    prompt = fmt.render(inputs, ChatFormat()).prompt
    assert prompt.startswith("### Instruction:\nYou are a code completion assistant")
    assert "### User Edits:\n\nUser edited \"pkg/geo.py\":\n```diff\n@@ -1 +1 @@\n" in prompt
    assert "<|editable_region_start|>\ndef f(r<|user_cursor_is_here|>):\n    return radius\n<|editable_region_end|>\n" \
        in prompt
    assert prompt.endswith("### Response:\n")
    answer = "```pkg/geo.py\nimport math\n<|editable_region_start|>\ndef f(r<|user_cursor_is_here|>):\n    return r\n"
    assert fmt.parse(answer, inputs) == "def f(r):\n    return r\n"
    with pytest.raises(FormatError):
        fmt.parse("def f(r):\n    return r\n", inputs)


def test_format_is_chosen_from_the_model_names_and_overridable() -> None:
    assert detect_format(["Sweep Next Edit 1.5B", "sweep-next-edit-1.5b.q8_0.gguf"]) == "sweep"
    assert detect_format(["zeta", "zeta-q4_k_m.gguf"]) == "zeta"
    assert detect_format(["Qwen2.5 Coder 0.5B Instruct", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"]) == "instruct"
    assert choose_format("sweep", ["Qwen2.5 Coder"]).name == "sweep"
    assert choose_format("auto", ["sweep_next_edit_0.5b"]).name == "sweep"


# -- rules -------------------------------------------------------------------------------------

BEFORE = "def area(radius):\n    return radius * radius\n"
NOW = "def area(r):\n    return radius * radius\n"


def _check(new_text: str, now: str = NOW, before: str = BEFORE):
    region = region_of_lines(now, 0, 5)
    edits = minimal_edits(region.text(now), new_text, region.start)
    return check(now, region, edits, last_before=before, last_after=now, spec=PY, new_region=new_text)


def test_rules_accept_the_edit_that_follows() -> None:
    assert _check("def area(r):\n    return r * r\n") is None


def test_rules_reject_no_op_undo_and_worse_parse() -> None:
    assert _check(NOW).rule == "no-op"
    assert _check(BEFORE).rule == "undo"
    # putting the old name back while also changing something else still undoes the edit
    assert _check("def area(radius):\n    return r * r\n").rule == "undo"
    assert _check("def area(r):\n    return (r * r\n").rule == "parse"
    # what the user typed removed again: an undo too
    typed_before = "x = 1\n"
    typed_now = "x = 1\ny = 2\n"
    assert _check("x = 1\n", now=typed_now, before=typed_before).rule == "undo"


def test_rules_reject_edits_outside_the_region_and_copied_context() -> None:
    text = "a = 1\nb = 2\nc = 3\nd = 4\n"
    region = region_of_lines(text, 1, 2)
    outside = [TextEdit(0, 1, "z")]
    assert check(text, region, outside, last_before=None, last_after=None, spec=PY,
                 new_region="b = 2\nc = 3\n").rule == "outside-region"
    copied = "a = 1\nb = 2\nc = 3\n"
    edits = minimal_edits(region.text(text), copied, region.start)
    assert check(text, region, edits, last_before=None, last_after=None, spec=PY, new_region=copied,
                 above="a = 1\n").rule == "outside-region"


def test_rules_reject_an_answer_that_deletes_most_of_the_region() -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(8))
    region = region_of_lines(text, 0, 7)
    for new in ("", "x0 = 0\n"):
        edits = minimal_edits(region.text(text), new, region.start)
        assert check(text, region, edits, last_before=None, last_after=None, spec=PY,
                     new_region=new).rule == "shrinks"


def test_error_count() -> None:
    assert error_count("def f():\n    return 1\n", PY) == 0
    assert error_count("def f(:\n    return 1\n", PY) > 0


# -- the service --------------------------------------------------------------------------------

@pytest.fixture
def env():
    worker, fake = EngineWorker(), FakeEngine()
    worker.load(lambda: fake).result()
    docs = DocumentStore()
    history = EditHistory()
    docs.listeners.append(history.on_change)
    service = NextEditService(lambda: worker, docs, history, NextEditSettings())
    uri = "file:///proj/geo.py"
    docs.open(uri, SOURCE, 1, "python")
    yield service, fake, docs, uri
    worker.shutdown()


def _offset(docs: DocumentStore, uri: str, line: int, col: int) -> int:
    doc = docs.get(uri)
    assert doc is not None
    return doc.offset_at(Position(line, col))


def test_service_predicts_the_rename_in_the_body(env) -> None:
    service, fake, docs, uri = env
    _type(docs, uri, 3, 9, "r", delete=6)
    doc = docs.get(uri)
    assert doc is not None
    region_now = doc.text[doc.text.index("import math"):]
    fake.enqueue(region_now.replace("math.pi * radius * radius", "math.pi * r * r") + "```")
    result = asyncio.run(service.predict(uri, _offset(docs, uri, 3, 10)))
    assert result.error == "" and result.rejection is None, result.reason
    pred = result.prediction
    assert pred is not None
    assert [(docs.get(uri).position_at(e.start), e.text) for e in pred.edits] == [  # type: ignore[union-attr]
        (Position(5, 21), "r"), (Position(5, 30), "r")]
    assert pred.jump == pred.edits[0].start
    prompt = fake.history[-1].prompt
    assert "-def area(radius):\n+def area(r):" in prompt  # the user's edit, as a diff
    assert service.current(uri) is pred
    assert service.counters.predictions == 1
    # a keystroke makes the prediction stale
    _type(docs, uri, 9, 4, "#")
    assert service.current(uri) is None


def test_service_rejects_and_says_why(env) -> None:
    service, fake, docs, uri = env
    _type(docs, uri, 3, 9, "r", delete=6)
    doc = docs.get(uri)
    assert doc is not None
    fake.enqueue(doc.text + "```")  # the region unchanged
    result = asyncio.run(service.predict(uri, _offset(docs, uri, 3, 10)))
    assert result.prediction is None and result.rejection is not None
    assert result.rejection.rule == "no-op"
    # prose instead of code: the fence ends the answer, and one line of prose is no region
    fake.enqueue("Sure! Here is the code:\n```python\nx\n```\nEnjoy.")
    result = asyncio.run(service.predict(uri, _offset(docs, uri, 3, 10)))
    assert result.rejection is not None and result.rejection.rule == "shrinks"
    assert service.counters.rejected == {"no-op": 1, "shrinks": 1}
    assert docs.get(uri).text == doc.text  # type: ignore[union-attr]


def test_service_needs_an_edit_to_follow_and_a_model(env) -> None:
    service, fake, _docs, uri = env
    result = asyncio.run(service.predict(uri, 0))
    assert result.rejection is not None and result.rejection.rule == "no-history"
    assert fake.history == []  # the model was not asked
    result = asyncio.run(service.predict("file:///nope.py", 0))
    assert "not open" in result.error
    result = asyncio.run(service.predict(uri, 10**6))
    assert "outside" in result.error
    service.settings = NextEditSettings(enabled=False)
    assert "off" in asyncio.run(service.predict(uri, 0)).error


def test_a_keystroke_cancels_the_running_prediction(env) -> None:
    service, fake, docs, uri = env
    _type(docs, uri, 3, 9, "r", delete=6)
    fake.delay = 0.05
    fake.enqueue(" ".join(["word"] * 200))

    async def run():
        task = asyncio.ensure_future(service.predict(uri, _offset(docs, uri, 3, 10)))
        while not fake.started.is_set():
            await asyncio.sleep(0.01)
        _type(docs, uri, 9, 4, "#")
        return await task

    result = asyncio.run(run())
    assert result.cancelled
    assert service.counters.cancelled == 1


def test_shown_accepted_rejected_are_counted_once_per_id(env) -> None:
    service, fake, docs, uri = env
    _type(docs, uri, 3, 9, "r", delete=6)
    doc = docs.get(uri)
    assert doc is not None
    fake.enqueue(doc.text.replace("radius * radius", "r * r") + "```")
    pred = asyncio.run(service.predict(uri, _offset(docs, uri, 3, 10))).prediction
    assert pred is not None
    assert service.record(pred.id, "shown") and service.record(pred.id, "shown")
    assert service.record(pred.id, "accepted")
    assert not service.record("ne-unknown", "shown")
    assert (service.counters.shown, service.counters.accepted, service.counters.dismissed) == (1, 1, 0)
    assert service.current(uri) is None  # accepted: no longer offered
    with pytest.raises(ValueError):
        service.record(pred.id, "liked")


def test_inputs_show_the_region_before_the_last_edit() -> None:
    docs, history = DocumentStore(), EditHistory()
    docs.listeners.append(history.on_change)
    uri = "file:///g.py"
    docs.open(uri, SOURCE, 1, "python")
    _type(docs, uri, 3, 9, "r", delete=6)
    doc = docs.get(uri)
    assert doc is not None
    last = history.last(uri)
    region = editable_region(doc.text, doc.offset_at(Position(3, 10)), 6, (last.lo, last.hi))  # type: ignore[union-attr]
    inputs = build_inputs(doc.text, doc.offset_at(Position(3, 10)), region, history.groups(), last, "g.py", "python")
    assert "def area(radius):" in inputs.original_region
    assert "def area(r):" in inputs.region
    assert inputs.edits[0].diff.startswith("@@")
    assert inputs.above.startswith("import math") or region.first == 0


def test_cancel_token_given_by_the_caller_is_honoured(env) -> None:
    service, fake, docs, uri = env
    _type(docs, uri, 3, 9, "r", delete=6)
    token = CancelToken()
    token.cancel()
    fake.enqueue("anything")
    result = asyncio.run(service.predict(uri, _offset(docs, uri, 3, 10), cancel=token))
    assert result.cancelled


def test_next_edit_model_gets_its_own_engine_and_empty_shares_the_completion_one() -> None:
    from qwill.config import parse_settings
    from qwill.session import Session

    from .test_session import counting_factories

    made: list[str] = []
    factory = counting_factories(made)
    shared = Session(engine_factory=factory("completion"), next_edit_engine_factory=factory("next-edit"))
    asyncio.run(shared.load_model())
    assert shared.next_edit_engine is shared.engine and made == ["completion"]
    shared.close()
    made.clear()
    own = Session(parse_settings({"nextEdit": {"model": "default-1.5b"}}).settings,
                  engine_factory=factory("completion"), next_edit_engine_factory=factory("next-edit"))
    asyncio.run(own.load_model())
    assert own.next_edit_engine is not own.engine and made == ["completion", "next-edit"]
    assert own.next_edit_engine.status.usable
    own.close()

"""Next-edit prediction on the real default GGUF: the edit that follows a rename.

The service runs as the server runs it (the edit ring fed by the document store, the
instruct prompt through the model's chat template, greedy decoding); the document sits
at a fixed path, so the prompt, and with greedy decoding the answer, is the same on every
machine. The cases are ones the 0.5B model gets right: the rest of a rename of a parameter
and of a local. (A rename of `radius` in `area(radius)` with a docstring between signature and
use is not one: the model adds a second call in `main` instead, so it is not tested here.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.config import EngineSettings, NextEditSettings
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.edit_history import EditHistory
from qwill.engine.loader import load_engine
from qwill.engine.worker import EngineWorker
from qwill.nextedit.diffs import apply_edits
from qwill.nextedit.service import NextEditService

pytestmark = pytest.mark.model

URI = "file:///qwill-test/geometry.py"  # fixed: the path is part of the prompt

GREET = '''def greet(name):
    message = "Hello, " + name
    print(message)
    return message
'''
SUMMARIZE = '''def summarize(prices):
    total = 0
    for price in prices:
        total += price
    return total
'''


@pytest.fixture(scope="module")
def worker(default_model_path: Path):
    w = EngineWorker()
    w.load(lambda: load_engine(EngineSettings(model=str(default_model_path), context_size=4096,
                                              n_threads=2))).result()
    yield w
    w.shutdown()


def _service(worker: EngineWorker, text: str) -> tuple[NextEditService, DocumentStore]:
    docs, history = DocumentStore(), EditHistory()
    docs.listeners.append(history.on_change)
    docs.open(URI, text, 1, "python")
    return NextEditService(lambda: worker, docs, history, NextEditSettings()), docs


def _type_over(docs: DocumentStore, line: int, col: int, old: str, new: str) -> None:
    """Select `old` at line:col and type `new` over it, a keystroke per character."""
    doc = docs.get(URI)
    assert doc is not None and doc.line(line)[col:col + len(old)] == old
    docs.change(URI, doc.version + 1, [TextChange("", Range(Position(line, col), Position(line, col + len(old))))])
    for i, ch in enumerate(new):
        docs.change(URI, doc.version + 1, [TextChange(ch, Range(Position(line, col + i), Position(line, col + i)))])


@pytest.mark.parametrize(("source", "line", "col", "old", "new"), [
    (GREET, 0, 10, "name", "person"),  # a parameter, its use on the next line
    (SUMMARIZE, 1, 4, "total", "subtotal"),  # a local, its uses in the loop and the return
], ids=["parameter", "local"])
async def test_a_rename_predicts_the_uses_below(worker: EngineWorker, source: str, line: int, col: int, old: str,
                                                new: str) -> None:
    service, docs = _service(worker, source)
    _type_over(docs, line, col, old, new)
    doc = docs.get(URI)
    assert doc is not None
    renamed = doc.text
    cursor = doc.offset_at(Position(line, col + len(new)))
    result = await service.predict(URI, cursor)
    assert result.prediction is not None, (result.reason, result.answer)
    # the rest of the rename and nothing else: every other line is as the user left it
    assert apply_edits(renamed, list(result.prediction.edits)) == source.replace(old, new), result.answer
    assert result.prediction.jump == renamed.index(old, cursor)  # the first use after the cursor: the jump
    assert all(renamed[e.start:e.end] == old and e.text == new for e in result.prediction.edits)

"""The provider: one token budget over every source, stable blocks, switches, and the
Session wiring that puts cross-file definitions into the prompt the engine gets."""

from __future__ import annotations

from pathlib import Path

from qwill.completion.service import CompletionRequest
from qwill.config import ContextSettings, parse_settings
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.provider import ContextProvider
from qwill.context.syntax import SyntaxStore
from qwill.engine.fake import FakeEngine
from qwill.session import Session

GEOMETRY = '''class Circle:
    """A circle."""

    def __init__(self, r):
        self.r = r

    def area(self):
        return 3.14 * self.r ** 2


def clamp(x, lo, hi):
    """Clamp x into [lo, hi]."""
    return max(lo, min(x, hi))


MAX_RADIUS = 100
'''
APP = "from geometry import Circle, clamp, MAX_RADIUS\n\n\ndef total(rs):\n    shapes = [Circle(r) for r in rs]\n    return clamp("


def workspace(tmp_path: Path) -> Path:
    (tmp_path / "geometry.py").write_text(GEOMETRY)
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def provider(tmp_path: Path, **settings: object) -> tuple[DocumentStore, ContextProvider]:
    docs = DocumentStore()
    p = ContextProvider(docs, SyntaxStore(docs), ContextSettings(**settings))  # type: ignore[arg-type]
    p.index_roots([workspace(tmp_path)])
    return docs, p


def test_budget_bounds_the_blocks_and_explain_says_why(tmp_path: Path) -> None:
    docs, p = provider(tmp_path)
    uri = (tmp_path / "app.py").as_uri()
    docs.open(uri, APP, 1, "python")
    full = p.build(uri, APP, len(APP), 0, len(APP))
    assert full.tokens <= full.budget == 512
    assert [f.path for f in full.files] == ["geometry.py"]
    assert {i.source for i in full.items if i.included} == {"definitions"}
    small = ContextProvider(docs, SyntaxStore(), ContextSettings(token_budget=30))  # type: ignore[call-arg]
    small.index = p.index
    tight = small.build(uri, APP, len(APP), 0, len(APP))
    assert tight.tokens <= 30
    assert any(not i.included and i.note == "over the token budget" for i in tight.items)
    text = full.render()
    assert "context:" in text and "+ definitions" in text and "geometry.py" in text
    assert p.explain(uri) is full


def test_blocks_keep_their_place_while_typing_in_the_same_scope(tmp_path: Path) -> None:
    docs, p = provider(tmp_path)
    uri = (tmp_path / "app.py").as_uri()
    doc = docs.open(uri, APP, 1, "python")
    first = p.build(uri, doc.text, len(doc.text), 0, len(doc.text))
    # type "x, 0, MAX_RADIUS)" keystroke by keystroke: earlier blocks never move
    line = doc.line_count - 1
    for version, ch in enumerate("x, 0, MAX_RADIUS)", start=2):
        col = len(doc.line(line))
        docs.change(uri, version, [TextChange(ch, Range(Position(line, col), Position(line, col)))])
        nxt = p.build(uri, doc.text, len(doc.text), 0, len(doc.text))
        prev_text = "".join(f.path + f.text for f in first.files)
        assert "".join(f.path + f.text for f in nxt.files).startswith(prev_text[: len(prev_text) // 2])
        first = nxt
    assert "MAX_RADIUS = 100" in "".join(f.text for f in first.files)
    assert first.kept >= 1


def test_each_source_can_be_switched_off(tmp_path: Path) -> None:
    docs, p = provider(tmp_path, definitions=False)
    uri = (tmp_path / "app.py").as_uri()
    docs.open(uri, APP, 1, "python")
    assert p.build(uri, APP, len(APP), 0, len(APP)).files == ()
    _, off = provider(tmp_path, enabled=False)
    assert off.build(uri, APP, len(APP), 0, len(APP)).files == ()
    _, zero = provider(tmp_path, token_budget=0)
    assert zero.build(uri, APP, len(APP), 0, len(APP)).files == ()


def test_unknown_language_still_gets_text_sources_and_no_error(tmp_path: Path) -> None:
    docs, p = provider(tmp_path)
    notes = "Circle and clamp are used here\n"
    uri = (tmp_path / "notes.txt").as_uri()
    docs.open(uri, notes, 1, "plaintext")
    result = p.build(uri, notes, len(notes) - 1, 0, len(notes), language_id="plaintext")
    assert result.language is None
    assert {f.path for f in result.files} <= {"geometry.py"}


async def indexed_session(root: Path, engine: FakeEngine) -> Session:
    """A session on `engine` with the workspace at `root` indexed."""
    session = Session(parse_settings({"context": {"tokenBudget": 400}}).settings,
                      engine_factory=lambda settings, progress: engine)
    await session.load_model()
    session.context.index_roots([root])
    return session


async def test_session_puts_cross_file_definitions_into_the_prompt(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    engine = FakeEngine(["0, 1)"])
    session = await indexed_session(root, engine)
    try:
        uri = (root / "app.py").as_uri()
        session.documents.open(uri, APP, 1, "python")
        req = CompletionRequest(uri=uri, text=APP, offset=len(APP), path=str(root / "app.py"),
                                language_id="python")
        suggestion = await session.completion.complete(req)
        assert suggestion is not None
        prompt = engine.history[-1].prompt
        head, _, window = prompt.partition("<|fim_prefix|>")
        assert head.startswith("<|repo_name|>")
        assert "<|file_sep|>geometry.py\n" in head
        assert "def clamp(x, lo, hi):" in head and "class Circle:" in head
        assert head.rstrip().endswith("<|file_sep|>app.py")
        assert window.startswith("from geometry import")
        # settings switch it off
        session.update_settings({"context": {"enabled": False}})
        session.documents.close(uri)
        session.documents.open(uri, APP + "x", 2, "python")
        engine.enqueue("y")
        await session.completion.complete(CompletionRequest(
            uri=uri, text=APP + "x", offset=len(APP) + 1, path=str(root / "app.py"), language_id="python"))
        assert "geometry.py" not in engine.history[-1].prompt
    finally:
        session.close()


async def test_context_follows_the_model_size(tmp_path: Path) -> None:
    """Under 3B parameters the prompt is the window alone unless context.smallModels; the
    explanation says why; a large (or unknown-size) model gets the context."""
    root = workspace(tmp_path)
    engine = FakeEngine(["0, 1)", "0, 1)", "0, 1)"])
    engine.info.parameters = 494_000_000  # Qwen2.5-Coder-0.5B
    session = await indexed_session(root, engine)
    try:
        uri = (root / "app.py").as_uri()

        async def prompt_for(text: str, version: int) -> str:
            session.documents.close(uri)
            session.documents.open(uri, text, version, "python")
            await session.completion.complete(CompletionRequest(
                uri=uri, text=text, offset=len(text), path=str(root / "app.py"), language_id="python"))
            return engine.history[-1].prompt

        prompt = await prompt_for(APP, 1)
        assert "geometry.py" not in prompt and prompt.startswith("<|fim_prefix|>from geometry import")
        explained = session.context.explain(uri)
        assert explained is not None and "context.smallModels" in explained.render()
        session.update_settings({"context": {"smallModels": True}})
        assert "<|file_sep|>geometry.py\n" in await prompt_for(APP + " ", 2)
        session.update_settings({"context": {"smallModels": False}})
        engine.info.parameters = 7_600_000_000
        await session.load_model()  # the size is read when the model loads
        assert "<|file_sep|>geometry.py\n" in await prompt_for(APP + "  ", 3)
    finally:
        session.close()

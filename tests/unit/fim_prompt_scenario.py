"""A typing session over a small workspace, for every FIM template: the requests it
makes of the engine are recorded in data/fim_prompts.json (see test_fim_prompt_bytes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwill.completion.service import CompletionRequest
from qwill.config import CompletionSettings, ContextSettings
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.provider import ContextProvider
from qwill.context.syntax import SyntaxStore

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
APP = ("from geometry import Circle, clamp, MAX_RADIUS\n\n\ndef total(rs):\n"
       "    shapes = [Circle(r) for r in rs]\n    \n\n\ndef main():\n    print(total([1, 2]))\n")
TEMPLATE_NAMES = ("qwen", "codegemma", "starcoder", "deepseek", "codellama", "codestral")
TYPED = "return sum(s.area() for s in shapes)"

# make_service(documents, context provider, settings) -> a CompletionService on a FakeEngine
MakeService = Callable[[DocumentStore, ContextProvider, CompletionSettings], Any]


async def run_scenario(root: Path, make_service: MakeService) -> None:
    (root / "geometry.py").write_text(GEOMETRY)
    (root / "app.py").write_text(APP)
    docs = DocumentStore()
    provider = ContextProvider(docs, SyntaxStore(docs), ContextSettings.model_validate({"tokenBudget": 300}))
    provider.index_roots([root])
    service = make_service(docs, provider, CompletionSettings.model_validate({}))
    service.speculate = False
    uri, path = (root / "app.py").as_uri(), str(root / "app.py")
    doc = docs.open(uri, APP, 1, "python")
    at = APP.index("    \n\n\ndef main") + 4
    for n, ch in enumerate(TYPED):  # keystroke by keystroke on line 5
        here = Position(5, 4 + n)
        docs.change(uri, 2 + n, [TextChange(ch, Range(here, here))])
        await service.complete(CompletionRequest(uri, doc.text, at + n + 1, path, "python"))
    # the cursor moves elsewhere (a new anchor), an invoked request there
    other = doc.text.index("print(") + len("print(")
    await service.complete(CompletionRequest(uri, doc.text, other, path, "python", invoked=True))
    # an item selected in the completion popup
    await service.complete(CompletionRequest(uri, doc.text, other, path, "python",
                                             selected=(other, other, "tot")))
    # warm-up at a new place
    await service.warm(uri, doc.text, len(doc.text), path, "python")
    # a buffer of no file and no language
    plain = "x = 1\ny = \n"
    await service.complete(CompletionRequest("untitled:1", plain, plain.index("y = ") + 4, None, ""))

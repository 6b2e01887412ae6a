"""The bytes of every FIM prompt a typing session sends, per template, pinned.

data/fim_prompts.json holds a digest of each request the scenario in
fim_prompt_scenario.py makes (prompt, stops, bounds, and llama-server's /infill body)
as the code rendered them before the FIM format moved below the engine. A change
that alters a prompt fails here; when the change is deliberate (a new prompt layout,
measured), write the file again with QWILL_WRITE_PROMPTS=1 and say so in the commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from qwill.completion.service import CompletionService
from qwill.config import CompletionSettings
from qwill.context.document import DocumentStore
from qwill.context.provider import ContextProvider
from qwill.engine.base import GenerationRequest
from qwill.engine.fake import FakeEngine
from qwill.engine.fim import TEMPLATES
from qwill.engine.remote import wire
from qwill.engine.worker import EngineWorker

from .fim_prompt_scenario import TEMPLATE_NAMES, run_scenario

DATA = Path(__file__).parent / "data" / "fim_prompts.json"


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def row(request: GenerationRequest, template: str) -> list[Any]:
    tpl = TEMPLATES[template]
    infill = wire.llama_server_body(request, 3, tpl) if wire.infill_supported(tpl) else None
    if infill is not None and not request.max_tokens:
        del infill["stop"]  # a warm-up generates nothing: its stops do not matter
    return [digest(request.prompt), len(request.prompt),
            digest(list(request.stop)) if request.max_tokens else None,
            request.max_tokens, request.temperature, request.kv_shift,
            digest(infill) if infill is not None else None]


def session_requests(template: str, tmp_path: Path) -> list[GenerationRequest]:
    worker = EngineWorker()
    engine = FakeEngine(default="x", fim_template=template)
    worker.load(lambda: engine).result(timeout=10)

    def make(docs: DocumentStore, provider: ContextProvider, settings: CompletionSettings) -> CompletionService:
        return CompletionService(worker, settings, provider)

    try:
        asyncio.run(run_scenario(tmp_path, make))
    finally:
        worker.shutdown()
    return engine.history


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_the_prompts_of_a_typing_session_are_unchanged(template: str, tmp_path: Path) -> None:
    history = session_requests(template, tmp_path)
    assert all(str(tmp_path) not in r.prompt for r in history)  # workspace-relative paths only
    got = {"first_prompt": history[0].prompt, "requests": [row(r, template) for r in history]}
    if os.environ.get("QWILL_WRITE_PROMPTS"):
        data = json.loads(DATA.read_text()) if DATA.exists() else {}
        data[template] = got
        DATA.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        return
    expected = json.loads(DATA.read_text())[template]
    assert got["first_prompt"] == expected["first_prompt"]
    for n, (new, old) in enumerate(zip(got["requests"], expected["requests"], strict=True)):
        assert new == old, f"request {n} of the session differs: {history[n].prompt!r}"

"""Shared fixtures: the default model is assembled once per run."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

# what a server under test keeps on the machine (usage counts, policy consents) goes to a
# folder of this run, not the user's state directory; servers inherit it
os.environ.setdefault("QWILL_STATE_DIR", tempfile.mkdtemp(prefix="qwill-test-state-"))


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """The real default GGUF (assembled from its chunk wheels into the cache)."""
    from qwill.engine.resolve import resolve_model

    return resolve_model("default")


@pytest.fixture
def fake_script(tmp_path: Path):
    """Write a fake-engine script and return the `fake:` model spec for it."""

    def make(responses: list[str] | None = None, *, default: str = "", delay: float = 0.0) -> str:
        path = tmp_path / f"fake-{len(list(tmp_path.glob('fake-*')))}.json"
        path.write_text(json.dumps({"responses": responses or [], "default": default, "delay": delay}))
        return f"fake:{path}"

    return make

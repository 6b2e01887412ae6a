"""The workspace index over stdio: built with $/progress after initialize, kept current
by didSave / didChangeWatchedFiles, and its definitions reaching completion context."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .conftest import lsp_session, open_doc

GEOMETRY = '''"""Shapes."""
import math


class Circle:
    """A circle."""

    def __init__(self, r: float) -> None:
        self.r = r

    def area(self) -> float:
        return math.pi * self.r ** 2


def clamp(x: float, lo: float, hi: float) -> float:
    """Clamp x into [lo, hi]."""
    return max(lo, min(x, hi))
'''

APP = '''from pkg.geometry import Circle, clamp


def total_area(rs):
    shapes = [Circle(r) for r in rs]
    return clamp(sum(s.
'''


def make_workspace(root: Path) -> None:
    (root / "pkg").mkdir()
    (root / "pkg" / "geometry.py").write_text(GEOMETRY)
    (root / "pkg" / "app.py").write_text(APP)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "index.js").write_text("function vendoredThing() {}\n")


async def wait_index(client: Any, timeout: float = 120) -> list[Any]:
    """The $/progress reports of the index build, once it ended (the client records them all,
    so this cannot miss an end that came before we looked)."""
    async def ended() -> list[Any]:
        while True:
            for token, reports in list(client.progress_reports.items()):
                if str(token).startswith("qwill-index-") and reports and isinstance(
                        reports[-1], types.WorkDoneProgressEnd):
                    return list(reports)
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(ended(), timeout)


async def explain(client: Any, uri: str, line: int, character: int) -> dict[str, Any]:
    result = await client.protocol.send_request_async("qwill/explainContext", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
    return result if isinstance(result, dict) else _to_dict(result)


def _to_dict(obj: Any) -> Any:
    """pygls hands custom results over as named tuples; the test reads them as JSON."""
    if hasattr(obj, "_asdict"):
        return {k: _to_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_to_dict(x) for x in obj]
    return obj


async def test_index_is_built_with_progress_and_definitions_reach_the_context(
        tmp_path: Path, fake_script) -> None:
    make_workspace(tmp_path)
    async with lsp_session(fake_script(default="x"), workspace=str(tmp_path), wait=False) as (client, status):
        reports = await wait_index(client)
        await status.wait_ready()
        # $/progress: begin ... end, one index build
        assert len([t for t in client.progress_reports if str(t).startswith("qwill-index-")]) == 1
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        assert "definitions in 2 files" in (reports[-1].message or "")

        uri = (tmp_path / "pkg" / "app.py").as_uri()
        open_doc(client, uri, APP)
        result = await explain(client, uri, 5, len("    return clamp(sum(s."))
        included = [i for i in result["items"] if i["included"]]
        assert {(i["source"], i["path"]) for i in included} >= {("definitions", "pkg/geometry.py")}
        text = "\n".join(b["text"] for b in result["blocks"])
        assert "class Circle:" in text and "def clamp(x: float, lo: float, hi: float) -> float:" in text
        assert [s["name"] for s in result["scopes"]] == ["total_area"]
        assert result["tokens"] <= result["budget"]
        assert "vendoredThing" not in text


async def test_watched_files_and_saves_update_the_index(tmp_path: Path, fake_script) -> None:
    make_workspace(tmp_path)
    async with lsp_session(fake_script(default="x"), workspace=str(tmp_path), wait=False) as (client, status):
        await wait_index(client)
        await status.wait_ready()
        uri = (tmp_path / "pkg" / "app.py").as_uri()
        text = APP + "    v = lerp(\n"
        open_doc(client, uri, text)
        before = await explain(client, uri, 6, len("    v = lerp("))
        assert "lerp" not in "\n".join(b["text"] for b in before["blocks"])
        new = tmp_path / "pkg" / "interp.py"
        new.write_text("def lerp(a, b, t):\n    return a + (b - a) * t\n")
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=new.as_uri(), type=types.FileChangeType.Created)]))
        after = await explain(client, uri, 6, len("    v = lerp("))
        for _ in range(50):  # the update runs in a thread: poll until it landed
            if "def lerp(a, b, t):" in "\n".join(b["text"] for b in after["blocks"]):
                break
            await asyncio.sleep(0.1)
            after = await explain(client, uri, 6, len("    v = lerp("))
        assert "def lerp(a, b, t):" in "\n".join(b["text"] for b in after["blocks"])
        # deleted on disk -> gone from the index
        new.unlink()
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=new.as_uri(), type=types.FileChangeType.Deleted)]))
        for _ in range(50):
            gone = await explain(client, uri, 6, len("    v = lerp("))
            if "def lerp" not in "\n".join(b["text"] for b in gone["blocks"]):
                break
            await asyncio.sleep(0.1)
        assert "def lerp" not in "\n".join(b["text"] for b in gone["blocks"])
        # a save of a file that is not open re-reads it
        (tmp_path / "pkg" / "geometry.py").write_text(GEOMETRY + "\n\ndef lerp(a, b, t):\n    return a\n")
        client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=(tmp_path / "pkg" / "geometry.py").as_uri())))
        saved = await explain(client, uri, 6, len("    v = lerp("))
        assert "def lerp(a, b, t):\n    return a" in "\n".join(b["text"] for b in saved["blocks"])


async def test_explain_context_rejects_bad_params(fake_script) -> None:
    async with lsp_session(fake_script(default="x")) as (client, _):
        with pytest.raises(JsonRpcException):
            await client.protocol.send_request_async("qwill/explainContext", {"position": {}})
        with pytest.raises(JsonRpcException):
            await explain(client, "file:///not/open.py", 0, 0)
        # the server is still up
        open_doc(client, "file:///w/a.py", "x = 1\n")
        result = await explain(client, "file:///w/a.py", 0, 1)
        assert result["language"] == "python"

"""workspace/executeCommand: qwill.fix, qwill.explain, qwill.docstring, qwill.tests, qwill.rewrite.

Each command takes one argument, the action target in LSP shapes
(`{"uri", "range", "diagnostics"?, "instruction"?}`, which is what the code
action list puts there); `qwill.rewrite` also accepts the instruction as a
second argument. Editing commands send their edit with `workspace/applyEdit`
(one change annotation, "Qwill: <action>", versions of the live buffers) and
answer `{"status": "applied" | "error" | "cancelled", ...}`.

`qwill.explain` answers `{"status": "ok", "markdown": ...}` for clients that
show it themselves (ours declare `experimental.qwill.explainView`); for
others it also writes the explanation to a Markdown file and opens it with
`window/showDocument`, or shows it as a message when that is not supported.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...actions.regions import path_of
from ...actions.targets import ActionError, ActionKind, ActionTarget
from .code_action import COMMANDS, run_with_progress, workspace_edit

if TYPE_CHECKING:
    from ..server import QwillServer

# Offered when a client runs qwill.rewrite without an instruction and cannot ask for one.
REWRITE_PRESETS = ("Simplify", "Add error handling", "Add type annotations", "Make it faster",
                   "Add comments")


def _client_shows_explanations(ls: QwillServer) -> bool:
    exp = ls.client_capabilities.experimental
    qwill = exp.get("qwill") if isinstance(exp, dict) else None
    return isinstance(qwill, dict) and bool(qwill.get("explainView"))


def _client_can_show_document(ls: QwillServer) -> bool:
    win = ls.client_capabilities.window
    return bool(win and win.show_document and win.show_document.support)


def _explain_file(uri: str, markdown: str) -> Path:
    """A Markdown file for the explanation, in a Qwill folder of the temp directory."""
    src = path_of(uri)
    stem = src.stem if src else "explanation"
    digest = hashlib.sha1(markdown.encode("utf-8")).hexdigest()[:8]
    folder = Path(tempfile.gettempdir()) / "qwill-explain"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{digest}.md"
    path.write_text(markdown, encoding="utf-8")
    return path


def _target(kind: ActionKind, args: tuple[Any, ...]) -> ActionTarget:
    if not args:
        raise ActionError(f"{COMMANDS[kind]} needs an argument: {{\"uri\": ..., \"range\": ...}}")
    raw = args[0]
    if not isinstance(raw, dict):
        raise ActionError(f"{COMMANDS[kind]}: the first argument must be an object with `uri` and `range`")
    raw = dict(raw)
    if kind is ActionKind.REWRITE and len(args) > 1 and isinstance(args[1], str):
        raw["instruction"] = args[1]
    return ActionTarget.from_json(raw, kind)


async def _ask_instruction(ls: QwillServer) -> str:
    """Ask the user how to rewrite, with preset answers (window/showMessageRequest)."""
    try:
        item = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info, message="Qwill: rewrite the selection how?",
            actions=[types.MessageActionItem(title=t) for t in REWRITE_PRESETS]))
    except Exception:
        return ""
    return item.title if item is not None else ""


def _error(ls: QwillServer, label: str, message: str) -> dict[str, Any]:
    ls.show(f"{label}: {message}", types.MessageType.Warning)
    return {"status": "error", "message": message}


async def run_command(ls: QwillServer, kind: ActionKind, args: tuple[Any, ...]) -> dict[str, Any]:
    try:
        target = _target(kind, args)
    except ActionError as exc:
        return _error(ls, COMMANDS[kind], str(exc))
    if kind is ActionKind.REWRITE and not target.instruction:
        instruction = await _ask_instruction(ls)
        if not instruction:
            return _error(ls, COMMANDS[kind], "no instruction given; nothing was changed")
        target = ActionTarget(target.kind, target.uri, target.start, target.end, target.version,
                              target.diagnostics, instruction)
    result = await run_with_progress(ls, target)
    label = result.title.removeprefix("Qwill: ")
    if result.cancelled:
        return {"status": "cancelled"}
    if result.error is not None:
        return _error(ls, label, result.error)
    if result.markdown is not None:
        payload: dict[str, Any] = {"status": "ok", "title": result.title, "markdown": result.markdown}
        if not _client_shows_explanations(ls):
            if _client_can_show_document(ls):
                path = _explain_file(target.uri, result.markdown)
                shown = await ls.window_show_document_async(types.ShowDocumentParams(
                    uri=path.as_uri(), take_focus=True))
                payload["uri"] = path.as_uri()
                payload["shown"] = bool(shown and shown.success)
            else:
                ls.show(result.markdown, types.MessageType.Info)
        return payload
    assert result.change is not None
    try:
        edit = workspace_edit(ls, result.change)
    except ActionError as exc:
        return _error(ls, label, str(exc))
    response = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=result.change.label))
    if not response.applied:
        reason = response.failure_reason or "the editor refused the edit (was the file changed?)"
        return _error(ls, label, f"not applied: {reason}")
    return {"status": "applied", "label": result.change.label,
            "files": [fc.uri for fc in result.change.files]}


def _handler(kind: ActionKind) -> Callable[..., Awaitable[dict[str, Any]]]:
    # pygls evaluates these annotations at run time: no TYPE_CHECKING-only names here
    async def command(ls: Any, *args: Any) -> dict[str, Any]:
        return await run_command(ls, kind, args)

    command.__name__ = f"qwill_{kind.value}"
    return command


def register(server: QwillServer) -> None:
    for kind, name in COMMANDS.items():
        server.command(name)(_handler(kind))

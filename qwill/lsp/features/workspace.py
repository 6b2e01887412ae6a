"""The workspace index over LSP: built after `initialized` with `$/progress`, kept
current by didSave / didChangeWatchedFiles / didChangeWorkspaceFolders, and the
`qwill/explainContext` request that shows what context a prompt at a position gets.

The index itself is `qwill.context.workspace_index`; this module only converts
and schedules (the build runs in a thread, so the protocol loop never waits).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ...completion.prompt import make_window
from ...context.languages import extensions
from ...context.workspace_index import IndexStats, uri_to_path
from .. import convert
from ..progress import WorkProgress
from .inline_completion import too_large

if TYPE_CHECKING:
    from ..server import QwillServer

log = logging.getLogger(__name__)

EXPLAIN_CONTEXT = "qwill/explainContext"
INDEX_DONE_NOTIFICATION = "qwill/indexStatus"


def workspace_roots(ls: QwillServer) -> list[str]:
    """Local paths of the workspace folders (or the root URI of older clients)."""
    roots: list[str] = []
    for folder in ls.workspace.folders.values():
        path = uri_to_path(folder.uri)
        if path:
            roots.append(path)
    if not roots and ls.workspace.root_uri:
        path = uri_to_path(ls.workspace.root_uri)
        if path:
            roots.append(path)
    return roots


async def index_workspace(ls: QwillServer) -> IndexStats | None:
    """Build the index in a thread, reporting `$/progress`; the client may cancel it."""
    settings = ls.session.settings.context
    roots = workspace_roots(ls)
    if not (settings.enabled and settings.index_workspace and settings.definitions) or not roots:
        return None
    progress = await WorkProgress.start(ls, "index", "Qwill: indexing", ", ".join(roots), cancellable=True)
    try:
        stats = await asyncio.to_thread(ls.session.context.index_roots, roots, progress.report,
                                        lambda: progress.cancelled)
    except Exception as exc:  # the index is a bonus: report and carry on without it
        log.exception("workspace indexing failed")
        progress.end(f"indexing failed: {exc}")
        return None
    message = (f"{stats.symbols} definitions in {stats.files} files"
               + (" (cancelled)" if stats.cancelled else "")
               + (" (limit reached)" if stats.truncated else ""))
    progress.end(message)
    ls.protocol.notify(INDEX_DONE_NOTIFICATION, {
        "files": stats.files, "symbols": stats.symbols, "seconds": round(stats.seconds, 3),
        "truncated": stats.truncated, "cancelled": stats.cancelled, "roots": roots})
    return stats


async def _watch_files(ls: QwillServer) -> None:
    """Ask the client to tell us about source files changing on disk (when it can)."""
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps else None
    if not (watched and watched.dynamic_registration) or not workspace_roots(ls):
        return
    exts = sorted({e.lstrip(".") for e in extensions()})
    watchers = [types.FileSystemWatcher(glob_pattern=f"**/*.{{{','.join(exts)}}}")]
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[
            types.Registration(id=f"qwill-watch-{uuid.uuid4().hex[:8]}",
                               method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                               register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                   watchers=watchers))]))
    except Exception as exc:  # not fatal: didSave still keeps the index current
        log.info("could not register file watchers: %s", exc)


def register(server: QwillServer) -> None:
    def start() -> None:
        server.background["index"] = asyncio.ensure_future(index_workspace(server))
        server.background["watch"] = asyncio.ensure_future(_watch_files(server))

    server.on_initialized.append(start)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: QwillServer, params: types.DidSaveTextDocumentParams) -> None:
        path = uri_to_path(params.text_document.uri)
        index = ls.session.context.index
        if path and index.roots and not index.is_ignored(path):
            index.update_file(path)  # an open buffer stays the truth; a closed one re-reads

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(ls: QwillServer, params: types.DidChangeWatchedFilesParams) -> None:
        index = ls.session.context.index
        if not index.roots:
            return

        def apply() -> None:
            for change in params.changes:
                path = uri_to_path(change.uri)
                if path is None:
                    continue
                if change.type == types.FileChangeType.Deleted or index.is_ignored(path):
                    index.remove_file(path)
                else:
                    index.update_file(path)

        await asyncio.to_thread(apply)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_workspace_folders(ls: QwillServer,
                                           params: types.DidChangeWorkspaceFoldersParams) -> None:
        for folder in params.event.removed:
            path = uri_to_path(folder.uri)
            if path:
                ls.session.context.index.remove_file(path)
        await index_workspace(ls)

    @server.feature(EXPLAIN_CONTEXT)
    def explain_context(ls: QwillServer, params: Any) -> dict[str, Any]:
        """{textDocument: {uri}, position} -> the context a completion there gets, and why."""
        doc, offset = convert.document_position(ls.session.documents, params)
        uri = doc.uri
        if too_large(ls, doc):
            raise JsonRpcInvalidParams(f"{uri} is too large for suggestions ({len(doc.text):,} characters)")
        s = ls.session.settings.completion
        window = make_window(doc.text, offset, s.lines_before, s.lines_after)
        result = ls.session.context.build(uri, doc.text, offset, window.start, window.end,
                                          path=uri_to_path(uri), language_id=doc.language_id,
                                          record=False)
        return result.as_dict()

"""Context for a completion prompt: every source's candidates under one token budget.

`ContextProvider.build` takes a place in a document and its window and returns
plain `ContextBlock`s (a path and text); completion puts them into the FIM prompt,
which the engine renders in the model's repository format ahead of the window.

Blocks must stay put while the user types: the KV cache keeps every token up
to the first one that changed. So while the cursor stays in the same scope,
the blocks chosen last time keep their places and order (as long as they are
still candidates and fit), and newly relevant ones are appended after them.
Moving to another scope starts a fresh selection, ordered most-stable first:
scope outline, definitions, similar snippets, recent edits.

`explain(uri)` returns what went into the last prompt for a document and why
(`qwill complete --explain`, the `qwill/explainContext` request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ContextSettings
from .document import AppliedEdit, DocumentStore, TextDocument
from .edit_history import EditHistory
from .languages import language_for
from .sources import (
    Candidate,
    ChunkCache,
    RecentEdits,
    Situation,
    definition_candidates,
    display_path,
    estimate_tokens,
    recent_edit_candidates,
    scope_candidates,
    similar_candidates,
)
from .syntax import ScopeFacts, SyntaxStore, SyntaxTree, scope_facts
from .workspace_index import IndexLimits, IndexStats, ProgressFn, WorkspaceIndex, uri_to_path

log = logging.getLogger(__name__)

_SOURCE_ORDER = {"scope": 0, "definitions": 1, "similar": 2, "recent-edits": 3}
# An open buffer is re-indexed at most this often while the user types.
BUFFER_REINDEX_SECONDS = 1.0
MIN_SCORE = 0.08


@dataclass(frozen=True)
class ContextBlock:
    """A stable block of repository context: another file, or pieces of one."""

    path: str
    text: str


@dataclass(frozen=True)
class ExplainItem:
    source: str
    path: str
    score: float
    tokens: int
    reason: str
    included: bool
    note: str = ""  # why it was left out

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "score": self.score, "tokens": self.tokens,
                "reason": self.reason, "included": self.included, "note": self.note}


@dataclass
class ContextResult:
    files: tuple[ContextBlock, ...] = ()
    items: list[ExplainItem] = field(default_factory=list)
    tokens: int = 0
    budget: int = 0
    language: str | None = None
    facts: ScopeFacts | None = None
    seconds: float = 0.0
    kept: int = 0  # blocks kept in place from the previous prompt of this document
    note: str = ""  # why there is no context, when a rule rather than the candidates decided

    def as_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "language": self.language, "tokens": self.tokens, "budget": self.budget,
            "seconds": round(self.seconds, 4), "kept": self.kept, "note": self.note,
            "items": [i.as_dict() for i in self.items],
            "blocks": [{"path": f.path, "text": f.text} for f in self.files],
            "scopes": [{"kind": s.kind, "name": s.name, "signature": s.signature}
                       for s in (facts.scopes if facts else ())],
            "inComment": bool(facts and facts.in_comment), "inString": bool(facts and facts.in_string),
            "inEmptyBlock": bool(facts and facts.in_empty_block), "midLine": bool(facts and facts.mid_line),
        }

    def render(self) -> str:
        """The explanation as text (`qwill complete --explain`)."""
        lines = [f"context: {self.tokens}/{self.budget} tokens (estimated), language {self.language or 'unknown'}"]
        if self.facts and self.facts.scopes:
            lines.append("  scope: " + " > ".join(f"{s.kind} {s.name}" for s in self.facts.scopes))
        if self.note:
            lines.append(f"  ({self.note})")
        elif not self.items:
            lines.append("  (no context candidates)")
        for it in self.items:
            mark = "+" if it.included else "-"
            note = f"  [{it.note}]" if it.note else ""
            lines.append(f"  {mark} {it.source:<12} {it.path}  score {it.score:.2f}  ~{it.tokens} tokens  {it.reason}{note}")
        return "\n".join(lines)


@dataclass
class _Selection:
    scope_key: tuple[Any, ...]
    keys: list[str]


class ContextProvider:
    """Builds the context blocks for completion requests (see module docstring)."""

    def __init__(self, documents: DocumentStore, syntax: SyntaxStore, settings: ContextSettings | None = None,
                 index: WorkspaceIndex | None = None) -> None:
        self.documents = documents
        self.syntax = syntax
        self.settings = settings or ContextSettings.model_validate({})
        self.index = index or WorkspaceIndex(IndexLimits(
            max_files=self.settings.max_index_files, max_symbols=self.settings.max_index_symbols))
        self.recent = RecentEdits()
        # the same edits with their text, for next-edit prediction (qwill.nextedit)
        self.history = EditHistory()
        self._chunks = ChunkCache()
        self._indexed: dict[str, tuple[int, float]] = {}  # uri -> (tree version, when)
        self._selection: dict[str, _Selection] = {}
        self._explain: dict[str, ContextResult] = {}
        # whether the completion model is small (Session sets it when the model loads, by the
        # engine's rule; context is plain data below the engine and does not import it)
        self.small_model = False
        documents.listeners.append(self._on_change)
        documents.close_listeners.append(self._on_close)

    # -- document events -------------------------------------------------------------
    def _on_change(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        if self.settings.recent_edits:
            self.recent.on_change(doc, edits)
        self.history.on_change(doc, edits)

    def _on_close(self, uri: str) -> None:
        self.recent.forget(uri)
        self.history.forget(uri)
        self._selection.pop(uri, None)
        self._explain.pop(uri, None)
        if self._indexed.pop(uri, None) is not None:
            path = uri_to_path(uri)
            if path is not None:
                self.index.release_text(path)

    def _sync_buffers(self, current: str) -> None:
        """Bring open buffers' definitions into the index (rate-limited per buffer)."""
        now = time.monotonic()
        for uri, tree in self.syntax:
            path = uri_to_path(uri)
            if path is None:
                continue
            seen = self._indexed.get(uri)
            if seen is not None and (seen[0] == tree.version or now - seen[1] < BUFFER_REINDEX_SECONDS):
                continue
            self.index.update_tree(path, tree)
            self._indexed[uri] = (tree.version, now)

    @property
    def roots(self) -> list[str]:
        return [r.as_posix() for r in self.index.roots]

    def display_path(self, path: str | None) -> str | None:
        """`path` as context blocks name files: relative to its workspace folder."""
        return display_path(path, self.roots) if path else path

    # -- the provider ------------------------------------------------------------------
    def explain(self, uri: str) -> ContextResult | None:
        """What went into the last prompt for `uri`, and why."""
        return self._explain.get(uri)

    def _tree_for(self, uri: str, text: str, language_id: str, path: str | None) -> SyntaxTree | None:
        tree = self.syntax.get(uri)
        if tree is not None and tree.text == text:
            return tree
        spec = language_for(language_id, path or uri)
        if spec is None:
            return None
        try:
            return SyntaxTree(spec, text)
        except Exception:
            log.exception("parsing %s for context failed", uri)
            return None

    def build(self, uri: str, text: str, offset: int, window_start: int, window_end: int, *,
              path: str | None = None, language_id: str = "", record: bool = True) -> ContextResult:
        """The context for a prompt at `offset` whose window is [window_start, window_end).

        `record=False` previews it (explain requests) without moving this document's
        block selection or its last explanation."""
        t0 = time.perf_counter()
        s = self.settings
        if not s.enabled or s.token_budget <= 0:
            return ContextResult(budget=s.token_budget)
        if self.small_model and not s.small_models:
            result = ContextResult(budget=s.token_budget, note=(
                "context is off for models under 3B parameters; context.smallModels turns it on"))
            if record:
                self._explain[uri] = result
            return result
        path = path or uri_to_path(uri)
        tree = self._tree_for(uri, text, language_id, path)
        facts = scope_facts(tree, text, offset)
        sit = Situation(uri, path, text, offset, window_start, window_end, facts, tree)
        roots = self.roots
        paths = {d.uri: uri_to_path(d.uri) for d in self.documents}
        candidates: list[Candidate] = []
        try:
            if s.definitions:
                self._sync_buffers(uri)
                if path is not None and tree is not None and self.index.symbols_in(path) == [] and uri not in self._indexed:
                    self.index.update_tree(path, tree)  # e.g. `qwill complete` on a file never opened
                candidates += definition_candidates(sit, self.index, roots)
            if s.scope_outlines:
                candidates += scope_candidates(sit, roots)
            if s.recent_edits:
                candidates += recent_edit_candidates(sit, self.recent, self.documents, paths, roots)
            if s.similar_snippets:
                candidates += similar_candidates(sit, self.documents, paths, self._chunks, roots)
        except Exception:  # context is a bonus: never fail a completion over it
            log.exception("building context for %s failed", uri)
            candidates = []
        result = self._select(sit, candidates, record=record)
        result.language = facts.language
        result.facts = facts
        result.seconds = time.perf_counter() - t0
        if record:
            self._explain[uri] = result
        return result

    def _select(self, sit: Situation, candidates: list[Candidate], *, record: bool = True) -> ContextResult:
        budget = self.settings.token_budget
        by_key = {c.key: c for c in candidates}
        inner = sit.facts.innermost
        scope_key: tuple[Any, ...] = (sit.path, inner.kind, inner.name, inner.start) if inner else (sit.path,)
        prev = self._selection.get(sit.uri)
        chosen: list[Candidate] = []
        notes: dict[str, str] = {}
        used = 0

        def cost(c: Candidate) -> int:
            return c.tokens + estimate_tokens(c.path) + 2  # the file header

        if prev is not None and prev.scope_key == scope_key:
            for key in prev.keys:
                c = by_key.get(key)
                if c is not None and used + cost(c) <= budget:
                    chosen.append(c)
                    used += cost(c)
        kept = len(chosen)
        taken = {c.key for c in chosen}
        fresh: list[Candidate] = []
        for c in sorted(candidates, key=lambda c: (-c.score, _SOURCE_ORDER.get(c.source, 9), c.key)):
            if c.key in taken:
                continue
            if c.score < MIN_SCORE:
                notes[c.key] = "score too low"
                continue
            if used + cost(c) > budget:
                notes[c.key] = "over the token budget"
                continue
            fresh.append(c)
            taken.add(c.key)
            used += cost(c)
        fresh.sort(key=lambda c: (_SOURCE_ORDER.get(c.source, 9), c.path, c.line, c.key))
        chosen += fresh
        if record:
            self._selection[sit.uri] = _Selection(scope_key, [c.key for c in chosen])
        files: list[ContextBlock] = []
        for c in chosen:  # pieces of one file next to each other share its header
            if files and files[-1].path == c.path:
                files[-1] = ContextBlock(c.path, files[-1].text.rstrip("\n") + "\n\n" + c.text)
            else:
                files.append(ContextBlock(c.path, c.text))
        items = [ExplainItem(c.source, c.path, c.score, c.tokens, c.reason, True) for c in chosen]
        rest = sorted((c for c in candidates if c.key not in taken), key=lambda c: -c.score)
        items += [ExplainItem(c.source, c.path, c.score, c.tokens, c.reason, False, notes.get(c.key, ""))
                  for c in rest[:12]]
        return ContextResult(tuple(files), items, used, budget, kept=kept)

    # -- the index ----------------------------------------------------------------
    def index_roots(self, roots: Sequence[str | Path], progress: ProgressFn | None = None,
                    should_stop: Callable[[], bool] | None = None) -> IndexStats:
        """Build the workspace index over `roots` (blocking; run it in a thread)."""
        return self.index.build(roots, progress=progress, should_stop=should_stop)

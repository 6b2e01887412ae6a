"""Which actions fit a place in a document: computed instantly, no model call.

The editor asks for code actions whenever the cursor moves; the answer must
come back in milliseconds. So the list only looks at the syntax tree and the
diagnostics in the request; the model runs later, for the one action the user
picks (`codeAction/resolve` or the command).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..context.document import Position
from ..context.languages import CLASS_LIKE, FUNCTION_LIKE
from ..context.syntax import Scope
from . import doc_comments, test_layout
from .regions import Snapshot, container_of, scopes_at
from .targets import ActionKind, ActionTarget, Diagnostic

MAX_FIXES = 4  # one fix action per diagnostic, up to this many


@dataclass(frozen=True)
class ActionOffer:
    kind: ActionKind
    title: str
    target: ActionTarget
    preferred: bool = False


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def doc_scope(snap: Snapshot, offset: int) -> Scope | None:
    """The definition a docstring action documents: the innermost function or class."""
    for scope in reversed(scopes_at(snap, offset)):
        if scope.kind in FUNCTION_LIKE or scope.kind in CLASS_LIKE:
            return scope
    return None


def test_subject(snap: Snapshot, offset: int) -> tuple[Scope, Scope | None] | None:
    """The function to test at `offset`, and the class holding it (for methods)."""
    for scope in reversed(scopes_at(snap, offset)):
        if scope.kind in FUNCTION_LIKE and scope.name:
            return scope, (container_of(snap, scope) if scope.kind == "method" else None)
    return None


def offer_actions(snap: Snapshot, start: Position, end: Position,
                  diagnostics: Sequence[Diagnostic] = (), roots: Sequence[Path] = ()) -> list[ActionOffer]:
    """The actions that make sense for the selection `start`..`end` of `snap`."""
    s, e = snap.offset(start), snap.offset(end)
    selected = snap.text[s:e].strip() != ""

    def target(kind: ActionKind, diags: tuple[Diagnostic, ...] = ()) -> ActionTarget:
        return ActionTarget(kind, snap.uri, start, end, snap.version, diags)

    offers: list[ActionOffer] = []
    for d in list(diagnostics)[:MAX_FIXES]:
        offers.append(ActionOffer(ActionKind.FIX, f"Qwill: Fix “{_short(d.message)}”",
                                  ActionTarget(ActionKind.FIX, snap.uri, d.start, d.end, snap.version, (d,)),
                                  preferred=len(diagnostics) == 1))
    scopes = scopes_at(snap, s)
    innermost = next((sc for sc in reversed(scopes) if sc.kind in FUNCTION_LIKE), None) or (
        scopes[-1] if scopes else None)
    if selected:
        offers.append(ActionOffer(ActionKind.EXPLAIN, "Qwill: Explain selection", target(ActionKind.EXPLAIN)))
    elif innermost is not None and innermost.name:
        offers.append(ActionOffer(ActionKind.EXPLAIN, f"Qwill: Explain `{innermost.name}`",
                                  target(ActionKind.EXPLAIN)))
    lang = snap.language
    scope = doc_scope(snap, s)
    if scope is not None and scope.name and doc_comments.supported(lang) and snap.tree is not None:
        noun = doc_comments.doc_noun(lang)
        try:
            existing = doc_comments.placement(snap.tree, scope).existing
        except ValueError:
            existing = None
        if existing is not None:
            verb = f"Rewrite the {noun} of" if existing.strip() else f"Add a {noun} to"
            offers.append(ActionOffer(ActionKind.DOCSTRING, f"Qwill: {verb} `{scope.name}`",
                                      target(ActionKind.DOCSTRING)))
    subject = test_subject(snap, s)
    if subject is not None and snap.path is not None:
        fn, cls = subject
        where = test_layout.locate(snap.path, lang, fn.name, cls.name if cls else "", tuple(roots), snap.text)
        if where is not None:
            root = test_layout.project_root(snap.path, tuple(roots))
            shown = where.path.relative_to(root) if where.path.is_relative_to(root) else where.path.name
            place = "in this file" if where.same_file else f"in {shown}"
            offers.append(ActionOffer(ActionKind.TESTS, f"Qwill: Generate tests for `{fn.name}` {place}",
                                      target(ActionKind.TESTS)))
    if selected:
        offers.append(ActionOffer(ActionKind.REWRITE, "Qwill: Rewrite selection…",
                                  target(ActionKind.REWRITE)))
    return offers

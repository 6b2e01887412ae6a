"""Edits produced by code actions, in character offsets of a known text.

An action computes its edit against a snapshot of the buffer taken when the
model started. The user may type while the model works, so before the edit
leaves the server it is rebased onto the live text: each hunk must find the
exact text it replaces, at its old place or at exactly one new place;
otherwise the edit is refused rather than applied somewhere it does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..context.text_diff import common_ends


class EditError(ValueError):
    """An edit that does not apply cleanly; the message is shown to the user."""


@dataclass(frozen=True)
class TextEdit:
    """Replace `text[start:end]` (which was `old_text`) with `new_text`."""

    start: int
    end: int
    new_text: str
    old_text: str = ""


@dataclass(frozen=True)
class FileChange:
    """Edits to one file: an open buffer (version set), a file on disk, or a new file."""

    uri: str
    base_text: str  # the text the edit offsets refer to ("" for a new file)
    edits: tuple[TextEdit, ...]
    version: int | None = None  # the live buffer's version; None: not open in the editor
    create: bool = False  # the file does not exist yet

    def result(self) -> str:
        return apply_edits(self.base_text, self.edits)


@dataclass(frozen=True)
class WorkspaceChange:
    """Everything one action changes, applied as one undoable step."""

    label: str  # shown by the editor, e.g. "Qwill: Add docstring"
    files: tuple[FileChange, ...]


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with non-overlapping `edits` applied; EditError if they do not fit."""
    out: list[str] = []
    pos = 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if not 0 <= e.start <= e.end <= len(text):
            raise EditError(f"edit {e.start}-{e.end} is outside the text ({len(text)} characters)")
        if e.start < pos:
            raise EditError("the edits overlap")
        if e.old_text and text[e.start:e.end] != e.old_text:
            raise EditError("the text to replace is not where the edit expects it")
        out.append(text[pos:e.start])
        out.append(e.new_text)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def minimal_edit(text: str, start: int, end: int, replacement: str) -> TextEdit | None:
    """Replace `text[start:end]` by `replacement`, trimmed to the lines that change.

    Keeping unchanged lines out of the edit keeps the editor's cursor, folds
    and marks where they were, and makes a later rebase more likely to succeed.
    None when nothing changes.
    """
    old = text[start:end]
    if old == replacement:
        return None
    old_lines = old.splitlines(keepends=True)
    new_lines = replacement.splitlines(keepends=True)
    head, tail = common_ends(old_lines, new_lines)
    s = start + sum(len(x) for x in old_lines[:head])
    e = end - sum(len(x) for x in old_lines[len(old_lines) - tail:]) if tail else end
    new = "".join(new_lines[head:len(new_lines) - tail])
    return TextEdit(s, e, new, text[s:e])


def rebase(edits: Sequence[TextEdit], base: str, live: str) -> tuple[TextEdit, ...]:
    """Move edits computed on `base` onto `live` (the buffer as it is now).

    A hunk keeps its place when the text around it is unchanged; otherwise it
    moves to the one place where its old text (with a line of context on each
    side) occurs. Zero or several such places mean the user changed that code
    while the model was working: EditError.
    """
    if base == live:
        return tuple(edits)
    out: list[TextEdit] = []
    for e in edits:
        old = base[e.start:e.end]
        # Anchor on whole lines around the hunk so that insertions (old == "")
        # and short hunks still have something distinctive to find.
        ctx_start = base.rfind("\n", 0, max(e.start - 1, 0)) + 1 if e.start else 0
        nl = base.find("\n", e.end)
        ctx_end = len(base) if nl < 0 else nl + 1
        anchor = base[ctx_start:ctx_end]
        before = e.start - ctx_start
        if live[:ctx_end] == base[:ctx_end]:
            out.append(e)  # everything up to the hunk is as it was
            continue
        tail = len(base) - ctx_start
        if len(live) >= tail and live[len(live) - tail:] == base[ctx_start:]:
            shift = len(live) - len(base)  # only text before the hunk changed
            out.append(TextEdit(e.start + shift, e.end + shift, e.new_text, old))
            continue
        candidates = _occurrences(live, anchor)
        if len(candidates) != 1:
            where = "was changed" if not candidates else "now occurs more than once"
            raise EditError(f"the code this edit replaces {where} while the model was working; "
                            "run the action again")
        at = candidates[0] + before
        out.append(TextEdit(at, at + len(old), e.new_text, old))
    return tuple(out)


def _occurrences(text: str, needle: str) -> list[int]:
    found: list[int] = []
    i = text.find(needle)
    while i >= 0:
        found.append(i)
        if len(found) > 1:
            break
        i = text.find(needle, i + 1)
    return found

"""What the user changed recently, with the text before and after (for next-edit prompts).

`RecentEdits` (sources.py) keeps only the line ranges of recent edits, which is all a
completion prompt needs. Predicting the *next* edit needs the edits themselves: this
history keeps, per document, groups of edits as (text before, text after) snapshots.
Keystrokes that touch the lines of the newest group (the same two-line rule as
`RecentEdits`) extend it; an edit elsewhere starts a new group. A group is what a person
would call one edit ("renamed the parameter", "added a line"), which is what the model is
shown as a unified diff.

Fed by the same DocumentStore listener path as `RecentEdits`; bounded per document and
in total, and documents larger than `MAX_DOCUMENT_CHARS` are not tracked (their
snapshots would cost too much memory).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .document import AppliedEdit, TextDocument

MAX_DOCUMENT_CHARS = 1_000_000
# how close (in lines) an edit must come to the newest group to extend it
MERGE_LINES = 2


@dataclass
class EditGroup:
    """One edit as the user sees it: the document before the first keystroke of the
    group and after the last one; `lo`..`hi` the lines it covers now (zero-based)."""

    uri: str
    before: str
    after: str
    lo: int
    hi: int
    seq: int


class EditHistory:
    """Recent edit groups per document, oldest first."""

    def __init__(self, per_document: int = 8, documents: int = 16) -> None:
        self.per_document = per_document
        self.documents = documents
        self._groups: OrderedDict[str, list[EditGroup]] = OrderedDict()
        self._seq = 0

    def on_change(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        """A DocumentStore listener."""
        if not edits:
            return
        if len(edits) == 1:
            e = edits[0]
            if e.start == 0 and e.old_text == "" and e.new_end == len(doc.text):
                return  # didOpen (or a whole-text replacement of an empty buffer)
        if len(doc.text) > MAX_DOCUMENT_CHARS:
            self.forget(doc.uri)
            return
        before = _undo(doc.text, edits)
        first = min(e.start for e in edits)
        last = max(e.new_end for e in edits)
        lo = doc.text.count("\n", 0, first)
        hi = lo + doc.text.count("\n", first, last)
        self.record(doc.uri, before, doc.text, lo, hi)

    def record(self, uri: str, before: str, after: str, lo: int, hi: int) -> None:
        """One change of `uri` from `before` to `after` touching lines lo..hi of `after`."""
        self._seq += 1
        groups = self._groups.setdefault(uri, [])
        self._groups.move_to_end(uri)
        last = groups[-1] if groups else None
        if last is not None and last.after == before and lo <= last.hi + MERGE_LINES and last.lo - MERGE_LINES <= hi:
            added = after.count("\n") - before.count("\n")
            last.after = after
            last.lo, last.hi, last.seq = min(last.lo, lo), max(last.hi + added, hi, last.lo), self._seq
            if last.after == last.before:
                groups.pop()  # typed and deleted again: nothing happened
        else:
            groups.append(EditGroup(uri, before, after, lo, hi, self._seq))
            del groups[:-self.per_document]
        while len(self._groups) > self.documents:
            self._groups.popitem(last=False)

    def forget(self, uri: str) -> None:
        self._groups.pop(uri, None)

    def groups(self, uri: str | None = None) -> list[EditGroup]:
        """Edit groups of `uri` (every document's when None), oldest first."""
        if uri is not None:
            return list(self._groups.get(uri, ()))
        return sorted((g for gs in self._groups.values() for g in gs), key=lambda g: g.seq)

    def last(self, uri: str) -> EditGroup | None:
        groups = self._groups.get(uri)
        return groups[-1] if groups else None


def _undo(text: str, edits: list[AppliedEdit]) -> str:
    """The text before `edits` were applied (in order) to give `text`."""
    for e in reversed(edits):
        text = text[:e.start] + e.old_text + text[e.new_end:]
    return text

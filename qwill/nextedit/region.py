"""The editable region: the whole lines a prediction may rewrite.

The region is `lines` long, around the cursor, with more of it below the cursor than
above (the edit that follows a change usually comes after it: the body after a
signature, the next call site) and moved so that it also covers the lines of the last
edit when both fit. Everything outside it is context: the model may read it, a
prediction may not change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context.document import line_starts


@dataclass(frozen=True)
class Region:
    """Lines `first`..`last` (inclusive, zero-based) of a text, as offsets `start`..`end`
    (`end` is past the last line's newline, or the end of the text)."""

    first: int
    last: int
    start: int
    end: int

    def text(self, doc: str) -> str:
        return doc[self.start:self.end]

    def contains(self, offset: int) -> bool:
        return self.start <= offset <= self.end


def region_of_lines(text: str, first: int, last: int) -> Region:
    """Lines first..last of `text` (clamped) as a Region."""
    starts = line_starts(text)
    count = len(starts) if not text.endswith("\n") else len(starts) - 1
    count = max(1, count)
    first = max(0, min(first, count - 1))
    last = max(first, min(last, count - 1))
    end = starts[last + 1] if last + 1 < len(starts) else len(text)
    return Region(first, last, starts[first], end)


def editable_region(text: str, cursor: int, lines: int, last_edit: tuple[int, int] | None = None) -> Region:
    """A region of about `lines` lines around the offset `cursor`, also covering the
    lines `last_edit` (first, last) when the two fit together."""
    lines = max(1, lines)
    cursor_line = text.count("\n", 0, max(0, min(cursor, len(text))))
    above = max(0, (lines - 1) // 4)
    first = cursor_line - above
    last = first + lines - 1
    if last_edit is not None:
        lo, hi = last_edit
        if lo < first and max(hi, cursor_line) - lo < lines:
            first, last = lo, lo + lines - 1
        elif hi > last and hi - min(lo, cursor_line) < lines:
            last = hi
            first = last - lines + 1
    if first < 0:
        first, last = 0, last - first
    return region_of_lines(text, first, last)

"""Differences of two texts by lines: the pieces every feature that edits a document
builds its edits from (next-edit predictions, agent changes, code-action fixes)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")


def common_ends(a: Sequence[_T], b: Sequence[_T]) -> tuple[int, int]:
    """(head, tail): how many items `a` and `b` share at their start, and then at their
    end without overlapping the head (characters of two strings, or lines of two lists)."""
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


@dataclass(frozen=True)
class LineChange:
    """Whole lines of the old text replaced by lines of the new one (`tag` as difflib's:
    replace, delete or insert); `start`..`end` are their offsets in the old text and
    `line_starts` the offset of each old line."""

    tag: str
    start: int
    end: int
    old_lines: list[str]
    new_lines: list[str]
    line_starts: list[int]


def line_changes(old: str, new: str) -> list[LineChange]:
    """The changed runs of lines that turn `old` into `new` (none when they are equal)."""
    if old == new:
        return []
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    starts = [0]
    for line in a:
        starts.append(starts[-1] + len(line))
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append(LineChange(tag, starts[i1], starts[i2], a[i1:i2], b[j1:j2], starts[i1:i2]))
    return out

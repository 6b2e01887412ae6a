"""Text differences: unified diffs of the user's edits, minimal edits of a prediction.

Both directions of the same job: the model is shown what the user changed as unified
diffs (the notation code models have seen most), and the region it writes back is
turned into the smallest edits that produce it, so an editor shows (and applies) only
what changes and never rewrites lines the prediction kept.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..context.text_diff import common_ends, line_changes


@dataclass(frozen=True)
class TextEdit:
    """Replace text[start:end] with `text` (character offsets of one document)."""

    start: int
    end: int
    text: str


def unified_diff(before: str, after: str, path: str, context: int = 2) -> str:
    """`before` -> `after` as a unified diff with `context` lines around each hunk
    (an empty string when they are equal)."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"a/{path}", f"b/{path}", n=context)
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def hunks(before: str, after: str, context: int = 0) -> str:
    """The changed hunks of a unified diff without its file header (for prompts that name
    the file themselves)."""
    diff = unified_diff(before, after, "f", context)
    return "".join(diff.splitlines(keepends=True)[2:])


def changed_lines(before: str, after: str) -> tuple[str, str]:
    """The smallest run of whole lines that differs: (those lines in `before`, in `after`)."""
    a = before.splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    head, tail = common_ends(a, b)
    return "".join(a[head:len(a) - tail]), "".join(b[head:len(b) - tail])


def minimal_edits(old: str, new: str, base: int = 0) -> list[TextEdit]:
    """Edits that turn `old` into `new`, each as small as a line diff refined to characters
    allows; offsets are shifted by `base` (where `old` starts in its document)."""
    edits: list[TextEdit] = []
    for c in line_changes(old, new):
        if c.tag == "replace" and len(c.old_lines) == len(c.new_lines):
            # line for line (a rename on two lines): the changed words of each line
            for a, b, at in zip(c.old_lines, c.new_lines, c.line_starts, strict=True):
                if a != b:
                    edits.extend(_word_edits(a, b, base + at))
            continue
        edits.extend(_word_edits("".join(c.old_lines), "".join(c.new_lines), base + c.start))
    return edits


_WORD = re.compile(r"\w+|\s+|.", re.S)
# more word-level pieces than this in one changed block: one edit for the block instead
MAX_WORD_EDITS = 6


def _word_edits(old_part: str, new_part: str, at: int) -> list[TextEdit]:
    """old_part -> new_part (at offset `at`) as edits of whole words where they differ
    (`radius * radius` -> `r * r` is two edits), or one trimmed edit when the words
    changed too much to say it in a few."""
    ow, nw = _WORD.findall(old_part), _WORD.findall(new_part)
    starts = [0]
    for w in ow:
        starts.append(starts[-1] + len(w))
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ow, nw, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        old_words, new_words = old_part[starts[i1]:starts[i2]], "".join(nw[j1:j2])
        if i2 - i1 == 1 == j2 - j1 and _is_name(ow[i1]) and _is_name(nw[j1]):
            # one name for another: the whole name (`radius` -> `r`), not its changed letters
            out.append(TextEdit(at + starts[i1], at + starts[i2], new_words))
        else:
            out.append(_trimmed(old_words, new_words, at + starts[i1]))
    # edits only a bracket or a quote apart are one edit (`f('a', )` -> `f('a', 'b')` inserts
    # `'b'`, not `'` here and `b'` there)
    merged: list[TextEdit] = []
    for e in out:
        prev = merged[-1] if merged else None
        gap = old_part[prev.end - at:e.start - at] if prev is not None else ""
        if prev is not None and len(gap) <= 2 and not re.search(r"\w", gap):
            merged[-1] = _trimmed(old_part[prev.start - at:e.end - at], prev.text + gap + e.text, prev.start)
        else:
            merged.append(e)
    if len(merged) > MAX_WORD_EDITS:
        return [_trimmed(old_part, new_part, at)]
    return merged


def _is_name(word: str) -> bool:
    return word[:1].isalnum() or word[:1] == "_"


def _trimmed(old_part: str, new_part: str, at: int) -> TextEdit:
    """old_part -> new_part (at offset `at`) without what both share at their ends:
    `def f(a):` -> `def f(b):` edits one character."""
    p, s = common_ends(old_part, new_part)
    return TextEdit(at + p, at + len(old_part) - s, new_part[p:len(new_part) - s])


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """`text` with non-overlapping `edits` applied (offsets refer to `text`)."""
    out = []
    pos = 0
    for e in sorted(edits, key=lambda e: e.start):
        if e.start < pos or e.end < e.start or e.end > len(text):
            raise ValueError(f"edit {e.start}..{e.end} overlaps another or leaves the text")
        out.append(text[pos:e.start])
        out.append(e.text)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)

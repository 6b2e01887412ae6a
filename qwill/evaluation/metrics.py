"""Does a suggestion match what the user typed next?

One set of definitions for every harness (benchmarks/typing_trace.py, benchmarks/fim_quality.py,
`qwill eval`), so that a number in the README and a number from a user's own repository mean the
same thing. `truth` is always the document's real text from the cursor onward: what the user
went on to type, followed by what was already there.

- first-line agreement: the suggestion's first line (its first line with text, when it begins
  with a line break) is a prefix of the truth's line at the same place, or the other way round.
  A truth line with nothing left on it agrees with nothing: the user typed no text there.
- accepted (typed through): the truth begins with the whole suggestion, compared line by line
  without trailing whitespace; a last suggestion line may stop inside the truth's line.
- exact match / edit similarity (fill-in-the-middle holes): normalised as `normalise` says;
  similarity is 1 - Levenshtein distance / length of the longer string.

Rates over keystrokes count an empty answer as a miss; the accepted rate is over the
suggestions that were shown (non-blank).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def _is_blank(text: str) -> bool:
    return not text.strip()


def _first_line_span(suggestion: str) -> tuple[int, str]:
    """(line breaks before the first line with text, that line without trailing whitespace)."""
    lines = suggestion.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            return i, line.rstrip()
    return 0, ""


def first_line_agrees(suggestion: str, truth: str) -> bool:
    """Whether the suggestion's first line with text agrees with the truth at that place."""
    skip, head = _first_line_span(suggestion)
    if not head:
        return False
    truth_lines = truth.split("\n")
    if skip >= len(truth_lines):
        return False
    # Lines the suggestion skips over (it began with line breaks) must be empty in the truth too
    # (whitespace aside): the suggestion put its text on that later line.
    if any(truth_lines[i].strip() for i in range(skip)):
        return False
    want = truth_lines[skip].rstrip()
    if not want.strip():
        return False
    return want.startswith(head) or head.startswith(want)


def _lines_rstripped(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n")]


def typed_through(suggestion: str, truth: str) -> bool:
    """Whether the user, typing on, typed the whole suggestion (it would have been accepted)."""
    if _is_blank(suggestion):
        return False
    got = _lines_rstripped(suggestion.rstrip())
    want = _lines_rstripped(truth)
    if len(got) > len(want):
        return False
    last = len(got) - 1
    for i, line in enumerate(got):
        if i < last:
            if line != want[i]:
                return False
        elif not want[i].startswith(line):
            return False
    return True


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def similarity(a: str, b: str) -> float:
    """Edit similarity in [0, 1]: 1 - Levenshtein distance / the longer length."""
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def normalise(text: str, kind: str) -> str:
    """A fill-in-the-middle answer as it is scored: `single` holes by their first line without
    surrounding whitespace, blocks by their lines without trailing whitespace or outer blank lines."""
    if kind == "single":
        return text.split("\n", 1)[0].strip()
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).strip()


@dataclass(frozen=True)
class Outcome:
    """One keystroke's answer scored against the truth."""
    shown: bool
    first_line: bool
    accepted: bool

    @classmethod
    def score(cls, suggestion: str, truth: str) -> Outcome:
        return cls(shown=not _is_blank(suggestion), first_line=first_line_agrees(suggestion, truth),
                   accepted=typed_through(suggestion, truth))


@dataclass(frozen=True)
class Usefulness:
    keystrokes: int
    shown: int
    first_line: int
    accepted: int

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Usefulness:
        items = list(outcomes)
        return cls(keystrokes=len(items), shown=sum(o.shown for o in items),
                   first_line=sum(o.first_line for o in items), accepted=sum(o.accepted for o in items))

    @property
    def empty_rate(self) -> float:
        return 1.0 - self.shown / self.keystrokes if self.keystrokes else 0.0

    @property
    def first_line_rate(self) -> float:
        return self.first_line / self.keystrokes if self.keystrokes else 0.0

    @property
    def whole_rate(self) -> float:
        """Keystrokes whose whole suggestion the user then typed, over all keystrokes."""
        return self.accepted / self.keystrokes if self.keystrokes else 0.0

    @property
    def accepted_rate(self) -> float:
        """Shown suggestions the user then typed through, over the shown ones."""
        return self.accepted / self.shown if self.shown else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"keystrokes": self.keystrokes, "shown": self.shown,
                "empty_pct": round(100 * self.empty_rate, 1),
                "first_line_agreement_pct": round(100 * self.first_line_rate, 1),
                "whole_agreement_pct": round(100 * self.whole_rate, 1),
                "accepted_pct": round(100 * self.accepted_rate, 1)}

"""The three answers of the command policy, ordered from harmless to refused."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Verdict.ALLOW: 0, Verdict.ASK: 1, Verdict.DENY: 2}


def worst(verdicts: Iterable[Verdict], start: Verdict = Verdict.ALLOW) -> Verdict:
    """The most restrictive of `verdicts` (and `start`)."""
    out = start
    for v in verdicts:
        if v.rank > out.rank:
            out = v
    return out

"""Token healing: let the model choose how the text the user typed ends.

A FIM prompt whose typed middle stops inside a word ends on a token the model
would rarely have produced there: `self.d` is tokenized `self`, `.d`, and after
`.d` the model continues as if `d` were the whole name (`.dicts(`), where it
would itself have written `.default_section`. So the engine drops the prompt's
last token when it is part of the typed middle and makes the first generated
token(s) spell it out again: only tokens consistent with the dropped text
(starting with it, or a prefix of it) may be chosen, the most likely one wins,
and only what goes beyond the dropped text is streamed. The prompt shrinks by
one token, so the KV cache keeps everything before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class PieceIndex:
    """The vocabulary's token texts (bytes), searchable by a text they must agree with."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        order = sorted((p, i) for i, p in enumerate(self.pieces) if p)
        self._sorted = [p for p, _ in order]
        self._ids = [i for _, i in order]
        self._exact: dict[bytes, list[int]] = {}
        for p, i in order:
            self._exact.setdefault(p, []).append(i)

    def consistent(self, text: bytes) -> list[int]:
        """Tokens that start with `text`, or whose text `text` starts with."""
        if not text:
            return []
        out: list[int] = []
        lo = bisect.bisect_left(self._sorted, text)
        while lo < len(self._sorted) and self._sorted[lo].startswith(text):
            out.append(self._ids[lo])
            lo += 1
        for k in range(1, len(text)):
            out.extend(self._exact.get(text[:k], ()))
        return out


def healed_tail(prompt_tokens: Sequence[int], middle: str, pieces: Sequence[bytes]) -> int:
    """How many tokens at the end of the prompt to drop and generate again (0 or 1):
    the last one, when it is a piece of the typed `middle` (not a special token)."""
    if not middle or not prompt_tokens:
        return 0
    last = pieces[prompt_tokens[-1]] if 0 <= prompt_tokens[-1] < len(pieces) else b""
    if not last or not middle.encode("utf-8", "surrogatepass").endswith(last):
        return 0
    return 1


def advance(remaining: bytes, piece: bytes) -> tuple[bytes, bytes]:
    """After choosing a token with text `piece` while `remaining` must still be spelled:
    (what is still to spell, the new text beyond it to stream)."""
    if len(piece) >= len(remaining):
        return b"", piece[len(remaining):]
    return remaining[len(piece):], b""

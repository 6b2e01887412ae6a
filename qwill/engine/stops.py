"""Stop-string handling over a stream of text pieces.

A stop string may arrive split across tokens, so text that could be the start
of one is held back until it is either completed (generation stops, the stop
string is not emitted) or ruled out (the held text is released).
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add `piece`; return the text that is now safe to emit."""
        if self.stopped:
            return ""
        text = self._held + piece
        cut = -1
        for stop in self.stops:
            idx = text.find(stop)
            if idx >= 0 and (cut < 0 or idx < cut):
                cut = idx
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        self._held = text[len(text) - hold:] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        """Release held text at the end of generation."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

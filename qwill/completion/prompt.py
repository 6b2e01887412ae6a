"""The local window around the cursor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """The part of the document the model sees, split at the cursor."""

    prefix: str
    suffix: str
    # offsets of the window in the document
    start: int
    end: int
    cursor: int

    @property
    def line_prefix(self) -> str:
        """Text between the start of the cursor's line and the cursor."""
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        """Text between the cursor and the end of its line."""
        return self.suffix.split("\n", 1)[0].rstrip("\r")


def window_bounds(text: str, cursor: int, lines_before: int, lines_after: int) -> tuple[int, int]:
    """Offsets of the start of the line `lines_before` above the cursor and the
    end of the line `lines_after` below it."""
    start = cursor
    line_start = text.rfind("\n", 0, cursor) + 1
    start = line_start
    for _ in range(lines_before):
        if start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    end = text.find("\n", cursor)
    end = len(text) if end < 0 else end + 1
    for _ in range(lines_after):
        if end >= len(text):
            break
        nxt = text.find("\n", end)
        end = len(text) if nxt < 0 else nxt + 1
    return start, end


def make_window(text: str, cursor: int, lines_before: int, lines_after: int) -> Window:
    start, end = window_bounds(text, cursor, lines_before, lines_after)
    return Window(prefix=text[start:cursor], suffix=text[cursor:end], start=start, end=end,
                  cursor=cursor)

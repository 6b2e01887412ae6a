"""Prompt layout that keeps the KV cache valid while the user types.

A FIM prompt is `context · <prefix> · prefix · <suffix> · suffix · <middle>`.
Rebuilt naively at every keystroke, the prefix grows by one character, so
everything after it (the whole suffix) must be evaluated again: a few hundred
tokens, over a second on a laptop CPU.

Instead the window is *anchored* where typing began: prefix and suffix are
frozen at the anchor and the characters typed since then go after the middle
marker, as if the model had written them (llama.cpp's `/infill` does the same
with its `prompt` field). Typing then appends to the end of the prompt and
costs only its own tokens. The anchor moves (a re-anchor, which costs a
re-evaluation from the first changed token) when the text outside the typed
span changes, when the cursor leaves the span, or when the typed span grows
long. The window's first line is snapped to a grid so that successive anchors
share the same start and the cached context blocks and window head survive a
re-anchor.

A new anchor can also start a little before the cursor: when the cursor sits inside
what the tokenizer reads as one piece (`if |key`, `self.|name`: the model was never
trained to continue from half a token), the anchor ends where that piece begins and
its start goes after the middle marker, where the engine's token healing lets the
model spell it out again (`heal_start`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from .prompt import Window

# Lines the window start is snapped to, so re-anchoring keeps the same start.
START_GRID = 16


@dataclass(frozen=True)
class Anchor:
    uri: str
    window_start: int  # document offset of the window's first character
    at: int  # document offset where typing began: the end of the frozen prefix
    prefix: str  # document[window_start:at] when anchored
    suffix: str  # document[at + len(middle):window_end] when anchored
    # document[at:cursor] when anchored: the piece of a token before the cursor that the
    # anchor leaves to the middle (healed), "" when the cursor was on a token boundary
    middle: str = ""

    @property
    def suffix_start(self) -> int:
        """Document offset where `suffix` began when anchored (the cursor then)."""
        return self.at + len(self.middle)


@dataclass(frozen=True)
class Plan:
    anchor: Anchor
    middle: str  # typed since the anchor
    reanchored: bool
    reason: str  # why a new anchor was made ("" when reused)

    def window(self, cursor: int) -> Window:
        return Window(prefix=self.anchor.prefix, suffix=self.anchor.suffix,
                      start=self.anchor.window_start,
                      end=self.anchor.suffix_start + len(self.anchor.suffix),
                      cursor=cursor)


# Characters per token, to turn a token budget into a text budget without tokenizing
# on the event loop (code averages 3-4 characters per token in the Qwen vocabulary).
CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True)
class PlannerLimits:
    lines_before: int = 80
    lines_after: int = 30
    window_tokens: int = 1536
    max_middle_chars: int = 320
    max_middle_lines: int = 8
    # a new anchor ends where the piece of a token the cursor is in begins (heal_start)
    heal: bool = False

    @property
    def prefix_chars(self) -> int:
        return int(self.window_tokens * 0.75 * CHARS_PER_TOKEN)

    @property
    def suffix_chars(self) -> int:
        return int(self.window_tokens * 0.25 * CHARS_PER_TOKEN)


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_offsets(text: str, upto: int) -> list[int]:
    starts = [0]
    i = text.find("\n", 0, upto)
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n", i + 1, upto)
    return starts


def anchored_window(text: str, at: int, lines_before: int, lines_after: int,
                    prefix_chars: int = 1 << 30, suffix_chars: int = 1 << 30) -> tuple[int, int]:
    """Window bounds around `at`: whole lines, the start snapped to a line grid so
    that nearby anchors share it, within the line and character budgets."""
    starts = _line_offsets(text, at)  # starts[k]: offset of line k, up to the cursor's line
    line_no = len(starts) - 1
    first = max(0, line_no - lines_before)
    first -= first % START_GRID
    if starts[first] < at - prefix_chars:
        # over budget: the first grid line within it; when a grid step is longer than
        # the whole budget (long lines), the first line within it, so the window never
        # shrinks to the cursor's line while lines before it would fit
        k = bisect.bisect_left(starts, at - prefix_chars)
        grid = -(-k // START_GRID) * START_GRID
        first = grid if grid <= line_no else min(k, line_no)
    # a line longer than the budget (minified code, data) is cut mid-line rather than
    # sent whole: the prompt must fit the context
    start = max(starts[first], at - prefix_chars)
    end = text.find("\n", at)
    end = len(text) if end < 0 else end + 1
    end = min(end, at + suffix_chars)
    for _ in range(lines_after):
        if end >= len(text):
            break
        nxt = text.find("\n", end)
        nxt = len(text) if nxt < 0 else nxt + 1
        if nxt - at > suffix_chars:
            break
        end = nxt
    return start, end


def reuse_reason(text: str, cursor: int, a: Anchor, limits: PlannerLimits) -> str:
    """Why `a` cannot serve a request at `cursor` ("" when it can)."""
    if cursor < a.at:
        return "cursor moved before the anchor"
    if text[a.window_start:a.at] != a.prefix:
        return "text before the anchor changed"
    if text[cursor:cursor + len(a.suffix)] != a.suffix:
        return "text after the cursor changed"
    typed = text[a.at:cursor]
    if len(typed) > limits.max_middle_chars or typed.count("\n") > limits.max_middle_lines:
        return "typed span grew long"
    return ""


def plan(uri: str, text: str, cursor: int, previous: Anchor | None,
         limits: PlannerLimits) -> Plan:
    """Reuse `previous` if the document still matches it, else anchor at the cursor."""
    if previous is not None and previous.uri == uri:
        reason = reuse_reason(text, cursor, previous, limits)
        if not reason:
            return Plan(previous, text[previous.at:cursor], False, "")
    else:
        reason = "no anchor" if previous is None else "another document"
    a = new_anchor(uri, text, cursor, limits)
    return Plan(a, a.middle, True, reason)


def new_anchor(uri: str, text: str, cursor: int, limits: PlannerLimits) -> Anchor:
    start, end = anchored_window(text, cursor, limits.lines_before, limits.lines_after,
                                 limits.prefix_chars, limits.suffix_chars)
    at = max(start, heal_start(text, cursor)) if limits.heal else cursor
    return Anchor(uri, start, at, text[start:at], text[cursor:end], text[at:cursor])


# The pre-tokenizer split of the Qwen2 / GPT-4 (cl100k) family, in `re` terms (letters are
# `[^\W\d_]`): byte-pair merges never cross these pieces, so a piece's start is a token
# boundary. Other vocabularies split words and the space before them the same way.
_PRE_TOKEN = re.compile(
    r"'(?i:s|t|re|ve|m|ll|d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d| ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+")


def heal_start(text: str, cursor: int) -> int:
    """Where the token the code after the cursor will most likely continue begins: the start
    of the last pre-tokenizer piece before the cursor when that piece ends in a space or a
    punctuation mark, which the tokenizer joins with what follows (`if |` becomes ` key`,
    `self.|` becomes `.name`, `len(|` becomes `(lines`). `cursor` itself after a letter, a
    digit or `_` (a word is more often finished there than cut), at the start of a line and
    after indentation alone (measured only on code lines so far)."""
    line_start = text.rfind("\n", 0, cursor) + 1
    line = text[line_start:cursor]
    if not line.strip() or line[-1].isalnum() or line[-1] == "_":
        return cursor
    starts = [m.start() for m in _PRE_TOKEN.finditer(line)]
    return line_start + starts[-1] if starts else cursor

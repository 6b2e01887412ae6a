"""A forgiving JSON reader for what language models write as JSON.

Models close too few braces, leave trailing commas, quote with single quotes,
write Python literals (True/None), put raw newlines inside strings or leave
keys unquoted. `loads` accepts all of that and reports where it gave up;
`scan` reads one value at an offset and says where it ended and whether the text
ran out inside it (for reading several calls in a row, or a call inside prose).

Why not a library: measured against json-repair (0.64.6) and partial-json-parser
(0.2.1) on the agent's own tool calls, written as valid JSON and the eleven ways models
break it (benchmarks/lenient_json_compare.py, 90 cases with the value meant), this
reader got 88 right and returned a wrong value for none; the two it refuses are inner
quotes left unescaped, which the model is then told to fix. json-repair got 59 right and
returned 31 wrong values without a word: it drops the trailing newline of a string (an
edit's new_text then joins two lines of code) and rebuilds objects around unescaped
quotes; partial-json-parser reads only JSON that was cut short (35 right, 54 refused).
On broken input json-repair took about 27 times as long per parse (the same on valid
JSON: all try `json.loads` first), and neither gives the end offset `scan` does.
"""

from __future__ import annotations

import json
from typing import Any


class LenientJSONError(ValueError):
    pass


_LITERALS = {"true": True, "false": False, "null": None, "True": True, "False": False,
             "None": None}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\",
            '"': '"', "'": "'"}


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.truncated = False  # the text ended inside a value (auto-closed)

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            ch = s[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j + 1
            else:
                break

    def value(self) -> Any:
        self.ws()
        if self.i >= len(self.s):
            self.truncated = True
            return None
        ch = self.s[self.i]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.arr()
        if ch in "\"'":
            return self.string(ch)
        return self.bare()

    def obj(self) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            if self.i >= len(self.s):
                self.truncated = True
                return out
            ch = self.s[self.i]
            if ch == "}":
                self.i += 1
                return out
            if ch == ",":
                self.i += 1
                continue
            if ch in "\"'":
                key = self.string(ch)
            else:
                start = self.i
                while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] in "_-$"):
                    self.i += 1
                if self.i == start:
                    raise LenientJSONError(f"expected a key at offset {self.i}")
                key = self.s[start:self.i]
            self.ws()
            if self.i >= len(self.s):
                self.truncated = True
                out[str(key)] = None
                return out
            if self.s[self.i] not in ":=":
                raise LenientJSONError(f"expected ':' after key {key!r} at offset {self.i}")
            self.i += 1
            out[str(key)] = self.value()
            if self.truncated:
                return out

    def arr(self) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.i >= len(self.s):
                self.truncated = True
                return out
            ch = self.s[self.i]
            if ch == "]":
                self.i += 1
                return out
            if ch == ",":
                self.i += 1
                continue
            out.append(self.value())
            if self.truncated:
                return out

    def string(self, quote: str) -> str:
        self.i += 1
        s, n = self.s, len(self.s)
        parts: list[str] = []
        while self.i < n:
            ch = s[self.i]
            if ch == quote:
                self.i += 1
                return "".join(parts)
            if ch == "\\" and self.i + 1 < n:
                nxt = s[self.i + 1]
                if nxt == "u" and self.i + 6 <= n:
                    try:
                        code = int(s[self.i + 2:self.i + 6], 16)
                    except ValueError:
                        parts.append("\\u")
                        self.i += 2
                        continue
                    self.i += 6
                    # surrogate pairs
                    if 0xD800 <= code < 0xDC00 and s.startswith("\\u", self.i):
                        try:
                            low = int(s[self.i + 2:self.i + 6], 16)
                        except ValueError:
                            low = 0
                        if 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            self.i += 6
                    parts.append(chr(code))
                    continue
                parts.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.i += 2
                continue
            parts.append(ch)
            self.i += 1
        self.truncated = True
        return "".join(parts)

    def bare(self) -> Any:
        start = self.i
        s, n = self.s, len(self.s)
        while self.i < n and s[self.i] not in ",}]\n\r" and not s[self.i].isspace():
            self.i += 1
        word = s[start:self.i]
        if word in _LITERALS:
            return _LITERALS[word]
        try:
            return json.loads(word)
        except ValueError:
            pass
        try:
            return float(word) if any(c in word for c in ".eE") else int(word, 0)
        except ValueError:
            raise LenientJSONError(f"unexpected {word[:20]!r} at offset {start}") from None


def loads(text: str) -> Any:
    """Parse `text` strictly if possible, else leniently; raises LenientJSONError."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    value, _, _ = scan(text)
    return value


def scan(text: str, start: int = 0) -> tuple[Any, int, bool]:
    """Read one value at `start`: (value, end offset, whether it ended early)."""
    r = _Reader(text)
    r.i = start
    value = r.value()
    if r.i == start:
        raise LenientJSONError("no value")
    return value, r.i, r.truncated

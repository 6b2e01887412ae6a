"""Answers that need no model call: typed-through, recent suggestions."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

# How much text around the cursor identifies a completion context.
KEY_BEFORE = 2000
KEY_AFTER = 500


def context_key(uri: str, text: str, offset: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(uri.encode())
    h.update(b"\0")
    h.update(text[max(0, offset - KEY_BEFORE):offset].encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(text[offset:offset + KEY_AFTER].encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@dataclass(frozen=True)
class Shown:
    """A suggestion the editor is showing: where, and the text around it."""

    uri: str
    offset: int
    before: str  # document text before the cursor (bounded tail)
    after: str  # document text after the cursor (bounded head)
    text: str


def _tail(text: str, offset: int) -> str:
    return text[max(0, offset - KEY_BEFORE):offset]


def shown_at(uri: str, text: str, offset: int, suggestion: str) -> Shown:
    return Shown(uri, offset, _tail(text, offset), text[offset:offset + KEY_AFTER], suggestion)


def typed_through(shown: Shown | None, uri: str, text: str, offset: int) -> str | None:
    """The rest of `shown` if the user has since typed a prefix of it, else None."""
    if shown is None or shown.uri != uri:
        return None
    n = offset - shown.offset
    if not 0 <= n < len(shown.text):
        return None
    if text[shown.offset:offset] != shown.text[:n]:
        return None
    if text[offset:offset + KEY_AFTER] != shown.after or _tail(text, shown.offset) != shown.before:
        return None
    rest = shown.text[n:]
    return rest if rest.strip() else None


class SuggestionLRU:
    """Recent suggestions by context hash (undo/redo, retyping, speculation)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, text: str) -> None:
        self._items[key] = text
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

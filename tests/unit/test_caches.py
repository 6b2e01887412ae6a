"""Answers without a model call: typed-through and the LRU of recent suggestions."""

from __future__ import annotations

from qwill.completion.caches import KEY_AFTER, KEY_BEFORE, SuggestionLRU, context_key, shown_at, typed_through

URI = "file:///a.py"
TEXT = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
AT = TEXT.index("    \n") + 4
SUGGESTION = "return a + b"


def typed(s: str) -> tuple[str, int]:
    return TEXT[:AT] + s + TEXT[AT:], AT + len(s)


def test_typing_the_start_of_a_suggestion_leaves_the_rest() -> None:
    shown = shown_at(URI, TEXT, AT, SUGGESTION)
    assert typed_through(shown, URI, TEXT, AT) == SUGGESTION
    for n in range(1, len(SUGGESTION)):
        text, offset = typed(SUGGESTION[:n])
        assert typed_through(shown, URI, text, offset) == SUGGESTION[n:]


def test_typed_through_ends_when_the_suggestion_is_used_up_or_only_whitespace_is_left() -> None:
    shown = shown_at(URI, TEXT, AT, "x = 1\n")
    assert typed_through(shown, URI, *typed("x = 1")) is None  # only the newline left
    assert typed_through(shown, URI, *typed("x = 1\n")) is None  # all of it typed


def test_typing_something_else_drops_it() -> None:
    shown = shown_at(URI, TEXT, AT, SUGGESTION)
    assert typed_through(shown, URI, *typed("ret")) == "urn a + b"
    assert typed_through(shown, URI, *typed("rex")) is None
    # the cursor moved back before the suggestion's start
    assert typed_through(shown, URI, TEXT, AT - 1) is None


def test_a_change_around_the_suggestion_drops_it() -> None:
    shown = shown_at(URI, TEXT, AT, SUGGESTION)
    text, offset = typed("re")
    after_changed = text[:offset] + text[offset:].replace("print", "PRINT")
    assert typed_through(shown, URI, after_changed, offset) is None
    before_changed = "#!\n" + text
    assert typed_through(shown, URI, before_changed, offset + 3) is None
    assert typed_through(shown, "file:///other.py", text, offset) is None
    assert typed_through(None, URI, text, offset) is None


def test_context_key_covers_the_text_around_the_cursor_and_the_document() -> None:
    text = "a" * 3000 + "|" + "b" * 1000
    at = 3000
    key = context_key(URI, text, at)
    assert context_key(URI, text, at) == key
    assert context_key("file:///b.py", text, at) != key
    assert context_key(URI, text, at + 1) != key
    near_before = text[:at - 10] + "X" + text[at - 9:]
    near_after = text[:at + 10] + "X" + text[at + 11:]
    assert context_key(URI, near_before, at) != key
    assert context_key(URI, near_after, at) != key
    # text far from the cursor does not take part
    far = "Z" + text[1:-1] + "Z"
    assert at - KEY_BEFORE > 0 and at + KEY_AFTER < len(text) - 1
    assert context_key(URI, far, at) == key


def test_context_key_takes_lone_surrogates() -> None:
    assert context_key(URI, "x\ud800y", 1) != context_key(URI, "x\ud801y", 1)


def test_lru_evicts_the_least_recently_used() -> None:
    lru = SuggestionLRU(capacity=3)
    for k in "abc":
        lru.put(k, k.upper())
    assert lru.get("a") == "A"  # a is now the most recent
    lru.put("d", "D")
    assert lru.get("b") is None
    assert [lru.get(k) for k in "acd"] == ["A", "C", "D"]
    assert len(lru) == 3
    lru.put("c", "C2")  # replacing refreshes too
    lru.put("e", "E")
    assert lru.get("a") is None
    assert lru.get("c") == "C2"

"""Stop strings that arrive split across pieces."""

from __future__ import annotations

import pytest

from qwill.engine.stops import StopMatcher


def run(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    m = StopMatcher(stops)
    out = [m.feed(p) for p in pieces]
    out.append(m.flush())
    return out, m.stopped


@pytest.mark.parametrize(
    ("pieces", "emitted"),
    [
        (["return x", "<|endoftext|>", "junk"], "return x"),
        (["return x<|end", "oftext|>", "junk"], "return x"),
        (["return x<", "|", "endof", "text", "|>more"], "return x"),
        (["x", "<|endoftext|>tail"], "x"),
        (["<|endoftext|>"], ""),
    ],
)
def test_a_stop_split_across_pieces_is_never_emitted(pieces: list[str], emitted: str) -> None:
    out, stopped = run(["<|endoftext|>"], pieces)
    assert "".join(out) == emitted
    assert stopped


def test_text_that_only_looked_like_a_stop_is_released_in_order() -> None:
    m = StopMatcher(["<|endoftext|>"])
    assert m.feed("a <") == "a "  # '<' might start the stop: held
    assert m.feed("|end") == ""  # still might
    assert m.feed("less") == "<|endless"  # ruled out: released, nothing lost
    assert m.flush() == ""
    assert not m.stopped


def test_held_text_is_released_at_the_end_of_generation() -> None:
    m = StopMatcher(["\n\n"])
    assert m.feed("x = 1\n") == "x = 1"
    assert m.flush() == "\n"


def test_the_earliest_of_several_stops_wins() -> None:
    out, stopped = run(["<EOT>", "\n"], ["a", "b\nc<EOT>"])
    assert "".join(out) == "ab"
    assert stopped
    out, _ = run(["<EOT>", "\n"], ["ab<E", "OT>\n"])
    assert "".join(out) == "ab"


def test_nothing_is_emitted_after_a_stop() -> None:
    m = StopMatcher(["STOP"])
    assert m.feed("aSTOPb") == "a"
    assert m.feed("more") == ""
    assert m.flush() == ""


def test_empty_stops_are_ignored() -> None:
    out, stopped = run(["", "\n"], ["ab", "c"])
    assert "".join(out) == "abc"
    assert not stopped


def test_a_partial_match_of_a_longer_stop_does_not_hide_a_shorter_one() -> None:
    # '</s' could begin '</script>' but '</s>' already completed: stop there
    out, stopped = run(["</script>", "</s>"], ["x</s", ">y"])
    assert "".join(out) == "x"
    assert stopped

"""The usefulness metrics every harness shares (qwill/evaluation/metrics.py)."""

from __future__ import annotations

import pytest

from qwill.evaluation.metrics import (
    Outcome,
    Usefulness,
    first_line_agrees,
    normalise,
    similarity,
    typed_through,
)

TRUTH = "total = sum(xs)\n    return total / len(xs)\n"


@pytest.mark.parametrize(("suggestion", "agrees"), [
    ("total = sum(xs)", True),             # the same line
    ("total = s", True),                   # a prefix of the truth's line
    ("total = sum(xs)  # all of them", True),  # the truth's line is a prefix of it
    ("total = max(xs)", False),
    ("", False),
    ("   ", False),
    ("\n    return total", False),          # skips a line the user typed text on
])
def test_first_line_agreement(suggestion: str, agrees: bool) -> None:
    assert first_line_agrees(suggestion, TRUTH) is agrees


def test_a_suggestion_that_starts_with_a_line_break_is_judged_by_its_first_line_with_text() -> None:
    truth = "\n    return total\n"
    assert first_line_agrees("\n    return total", truth)
    assert first_line_agrees("\n    return", truth)
    assert not first_line_agrees("return total", truth)  # put on the cursor's line, which stays empty


def test_an_empty_truth_line_agrees_with_nothing() -> None:
    assert not first_line_agrees("x = 1", "\nx = 1")
    assert not first_line_agrees("x", "")


def test_typed_through_needs_every_line_and_allows_a_partial_last_line() -> None:
    assert typed_through("total = sum(xs)\n    return total", TRUTH)
    assert typed_through("total = sum(xs)   \n    ret", TRUTH)  # trailing spaces do not count
    assert typed_through("total = sum(xs)\n", TRUTH)
    assert not typed_through("total = sum(xs)\n    return total * 2", TRUTH)
    assert not typed_through("total = sum(xs)\n    return total / len(xs)\n    print()", TRUTH)
    assert not typed_through("", TRUTH)


def test_rates_count_empty_answers_as_misses_and_accepted_over_shown() -> None:
    outcomes = [Outcome.score("total = sum(xs)", TRUTH), Outcome.score("total = max(xs)", TRUTH),
                Outcome.score("", TRUTH), Outcome.score("total = s", TRUTH)]
    u = Usefulness.of(outcomes)
    assert (u.keystrokes, u.shown, u.first_line, u.accepted) == (4, 3, 2, 2)
    assert u.empty_rate == pytest.approx(0.25)
    assert u.first_line_rate == pytest.approx(0.5)
    assert u.whole_rate == pytest.approx(0.5)
    assert u.accepted_rate == pytest.approx(2 / 3)
    assert u.as_dict()["accepted_pct"] == 66.7
    assert Usefulness.of([]).as_dict()["first_line_agreement_pct"] == 0.0


def test_fim_scoring() -> None:
    assert normalise("  x = 1  \nmore", "single") == "x = 1"
    assert normalise("\n  a  \n  b\n\n", "block") == "a\n  b"
    assert similarity("abc", "abc") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("abcd", "abxd") == pytest.approx(0.75)

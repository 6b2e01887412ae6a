import pytest
from timefmt import parse_duration


@pytest.mark.parametrize("text,seconds", [("45m", 2700), ("30s", 30), ("1h30m15s", 5415), ("2h", 7200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_readme_example():
    text = open("README.md").read()
    assert "5400" in text and "3630" not in text

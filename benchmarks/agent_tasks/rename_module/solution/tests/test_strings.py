from textutils.text import whisper


def test_whisper():
    assert whisper("Hi") == "hi..."

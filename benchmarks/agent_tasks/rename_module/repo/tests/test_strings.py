from textutils.strings import whisper


def test_whisper():
    assert whisper("Hi") == "hi..."

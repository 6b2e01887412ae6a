from .strings import shout, whisper

__all__ = ["shout", "whisper"]

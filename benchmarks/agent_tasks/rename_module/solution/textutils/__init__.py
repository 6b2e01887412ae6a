from .text import shout, whisper

__all__ = ["shout", "whisper"]

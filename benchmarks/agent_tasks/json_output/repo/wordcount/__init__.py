"""Count lines, words and characters."""
from .core import count

__all__ = ["count"]

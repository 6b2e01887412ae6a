"""Lint Markdown files."""

__version__ = "1.5.0"

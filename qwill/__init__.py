"""Qwill: a local-first AI coding backend for editors."""

__version__ = "0.1.0"

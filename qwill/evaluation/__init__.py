"""Measuring suggestions against what the user wrote: metrics, and the harnesses behind `qwill eval`."""

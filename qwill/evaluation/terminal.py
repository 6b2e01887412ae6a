"""`qwill eval` on a terminal: a progress bar (rich on a TTY, plain lines otherwise)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from .runner import Progress

_PHASES = {"load": "loading", "fim": "FIM holes", "typing": "typing trace", "next-edit": "next edits",
           "done": "done"}


class ProgressDisplay:
    """Shows `Progress` events: one bar per run and phase on a terminal, else a line
    at each phase change (a log or CI keeps a readable record)."""

    def __init__(self, stream: TextIO | None = None, *, rich: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.rich = self.stream.isatty() if rich is None else rich
        self._progress: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}
        self._last: tuple[str, str] | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TimeElapsedColumn(), console=Console(file=self.stream),
                                          transient=False)
            self._progress.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, p: Progress) -> None:
        key = (p.run, p.phase)
        if self._progress is not None:
            if p.phase == "done":
                return
            task = self._tasks.get(key)
            desc = f"{p.run}: {_PHASES[p.phase]}"
            if task is None:
                task = self._tasks[key] = self._progress.add_task(desc, total=max(p.total, 1))
            self._progress.update(task, completed=p.done, total=max(p.total, 1))
            return
        if key != self._last or (p.phase == "load" and p.done):
            self._last = key
            extra = f": {p.message}" if p.message and p.phase in ("load", "done") else ""
            total = f" ({p.total})" if p.phase in ("fim", "typing", "next-edit") else ""
            print(f"qwill eval: {p.run}: {_PHASES[p.phase]}{total}{extra}", file=self.stream, flush=True)

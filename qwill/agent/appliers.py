"""Appliers without an editor: write a reviewed change set to disk."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from .changes import ApplyError, ChangeSet, write_to_disk
from .loop import ApplyResult

Reviewer = Callable[[ChangeSet], Awaitable[bool | str]]


class DiskApplier:
    """Asks `review` (True, False or a reason to refuse), then writes atomically."""

    def __init__(self, root: Path, review: Reviewer | None = None) -> None:
        self.root = root
        self.review = review

    async def apply(self, changes: ChangeSet) -> ApplyResult:
        if self.review is not None:
            verdict = await self.review(changes)
            if verdict is not True:
                reason = verdict if isinstance(verdict, str) and verdict else "the user rejected the change"
                return ApplyResult(False, reason)
        try:
            await asyncio.to_thread(write_to_disk, self.root, changes)
        except (ApplyError, OSError) as exc:
            return ApplyResult(False, str(exc))
        return ApplyResult(True)

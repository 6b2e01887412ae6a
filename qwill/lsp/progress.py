"""Server-initiated `$/progress`, in one place: create the token, begin, report from any
thread, end; and whether the client cancelled it. When the client cannot show progress
(or does not answer `window/workDoneProgress/create` in time) every call is a no-op."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

from . import pygls_compat

if TYPE_CHECKING:
    from .server import QwillServer


class WorkProgress:
    def __init__(self, ls: QwillServer, token: str, active: bool) -> None:
        self.ls = ls
        self.token = token
        self.active = active
        self._loop = asyncio.get_running_loop()
        self._last_pct = -1

    @classmethod
    async def start(cls, ls: QwillServer, kind: str, title: str, message: str = "", *,
                    cancellable: bool = False, percentage: bool = True) -> WorkProgress:
        """Begin; `percentage` off for work whose length is unknown (no bar is drawn)."""
        token = f"qwill-{kind}-{uuid.uuid4().hex[:8]}"
        active = ls.client_supports_progress
        if active:
            try:
                await asyncio.wait_for(ls.work_done_progress.create_async(token), 5)
            except Exception:
                active = False
        if active:
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=title, message=message or None, percentage=0 if percentage else None,
                cancellable=cancellable))
        return cls(ls, token, active)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the client cancels (window/workDoneProgress/cancel)."""
        fut = pygls_compat.progress_future(self.ls, self.token) if self.active else None
        if fut is not None:
            fut.add_done_callback(lambda f: callback() if f.cancelled() else None)

    @property
    def cancelled(self) -> bool:
        """The client asked to cancel (window/workDoneProgress/cancel)."""
        fut = pygls_compat.progress_future(self.ls, self.token) if self.active else None
        return fut is not None and fut.cancelled()

    def report(self, message: str, fraction: float | None = None) -> None:
        """Safe to call from any thread; repeated percentages are dropped."""
        if not self.active:
            return
        pct = int(fraction * 100) if fraction is not None else None
        if pct is not None:
            if pct == self._last_pct:
                return
            self._last_pct = pct
        self._loop.call_soon_threadsafe(self.ls.work_done_progress.report, self.token,
                                        types.WorkDoneProgressReport(message=message, percentage=pct))

    def end(self, message: str = "") -> None:
        if self.active:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message or None))
            pygls_compat.forget_progress(self.ls, self.token)

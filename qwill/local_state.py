"""What Qwill keeps on this machine outside any workspace: the state directory, and how
many suggestions you were shown and accepted, across restarts.

`state_dir()` is `QWILL_STATE_DIR` or platformdirs' `user_state_dir("qwill")` (the agent's
policy consents live there too). The counters in `qwill/completionStats` are one server process's. `UsageRecorder` adds
what a process counted since its last flush to a small JSON file in the user's state
directory, so that
`qwill doctor` can show the totals: inline completion shown/accepted, next edits
shown/accepted/dismissed. The file is read and written only here; nothing is sent
anywhere. Several servers may run at once (one per editor window): each adds its own
increments under a file lock, so none overwrites another's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "usage-stats.json"


@dataclass
class UsageTotals:
    inline_shown: int = 0
    inline_accepted: int = 0
    next_edit_shown: int = 0
    next_edit_accepted: int = 0
    next_edit_dismissed: int = 0
    since: str = ""  # when this machine started counting (UTC date)
    updated: str = ""  # the last flush (UTC time)

    @staticmethod
    def counter_names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(UsageTotals) if f.type in (int, "int"))

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def summary(self) -> str:
        """One line for `qwill doctor`."""
        def rate(accepted: int, shown: int) -> str:
            return f" ({100 * accepted / shown:.0f}%)" if shown else ""

        return (f"inline completion {self.inline_shown} shown, {self.inline_accepted} accepted"
                f"{rate(self.inline_accepted, self.inline_shown)}; next edits {self.next_edit_shown} shown, "
                f"{self.next_edit_accepted} accepted{rate(self.next_edit_accepted, self.next_edit_shown)}, "
                f"{self.next_edit_dismissed} dismissed"
                + (f"; since {self.since}" if self.since else ""))


def state_dir() -> Path:
    override = os.environ.get("QWILL_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("qwill"))


def default_path() -> Path:
    return state_dir() / FILE_NAME


def read_totals(path: Path | None = None) -> UsageTotals:
    """The totals in `path` (zeros when there is no file yet, or it is unreadable)."""
    path = path or default_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UsageTotals()
    if not isinstance(data, dict):
        return UsageTotals()
    out = UsageTotals()
    for name in UsageTotals.counter_names():
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            setattr(out, name, value)
    for name in ("since", "updated"):
        if isinstance(data.get(name), str):
            setattr(out, name, data[name])
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`.lock where the platform has flock (elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # Windows: a lost increment under a race is acceptable there
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def add_totals(delta: dict[str, int], path: Path | None = None) -> UsageTotals:
    """Add `delta` (counter name -> increment) to the totals in `path` and return them."""
    path = path or default_path()
    unknown = set(delta) - set(UsageTotals.counter_names())
    if unknown:
        raise ValueError(f"unknown usage counters: {', '.join(sorted(unknown))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        totals = read_totals(path)
        for name, n in delta.items():
            setattr(totals, name, getattr(totals, name) + max(0, n))
        now = time.gmtime()
        totals.since = totals.since or time.strftime("%Y-%m-%d", now)
        totals.updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", now)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(totals.as_dict(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return totals


class UsageRecorder:
    """Adds one process's counters (`snapshot()`: name -> count so far) to the file, as
    increments since the last flush."""

    def __init__(self, snapshot: Callable[[], dict[str, int]], path: Callable[[], Path] = default_path) -> None:
        self._snapshot = snapshot
        self._path = path
        self._flushed: dict[str, int] = {}

    def flush(self) -> UsageTotals | None:
        """Write what was counted since the last flush; None when there was nothing new or
        the file could not be written (logged; the counts stay for the next flush)."""
        now = self._snapshot()
        delta = {k: v - self._flushed.get(k, 0) for k, v in now.items() if v > self._flushed.get(k, 0)}
        if not delta:
            return None
        try:
            totals = add_totals(delta, self._path())
        except OSError as exc:
            log.warning("cannot write the usage counts to %s: %s", self._path(), exc)
            return None
        self._flushed = dict(now)
        return totals

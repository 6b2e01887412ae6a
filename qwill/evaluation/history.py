"""Next-edit cases from a repository's git history.

A commit that changed one file in two places close together is a real "edit, then the
edit that follows": the file before the commit, the first change (what the user did)
and the second (the truth a next-edit prediction should find). Cases are read with the
`git` command (no library), from the newest commits back, chosen with the seed.
"""

from __future__ import annotations

import difflib
import itertools
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..context.languages import language_for
from .mining import MAX_FILE_CHARS

MAX_COMMITS = 400  # how far back the history is read
MAX_HUNK_LINES = 8  # a hunk bigger than this is a rewrite, not an edit someone types
MAX_GAP_LINES = 30  # the second change is within this many lines of the first
GIT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Hunk:
    """Lines [start, end) of the text replaced by `new` (whole lines, with newlines)."""

    start: int
    end: int
    new: str


@dataclass(frozen=True)
class NextEditCase:
    id: str  # commit:path
    path: str
    language: str
    before: str  # the file before the commit
    first: Hunk  # the user's (last) edit (lines of `before`)
    second: Hunk  # the edit that followed (lines of `before`)
    earlier: tuple[Hunk, ...] = ()  # edits the user made before `first`, above it (lines of `before`)

    @property
    def user_edits(self) -> tuple[Hunk, ...]:
        """The user's edits in the order they are made (top to bottom)."""
        return (*self.earlier, self.first)

    def shift(self, hunk: Hunk) -> int:
        """How many lines the user's edits above `hunk` moved it by."""
        return sum(h.new.count("\n") - (h.end - h.start) for h in self.user_edits if h.end <= hunk.start)

    @property
    def edited(self) -> str:
        """The file after the user's edits."""
        return _apply(self.before, list(self.user_edits))

    @property
    def truth(self) -> str:
        """The file after the user's edits and the one that followed."""
        return _apply(self.before, [*self.user_edits, self.second])

    @property
    def cursor(self) -> int:
        """Where the cursor is after the user's edits: the end of the last one's last line
        (an offset of `edited`)."""
        lines = self.edited.splitlines(keepends=True)
        start = sum(len(x) for x in lines[:self.first.start + self.shift(self.first)])
        new = self.first.new.rstrip("\n")
        return start + len(new) if new else start


def _apply(text: str, hunks: list[Hunk]) -> str:
    lines = text.splitlines(keepends=True)
    for h in sorted(hunks, key=lambda h: h.start, reverse=True):
        lines[h.start:h.end] = h.new.splitlines(keepends=True)
    return "".join(lines)


def hunks(before: str, after: str) -> list[Hunk]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append(Hunk(i1, i2, "".join(b[j1:j2])))
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=GIT_TIMEOUT,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", errors="replace")


def has_history(root: Path) -> bool:
    return _git(root, "rev-parse", "--verify", "HEAD") is not None


def mine_history(root: Path, *, seed: int = 0, max_cases: int = 10, languages: tuple[str, ...] = ()) -> list[
        NextEditCase]:
    """Up to `max_cases` next-edit cases from the last MAX_COMMITS commits (none without git)."""
    log = _git(root, "log", "--no-merges", "--format=%H", f"-n{MAX_COMMITS}", "--", ".")
    if not log:
        return []
    commits = log.split()
    rng = random.Random(f"qwill-eval:{seed}:history")
    rng.shuffle(commits)
    wanted = {x.lower() for x in languages}
    cases: list[NextEditCase] = []
    prefix = (_git(root, "rev-parse", "--show-prefix") or "").strip()
    for sha in commits:
        if len(cases) >= max_cases:
            break
        names = (_git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", "--relative", sha) or "").split("\n")
        rng.shuffle(names)  # a big commit (a release) gives a sample of its files, not the first ones
        for rel in names:
            spec = language_for("", rel) if rel else None
            if spec is None or (wanted and spec.name not in wanted):
                continue
            before = _git(root, "show", f"{sha}^:{prefix}{rel}")
            after = _git(root, "show", f"{sha}:{prefix}{rel}")
            if before is None or after is None or max(len(before), len(after)) > MAX_FILE_CHARS:
                continue
            case = _case(sha, rel, spec.name, before.replace("\r\n", "\n"), after.replace("\r\n", "\n"))
            if case is not None:  # one case per file of a commit
                cases.append(case)
                if len(cases) >= max_cases:
                    break
    return cases


def _case(sha: str, rel: str, language: str, before: str, after: str) -> NextEditCase | None:
    return next(iter(split_cases(f"{sha[:10]}:{rel}", rel, language, before, after)), None)


def _small(h: Hunk) -> bool:
    return max(h.end - h.start, h.new.count("\n")) <= MAX_HUNK_LINES


def split_cases(case_id: str, rel: str, language: str, before: str, after: str, *,
                max_gap: int = MAX_GAP_LINES, max_earlier: int = 0) -> list[NextEditCase]:
    """Every next-edit case in the change `before` -> `after` of one file: a small hunk as
    the target, the small hunk just above it (within `max_gap` lines) as the user's edit and
    up to `max_earlier` more above that, each within `max_gap` lines of the next, as the
    edits the user made before it. A pair where neither side writes anything but blanks is
    not a case."""
    hs = hunks(before, after)
    out = []
    for i, (first, second) in enumerate(itertools.pairwise(hs)):
        if not (_small(first) and _small(second)) or second.start - first.end > max_gap:
            continue
        if not (first.new.strip() or second.new.strip()):
            continue
        earlier: list[Hunk] = []
        for h in reversed(hs[:i]):
            above = earlier[0] if earlier else first
            if len(earlier) >= max_earlier or not _small(h) or above.start - h.end > max_gap:
                break
            earlier.insert(0, h)
        out.append(NextEditCase(case_id, rel, language, before, first, second, tuple(earlier)))
    return out

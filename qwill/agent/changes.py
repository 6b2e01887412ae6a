"""A step's edits as one multi-file change set, and writing one to disk atomically.

The agent never writes a file while it works: its tools stage changes, and
each step ends with one ChangeSet that a surface applies after review (the LSP
layer turns it into a WorkspaceEdit, the CLI shows a unified diff and writes
it to disk, ACP asks for permission and writes through the client).
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..context.text_diff import line_changes
from .protected import is_protected


class ChangeKind(StrEnum):
    MODIFY = "modify"
    CREATE = "create"
    DELETE = "delete"
    RENAME = "rename"


@dataclass(frozen=True)
class Edit:
    """Replace old_text[start:end] (character offsets) with `new_text`."""

    start: int
    end: int
    new_text: str


@dataclass(frozen=True)
class FileChange:
    kind: ChangeKind
    path: str  # workspace-relative, '/'-separated
    old_text: str | None = None
    new_text: str | None = None
    new_path: str | None = None  # for RENAME
    # version of the editor buffer the change was computed against (None: disk)
    version: int | None = None

    @property
    def edits(self) -> list[Edit]:
        """Minimal line-level edits from old_text to new_text (MODIFY)."""
        return minimal_edits(self.old_text or "", self.new_text or "")

    @property
    def target(self) -> str:
        return self.new_path or self.path


# Paths whose changes a reviewer should look at twice: tests and CI.
_FLAG_PARTS = ("tests/", "test/", ".github/", ".ci/", ".gitlab-ci", "conftest.py", "Makefile",
               "tox.ini", "noxfile.py", ".circleci/", "Jenkinsfile", "pytest.ini")


def is_sensitive(path: str) -> bool:
    """Tests, CI, and what only the user may change (editor and tool settings, .envrc):
    their changes are always confirmed, whatever the approval settings."""
    p = "/" + path
    name = path.rsplit("/", 1)[-1]
    return (is_protected(path) or any(f"/{part}" in p for part in _FLAG_PARTS) or name.startswith("test_")
            or name.endswith(("_test.py", ".test.js", ".test.ts", "_test.go", ".spec.ts")))


@dataclass
class ChangeSet:
    step: int
    changes: list[FileChange] = field(default_factory=list)
    label: str = ""

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def paths(self) -> list[str]:
        out: list[str] = []
        for c in self.changes:
            out.append(c.path)
            if c.new_path:
                out.append(c.new_path)
        return list(dict.fromkeys(out))

    @property
    def flagged(self) -> list[str]:
        """Changed paths under tests, CI or settings (always confirmed)."""
        return [p for p in self.paths if is_sensitive(p)]

    def diff(self) -> str:
        """A unified diff of the whole change set (git style paths)."""
        out: list[str] = []
        for c in self.changes:
            if c.kind is ChangeKind.RENAME:
                out.append(f"rename {c.path} -> {c.new_path}\n")
                if c.old_text is not None and c.new_text is not None and c.old_text != c.new_text:
                    out.extend(_udiff(c.old_text, c.new_text, f"a/{c.path}", f"b/{c.new_path}"))
                continue
            old = c.old_text if c.kind is not ChangeKind.CREATE else ""
            new = c.new_text if c.kind is not ChangeKind.DELETE else ""
            a = "/dev/null" if c.kind is ChangeKind.CREATE else f"a/{c.path}"
            b = "/dev/null" if c.kind is ChangeKind.DELETE else f"b/{c.path}"
            out.extend(_udiff(old or "", new or "", a, b))
        return "".join(out)

    def summary(self) -> str:
        parts = []
        for c in self.changes:
            if c.kind is ChangeKind.RENAME:
                parts.append(f"renamed {c.path} -> {c.new_path}")
            else:
                parts.append(f"{'modified' if c.kind is ChangeKind.MODIFY else c.kind.value + 'd'} {c.path}")
        return "; ".join(parts)


def _udiff(old: str, new: str, a: str, b: str) -> list[str]:
    lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                      a, b, n=3))
    fixed = []
    for line in lines:
        fixed.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return fixed


def minimal_edits(old: str, new: str) -> list[Edit]:
    """Line-level replacements that turn `old` into `new` (offsets into `old`)."""
    return [Edit(c.start, c.end, "".join(c.new_lines)) for c in line_changes(old, new)]


def apply_edits(text: str, edits: list[Edit]) -> str:
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:e.start] + e.new_text + text[e.end:]
    return text


class ApplyError(RuntimeError):
    pass


def write_to_disk(root: Path, changes: ChangeSet) -> None:
    """Apply a change set to files under `root`, all or nothing.

    New contents are written to temporary files beside their targets first and
    checked against what was reviewed (a file changed on disk since is an
    error); only then are they moved into place with os.replace.
    """
    root = root.resolve()
    staged: list[tuple[str, Path, Path | None]] = []  # (op, target, temp or None)

    def check(rel: str, expected: str | None) -> Path:
        p = (root / rel).resolve()
        if not p.is_relative_to(root):
            raise ApplyError(f"{rel} is outside the workspace")
        if expected is not None:
            try:
                current = p.read_text(encoding="utf-8")
            except OSError:
                raise ApplyError(f"{rel} is missing on disk") from None
            if current != expected:
                raise ApplyError(f"{rel} changed on disk since the agent read it")
        return p

    def temp_for(target: Path, text: str) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".qwill", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            if target.exists():
                os.chmod(name, target.stat().st_mode & 0o7777)
        except BaseException:  # e.g. the disk is full: leave no stray temporary file behind
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    try:
        for c in changes.changes:
            if c.kind is ChangeKind.MODIFY:
                p = check(c.path, c.old_text)
                staged.append(("write", p, temp_for(p, c.new_text or "")))
            elif c.kind is ChangeKind.CREATE:
                p = check(c.path, None)
                if p.exists():
                    raise ApplyError(f"{c.path} already exists")
                staged.append(("write", p, temp_for(p, c.new_text or "")))
            elif c.kind is ChangeKind.DELETE:
                p = check(c.path, c.old_text)
                staged.append(("delete", p, None))
            elif c.kind is ChangeKind.RENAME:
                src = check(c.path, c.old_text)
                dst = check(c.new_path or "", None)
                if dst.exists():
                    raise ApplyError(f"{c.new_path} already exists")
                staged.append(("rename", src, dst))
                if c.new_text is not None and c.new_text != c.old_text:
                    staged.append(("write", dst, temp_for(dst, c.new_text)))
    except BaseException:
        for op, _, tmp in staged:
            if op == "write" and tmp is not None:
                tmp.unlink(missing_ok=True)
        raise
    done = 0
    try:
        for op, p, other in staged:
            _commit(op, p, other)
            done += 1
    except BaseException:
        # each file already replaced is whole; remove the temporary files not yet used
        for op, _, tmp in staged[done:]:
            if op == "write" and tmp is not None:
                tmp.unlink(missing_ok=True)
        raise


def _commit(op: str, p: Path, other: Path | None) -> None:
    """One step of write_to_disk's second phase; each is atomic for its file."""
    if op == "write" and other is not None:
        os.replace(other, p)
    elif op == "delete":
        p.unlink(missing_ok=True)
    elif op == "rename" and other is not None:
        other.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, other)

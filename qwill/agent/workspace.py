"""The agent's view of the workspace: confined paths, live buffers, staged changes.

Every path a tool names must resolve inside the workspace root: `..`,
absolute paths elsewhere and symlinks that lead out are refused. Reads see the
editor's live buffer when the file is open (Session.documents), else the disk.
A step's writes are staged in memory (Staging) and become one ChangeSet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from ..context.document import DocumentStore, TextDocument
from .changes import ChangeKind, ChangeSet, FileChange

# Directories no tool walks into.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", "dist", "build",
                       ".idea", ".qwill", "target", ".eggs"})
MAX_FILE_BYTES = 2_000_000


class PathError(ValueError):
    """A path the agent may not touch; the message is shown to the model."""


def uri_to_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def path_to_uri(path: Path) -> str:
    return "file://" + quote(str(path))


class Workspace:
    def __init__(self, root: str | Path, documents: DocumentStore | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise PathError(f"workspace {root} is not a directory")
        self.documents = documents
        # Content the editor accepted for a path but may not have synced back yet.
        self._expected: dict[str, str | None] = {}

    # -- confinement -----------------------------------------------------------
    def rel(self, path: str) -> str:
        """The workspace-relative form of `path`, or PathError if it leads out."""
        if not isinstance(path, str) or not path.strip():
            raise PathError("a path is required")
        raw = path.strip()
        if raw.startswith("file://"):
            raw = uri_to_path(raw) or raw
        if "\x00" in raw:
            raise PathError("path contains a NUL byte")
        p = Path(raw)
        # Models often prefix the workspace's own name ("proj/src/a.py"): drop it
        # when nothing by that name exists at the root.
        parts = p.parts
        if (not p.is_absolute() and len(parts) > 1 and parts[0] == self.root.name
                and not (self.root / parts[0]).exists()):
            p = Path(*parts[1:])
        if p.is_absolute():
            candidate = p
        else:
            candidate = self.root / p
        # Resolve symlinks of the existing part; the rest must not climb out.
        resolved = Path(os.path.realpath(candidate))
        if not resolved.is_relative_to(self.root):
            raise PathError(f"{path} is outside the workspace; paths are relative to {self.root.name}/")
        rel = resolved.relative_to(self.root).as_posix()
        if rel in ("", "."):
            return "."
        if rel.split("/", 1)[0] == ".git":
            raise PathError(f"{path}: the repository's .git directory is off limits")
        return rel

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def uri(self, rel: str) -> str:
        return path_to_uri(self.abspath(rel))

    # -- reading -----------------------------------------------------------------
    def _open_doc(self, rel: str) -> TextDocument | None:
        if self.documents is None:
            return None
        target = str(self.abspath(rel))
        for doc in self.documents:
            p = uri_to_path(doc.uri)
            if p is not None and os.path.normpath(p) == target:
                return doc
        return None

    def is_open(self, rel: str) -> bool:
        return self._open_doc(rel) is not None

    def read_live(self, rel: str) -> tuple[str | None, int | None]:
        """(text, buffer version) of a file: the open buffer, else disk; (None, None) if absent."""
        doc = self._open_doc(rel)
        live: str | None
        version: int | None = None
        if doc is not None:
            live, version = doc.text, doc.version
        else:
            p = self.abspath(rel)
            if p.is_file():
                if p.stat().st_size > MAX_FILE_BYTES:
                    raise PathError(f"{rel} is too large to edit ({p.stat().st_size} bytes)")
                try:
                    live = p.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise PathError(f"{rel} is not a UTF-8 text file") from None
            else:
                live = None
        if rel in self._expected:
            expected = self._expected[rel]
            if live == expected:
                del self._expected[rel]
            else:
                return expected, version
        return live, version

    def exists(self, rel: str) -> bool:
        text, _ = self.read_live(rel) if not self.abspath(rel).is_dir() else ("", None)
        return text is not None or self.abspath(rel).is_dir()

    def expect(self, changes: ChangeSet) -> None:
        """The surface applied `changes`: read them back until the editor catches up."""
        for c in changes.changes:
            if c.kind is ChangeKind.DELETE:
                self._expected[c.path] = None
            elif c.kind is ChangeKind.RENAME:
                self._expected[c.path] = None
                self._expected[c.new_path or ""] = c.new_text if c.new_text is not None else c.old_text
            else:
                self._expected[c.path] = c.new_text

    def walk(self, start: str = ".") -> Iterator[str]:
        """Workspace-relative paths of files under `start` (skipping caches and VCS dirs)."""
        base = self.abspath(start) if start != "." else self.root
        if base.is_file():
            yield start
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if full.is_symlink() and not Path(os.path.realpath(full)).is_relative_to(self.root):
                    continue
                yield full.relative_to(self.root).as_posix()


@dataclass
class Staging:
    """One step's pending writes over the live view."""

    workspace: Workspace
    files: dict[str, str | None] = field(default_factory=dict)
    renames: list[tuple[str, str]] = field(default_factory=list)

    def read(self, rel: str) -> str | None:
        if rel in self.files:
            return self.files[rel]
        return self.workspace.read_live(rel)[0]

    def write(self, rel: str, text: str) -> None:
        self.files[rel] = text

    def delete(self, rel: str) -> None:
        self.files[rel] = None

    def rename(self, old: str, new: str) -> None:
        self.files[new] = self.read(old)
        self.files[old] = None
        self.renames.append((old, new))

    def __bool__(self) -> bool:
        return bool(self.files)

    def change_set(self, step: int) -> ChangeSet:
        """The net effect of the staged writes as one ChangeSet."""
        ws = self.workspace
        out = ChangeSet(step)
        handled: set[str] = set()
        for old, new in self.renames:
            if old in handled or new in handled:
                continue
            base_old, version = ws.read_live(old)
            if base_old is None or ws.read_live(new)[0] is not None:
                continue  # renamed a file created in this step, or onto an existing one
            out.changes.append(FileChange(ChangeKind.RENAME, old, base_old, self.files.get(new),
                                          new_path=new, version=version))
            handled.update((old, new))
        for rel, new_text in self.files.items():
            if rel in handled:
                continue
            base, version = ws.read_live(rel)
            if base == new_text:
                continue
            if base is None:
                out.changes.append(FileChange(ChangeKind.CREATE, rel, None, new_text))
            elif new_text is None:
                out.changes.append(FileChange(ChangeKind.DELETE, rel, base, None, version=version))
            else:
                out.changes.append(FileChange(ChangeKind.MODIFY, rel, base, new_text, version=version))
        return out

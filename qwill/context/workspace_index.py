"""The workspace symbol index: definitions across the workspace, by name.

Built from the tag queries of `qwill.context.languages` over every file of a
parsed language under the workspace folders, in a background thread (the
caller reports progress and may stop it). It respects `.gitignore` files (and
`.git/info/exclude`), skips vendored and generated directories, binary files
and huge ones, and is bounded: at most `max_files` files and `max_symbols`
symbols are kept, each with a short snippet.

Open buffers win over the disk: `update_tree` (or `update_text`) indexes a live buffer and marks
the file as owned by the editor until `release_text`, so a watched-file event
for an open file does not replace what the user sees with the saved version.
All methods are thread-safe.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from .languages import language_for
from .syntax import MAX_PARSE_CHARS, SyntaxTree, definitions

log = logging.getLogger(__name__)

# Directories never indexed: dependencies, virtualenvs, build output, VCS and tool caches.
SKIP_DIRS = frozenset({
    "node_modules", "bower_components", "jspm_packages", ".venv", "venv", "virtualenv",
    "site-packages", "vendor", "third_party", "dist", "build", "out", "target", "bin", "obj",
    "__pycache__", ".git", ".hg", ".svn", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".next", ".nuxt", ".gradle", ".idea", ".vscode", "Pods", "DerivedData",
    ".cache", "coverage", "htmlcov",
})
_GENERATED_SUFFIXES = (".min.js", ".min.css", ".bundle.js", ".pb.go", "_pb2.py", ".d.ts.map")

ProgressFn = Callable[[str, float | None], None]


@dataclass(frozen=True)
class Symbol:
    """A definition somewhere in the workspace. Offsets are characters; lines zero-based."""

    name: str
    kind: str
    path: str
    line: int
    end_line: int
    start: int
    end: int
    signature: str
    container: str = ""
    snippet: str = ""


@dataclass(frozen=True)
class IndexLimits:
    max_files: int = 5000
    max_symbols: int = 100_000
    max_file_bytes: int = 512_000


@dataclass
class IndexStats:
    files: int = 0
    symbols: int = 0
    skipped: int = 0  # files left out: too big, binary, unreadable, over the caps
    seconds: float = 0.0
    truncated: bool = False  # a cap was reached
    cancelled: bool = False


@dataclass
class _FileEntry:
    mtime: float
    symbols: tuple[Symbol, ...]
    from_buffer: bool = False


@dataclass
class _Ignore:
    base: Path
    spec: pathspec.PathSpec[Any]


def _load_ignore(directory: Path, names: Iterable[str] = (".gitignore",)) -> _Ignore | None:
    lines: list[str] = []
    for name in names:
        try:
            lines.extend((directory / name).read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError:
            continue
    if not lines:
        return None
    return _Ignore(directory, pathspec.GitIgnoreSpec.from_lines(lines))


def _ignored(path: Path, is_dir: bool, rules: list[_Ignore]) -> bool:
    for rule in rules:
        try:
            rel = path.relative_to(rule.base).as_posix()
        except ValueError:
            continue
        if rule.spec.match_file(rel + ("/" if is_dir else "")):
            return True
    return False


def is_binary(head: bytes) -> bool:
    return b"\0" in head


@dataclass
class WorkspaceIndex:
    limits: IndexLimits = field(default_factory=IndexLimits)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, _FileEntry] = {}
        self._by_name: dict[str, list[Symbol]] = {}
        self._symbol_count = 0
        self.roots: list[Path] = []
        self.truncated = False

    # -- queries ------------------------------------------------------------------
    def lookup(self, name: str) -> list[Symbol]:
        """Every indexed definition named `name`."""
        with self._lock:
            return list(self._by_name.get(name, ()))

    def symbols_in(self, path: str) -> list[Symbol]:
        with self._lock:
            entry = self._files.get(_key(path))
            return list(entry.symbols) if entry else []

    def search(self, query: str, limit: int = 100) -> list[Symbol]:
        """Definitions whose name contains `query` (case-insensitive), exact matches first."""
        q = query.lower()
        with self._lock:
            names = [n for n in self._by_name if q in n.lower()]
        names.sort(key=lambda n: (n.lower() != q, not n.lower().startswith(q), len(n), n))
        out: list[Symbol] = []
        for n in names:
            out.extend(self.lookup(n))
            if len(out) >= limit:
                break
        return out[:limit]

    @property
    def file_count(self) -> int:
        with self._lock:
            return len(self._files)

    @property
    def symbol_count(self) -> int:
        with self._lock:
            return self._symbol_count

    def __contains__(self, path: str) -> bool:
        with self._lock:
            return _key(path) in self._files

    # -- building -----------------------------------------------------------------
    def walk(self, roots: Iterable[Path], should_stop: Callable[[], bool] | None = None) -> Iterator[Path]:
        """Files under `roots` worth indexing: a parsed language, not ignored or vendored."""
        for root in roots:
            root = root.resolve()
            if not root.is_dir():
                continue
            base_rules = [r for r in (_load_ignore(root / ".git" / "info", ("exclude",)),) if r]
            if base_rules:
                base_rules[0].base = root
            yield from self._walk_dir(root, base_rules, should_stop)

    def _walk_dir(self, directory: Path, rules: list[_Ignore],
                  should_stop: Callable[[], bool] | None) -> Iterator[Path]:
        own = _load_ignore(directory)
        if own is not None:
            rules = [*rules, own]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        subdirs = []
        for entry in entries:
            if should_stop is not None and should_stop():
                return
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if entry.name in SKIP_DIRS or entry.name.startswith(".") or _ignored(path, True, rules):
                    continue
                subdirs.append(path)
            elif is_file and self.wants(path) and not _ignored(path, False, rules):
                yield path
        for sub in subdirs:
            yield from self._walk_dir(sub, rules, should_stop)

    @staticmethod
    def wants(path: Path | str) -> bool:
        """A file of a parsed language that is not generated."""
        name = os.path.basename(str(path))
        return language_for("", name) is not None and not name.endswith(_GENERATED_SUFFIXES)

    def is_ignored(self, path: Path | str) -> bool:
        """Whether `path` is outside every root, under a skipped directory, or gitignored."""
        p = Path(path).resolve()
        for root in self.roots:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            rules = [r for r in (_load_ignore(root / ".git" / "info", ("exclude",)),) if r]
            for r in rules:
                r.base = root
            d = root
            for part in rel.parts[:-1]:
                own = _load_ignore(d)
                if own is not None:
                    rules.append(own)
                d = d / part
                if part in SKIP_DIRS or part.startswith(".") or _ignored(d, True, rules):
                    return True
            own = _load_ignore(d)
            if own is not None:
                rules.append(own)
            return _ignored(p, False, rules)
        return True

    def build(self, roots: Iterable[Path | str], progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None) -> IndexStats:
        """Index every file under `roots` (blocking: run it in a thread)."""
        t0 = time.perf_counter()
        stats = IndexStats()
        root_paths = [Path(r).resolve() for r in roots]
        with self._lock:
            self.roots = root_paths
        if progress:
            progress("listing files", None)
        files: list[Path] = []
        for path in self.walk(root_paths, should_stop):
            if len(files) >= self.limits.max_files:
                stats.truncated = True
                break
            files.append(path)
        last_report = 0.0
        for i, path in enumerate(files):
            if should_stop is not None and should_stop():
                stats.cancelled = True
                break
            if self.symbol_count >= self.limits.max_symbols:
                stats.truncated = True
                stats.skipped += len(files) - i
                break
            if self.update_file(path):
                stats.files += 1
            else:
                stats.skipped += 1
            now = time.perf_counter()
            if progress and (now - last_report > 0.1 or i + 1 == len(files)):
                last_report = now
                progress(f"{i + 1}/{len(files)} files", (i + 1) / max(1, len(files)))
        stats.symbols = self.symbol_count
        stats.seconds = time.perf_counter() - t0
        with self._lock:
            self.truncated = stats.truncated
        log.info("indexed %d files, %d symbols in %.2fs%s", stats.files, stats.symbols, stats.seconds,
                 " (truncated)" if stats.truncated else "")
        return stats

    # -- updates ------------------------------------------------------------------
    def update_file(self, path: Path | str) -> bool:
        """(Re)index one file from disk; False (and the file dropped) when it is not indexable."""
        key = _key(path)
        with self._lock:
            entry = self._files.get(key)
            if entry is not None and entry.from_buffer:
                return True  # the editor owns it; its buffer is the truth
        p = Path(key)
        try:
            st = p.stat()
        except OSError:
            self.remove_file(key)
            return False
        if entry is not None and entry.mtime == st.st_mtime:
            return True
        if not self.wants(p) or st.st_size > self.limits.max_file_bytes:
            self.remove_file(key)
            return False
        with self._lock:
            if entry is None and len(self._files) >= self.limits.max_files:
                self.truncated = True
                return False
        try:
            data = p.read_bytes()
        except OSError:
            return False
        if is_binary(data[:8192]):
            self.remove_file(key)
            return False
        text = data.decode("utf-8", errors="replace")
        return self._store(key, text, "", st.st_mtime, from_buffer=False)

    def update_text(self, path: str, text: str, language_id: str = "") -> bool:
        """Index a live buffer (it takes precedence over the disk until `release_text`)."""
        return self._store(_key(path), text, language_id, 0.0, from_buffer=True)

    def update_tree(self, path: str, tree: SyntaxTree) -> bool:
        """Index a live buffer from the syntax tree the editor's document already has."""
        return self._store(_key(path), tree.text, "", 0.0, from_buffer=True, tree=tree)

    def release_text(self, path: str) -> None:
        """The buffer was closed: go back to the file on disk (if it is still wanted)."""
        key = _key(path)
        with self._lock:
            entry = self._files.get(key)
            if entry is not None:
                entry.from_buffer = False
                entry.mtime = -1.0
        if self.roots and not self.is_ignored(key):
            self.update_file(key)
        else:
            self.remove_file(key)

    def remove_file(self, path: Path | str) -> None:
        """Forget a file (or every file under a directory that was deleted)."""
        key = _key(path)
        with self._lock:
            doomed = [k for k in self._files if k == key or k.startswith(key.rstrip("/") + "/")]
            for k in doomed:
                self._drop(k)

    def _drop(self, key: str) -> None:
        entry = self._files.pop(key, None)
        if entry is None:
            return
        for sym in entry.symbols:
            bucket = self._by_name.get(sym.name)
            if bucket is not None:
                bucket[:] = [s for s in bucket if s.path != key]
                if not bucket:
                    del self._by_name[sym.name]
        self._symbol_count -= len(entry.symbols)

    def _store(self, key: str, text: str, language_id: str, mtime: float, *, from_buffer: bool,
               tree: SyntaxTree | None = None) -> bool:
        spec = tree.spec if tree is not None else language_for(language_id, key)
        if spec is None or len(text) > MAX_PARSE_CHARS:
            self.remove_file(key)
            return False
        try:
            if tree is None:
                tree = SyntaxTree(spec, text)
            defs = definitions(tree)
        except Exception:  # a grammar problem must not stop the index
            log.exception("indexing %s failed", key)
            return False
        with self._lock:
            room = self.limits.max_symbols - (self._symbol_count - len(
                self._files[key].symbols if key in self._files else ()))
            if room < len(defs):
                self.truncated = True
                defs = defs[:max(0, room)]
            symbols = tuple(
                Symbol(d.name, d.kind, key, d.line, d.end_line, d.start, d.end, d.signature,
                       d.container, d.snippet)
                for d in defs if d.name)
            self._drop(key)
            self._files[key] = _FileEntry(mtime, symbols, from_buffer)
            for sym in symbols:
                self._by_name.setdefault(sym.name, []).append(sym)
            self._symbol_count += len(symbols)
        return True


def _key(path: Path | str) -> str:
    """Index key of a path: absolute, normalised, with forward slashes."""
    return Path(os.path.abspath(str(path))).as_posix()


def uri_to_path(uri: str) -> str | None:
    """The local path of a `file:` URI (None for other schemes)."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return path

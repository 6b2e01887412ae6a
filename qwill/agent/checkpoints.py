"""Checkpoints in a shadow git store, outside the user's repository.

Before each agent step the workspace is snapshotted into a git object store
under the user cache dir (keyed by the workspace path), with the editor's
live buffers in place of their files on disk. The user's own `.git` is never
read or written. Restoring a checkpoint yields a ChangeSet that brings every
file that changed since back to its snapshot content; the surface applies it
like any other change (through the editor, or to disk), so undo is reviewed too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .changes import ChangeKind, ChangeSet, FileChange
from .workspace import SKIP_DIRS, Workspace


class CheckpointError(RuntimeError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    commit: str
    step: int
    label: str = ""


def default_store_dir(root: Path) -> Path:
    from platformdirs import user_cache_dir

    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(user_cache_dir("qwill")) / "checkpoints" / f"{root.name}-{key}"


class CheckpointStore:
    def __init__(self, workspace: Workspace, store_dir: Path | None = None) -> None:
        self.workspace = workspace
        self.git_dir = (store_dir or default_store_dir(workspace.root)).resolve()
        if self.git_dir.is_relative_to(workspace.root):
            raise CheckpointError("the checkpoint store must live outside the workspace")
        self._head: str | None = None
        self._init()

    # -- git plumbing ---------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update({
            "GIT_DIR": str(self.git_dir), "GIT_WORK_TREE": str(self.workspace.root),
            "GIT_INDEX_FILE": str(self.git_dir / "qwill-index"), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "qwill", "GIT_AUTHOR_EMAIL": "qwill@localhost",
            "GIT_COMMITTER_NAME": "qwill", "GIT_COMMITTER_EMAIL": "qwill@localhost",
            "GIT_TERMINAL_PROMPT": "0",
        })
        return env

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        try:
            r = subprocess.run(["git", "-c", "core.autocrlf=false", "-c", "core.safecrlf=false",
                                "-c", "core.quotepath=false", "-c", "advice.addEmbeddedRepo=false",
                                *args], env=self._env(), cwd=self.workspace.root, input=input,
                               capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CheckpointError(f"git failed: {exc}") from None
        if r.returncode != 0:
            raise CheckpointError(f"git {args[0]} failed: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout

    def _init(self) -> None:
        if not (self.git_dir / "HEAD").exists():
            self.git_dir.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(["git", "init", "-q", "--bare", str(self.git_dir)],
                               capture_output=True, env={k: v for k, v in os.environ.items()
                                                         if not k.startswith("GIT_")})
            if r.returncode != 0:
                raise CheckpointError(f"cannot create the checkpoint store: {r.stderr.decode()}")
        exclude = self.git_dir / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("".join(f"{d}/\n" for d in sorted(SKIP_DIRS)) + "*.egg-info/\n*.qwill\n")

    # -- snapshots ----------------------------------------------------------------------
    def _tree(self, extra_paths: tuple[str, ...] = ()) -> str:
        """A tree of the workspace as the agent sees it now (live buffers included)."""
        self._git("add", "-A", "--ignore-errors", "--", ".")
        force = [p for p in extra_paths if (self.workspace.root / p).is_file()]
        if force:
            self._git("add", "-f", "--", *force)
        ws = self.workspace
        for path in self._open_paths():
            text, _ = ws.read_live(path)
            if text is None:
                continue
            sha = self._git("hash-object", "-w", "--stdin", input=text.encode()).decode().strip()
            self._git("update-index", "--add", "--cacheinfo", f"100644,{sha},{path}")
        return self._git("write-tree").decode().strip()

    def _open_paths(self) -> list[str]:
        docs = self.workspace.documents
        if docs is None:
            return []
        out = []
        from .workspace import PathError, uri_to_path

        for doc in docs:
            p = uri_to_path(doc.uri)
            if p is None:
                continue
            try:
                rel = self.workspace.rel(p)
            except PathError:
                continue
            if rel != ".":
                out.append(rel)
        return out

    def snapshot(self, step: int, label: str = "", extra_paths: tuple[str, ...] = ()) -> Checkpoint:
        tree = self._tree(extra_paths)
        args = ["commit-tree", tree, "-m", f"step {step}: {label}"[:200]]
        if self._head:
            args[2:2] = ["-p", self._head]
        commit = self._git(*args).decode().strip()
        self._git("update-ref", "refs/qwill/head", commit)
        self._head = commit
        return Checkpoint(commit, step, label)

    def include(self, checkpoint: Checkpoint, paths: tuple[str, ...]) -> Checkpoint:
        """Add files the checkpoint missed (ignored by .gitignore) with their current content."""
        missing = [p for p in paths if not self._has(checkpoint.commit, p)
                   and (self.workspace.root / p).is_file()]
        if not missing:
            return checkpoint
        self._git("read-tree", checkpoint.commit)
        for p in missing:
            text, _ = self.workspace.read_live(p)
            if text is None:
                continue
            sha = self._git("hash-object", "-w", "--stdin", input=text.encode()).decode().strip()
            self._git("update-index", "--add", "--cacheinfo", f"100644,{sha},{p}")
        tree = self._git("write-tree").decode().strip()
        commit = self._git("commit-tree", tree, "-m", f"step {checkpoint.step}: {checkpoint.label}").decode().strip()
        return Checkpoint(commit, checkpoint.step, checkpoint.label)

    def _has(self, commit: str, path: str) -> bool:
        out = self._git("ls-tree", "--name-only", commit, "--", path).decode().strip()
        return bool(out)

    def _blob(self, commit: str, path: str) -> bytes:
        return self._git("cat-file", "blob", f"{commit}:{path}")

    # -- restoring -------------------------------------------------------------------------
    def restore(self, checkpoint: Checkpoint, step: int = 0) -> ChangeSet:
        """The ChangeSet that brings the workspace back to `checkpoint` exactly."""
        now = self._tree()
        out = ChangeSet(step, label=f"restore to before step {checkpoint.step}")
        raw = self._git("diff-tree", "-r", "--no-renames", "-z", "--name-status",
                        f"{checkpoint.commit}^{{tree}}", now).decode()
        parts = [p for p in raw.split("\0") if p]
        ws = self.workspace
        for status, path in zip(parts[::2], parts[1::2], strict=False):
            current, version = ws.read_live(path)
            if status == "A":  # created since
                if current is not None:
                    out.changes.append(FileChange(ChangeKind.DELETE, path, current, None, version=version))
                continue
            try:
                old = self._blob(checkpoint.commit, path).decode("utf-8")
            except UnicodeDecodeError:
                raise CheckpointError(f"{path} is binary; restore it with git") from None
            if status == "D" or current is None:
                out.changes.append(FileChange(ChangeKind.CREATE, path, None, old))
            elif current != old:
                out.changes.append(FileChange(ChangeKind.MODIFY, path, current, old, version=version))
        return out

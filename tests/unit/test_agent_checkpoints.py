"""Shadow-git checkpoints: snapshots outside the repo, exact restores."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qwill.agent.changes import write_to_disk
from qwill.agent.checkpoints import CheckpointError, CheckpointStore
from qwill.agent.workspace import Workspace
from qwill.context.document import DocumentStore, TextChange


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("A = 1\n")
    (root / "notes.txt").write_text("keep\r\nwindows line endings\r\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("ignored\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def snapshot_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_restore_brings_back_modified_deleted_and_removes_created(repo: Path, tmp_path: Path) -> None:
    ws = Workspace(repo)
    store = CheckpointStore(ws, tmp_path / "store")
    before = snapshot_files(repo)
    user_git = sorted(p.name for p in (repo / ".git").rglob("*"))
    cp = store.snapshot(1, "edit")
    (repo / "src" / "a.py").write_text("A = 2\n")
    (repo / "notes.txt").unlink()
    (repo / "src" / "new.py").write_text("NEW\n")
    changes = store.restore(cp)
    assert sorted((c.kind.value, c.path) for c in changes.changes) == [
        ("create", "notes.txt"), ("delete", "src/new.py"), ("modify", "src/a.py")]
    write_to_disk(repo, changes)
    assert snapshot_files(repo) == before  # byte for byte, CRLF included
    # the user's repository was not touched
    assert sorted(p.name for p in (repo / ".git").rglob("*")) == user_git
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True).returncode != 0


def test_rewind_over_several_steps(repo: Path, tmp_path: Path) -> None:
    ws = Workspace(repo)
    store = CheckpointStore(ws, tmp_path / "store")
    cps = []
    for n in range(1, 4):
        cps.append(store.snapshot(n))
        (repo / "src" / "a.py").write_text(f"A = {n + 1}\n")
    write_to_disk(repo, store.restore(cps[2]))  # undo the last step
    assert (repo / "src" / "a.py").read_text() == "A = 3\n"
    write_to_disk(repo, store.restore(cps[0]))  # rewind to the start
    assert (repo / "src" / "a.py").read_text() == "A = 1\n"
    assert not store.restore(cps[0]).changes


def test_live_buffers_are_what_is_snapshotted(repo: Path, tmp_path: Path) -> None:
    docs = DocumentStore()
    ws = Workspace(repo, docs)
    uri = ws.uri("src/a.py")
    docs.open(uri, "A = 'unsaved'\n", version=3)
    store = CheckpointStore(ws, tmp_path / "store")
    cp = store.snapshot(1)
    docs.change(uri, 4, [TextChange("A = 9\n")])
    (change,) = store.restore(cp).changes
    assert change.path == "src/a.py" and change.new_text == "A = 'unsaved'\n" and change.version == 4


def test_ignored_files_are_kept_out_unless_included(repo: Path, tmp_path: Path) -> None:
    ws = Workspace(repo)
    store = CheckpointStore(ws, tmp_path / "store")
    cp = store.snapshot(1)
    (repo / "debug.log").write_text("changed\n")
    assert not store.restore(cp).changes  # ignored: neither saved nor touched
    cp2 = store.include(store.snapshot(2), ("debug.log",))
    (repo / "debug.log").write_text("changed again\n")
    write_to_disk(repo, store.restore(cp2))
    assert (repo / "debug.log").read_text() == "changed\n"


def test_store_inside_the_workspace_is_refused(repo: Path) -> None:
    with pytest.raises(CheckpointError):
        CheckpointStore(Workspace(repo), repo / ".qwill-store")


def test_default_store_is_keyed_by_workspace_under_the_cache(repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = CheckpointStore(Workspace(repo))
    assert store.git_dir.is_relative_to(tmp_path / "cache")
    assert repo.name in store.git_dir.name

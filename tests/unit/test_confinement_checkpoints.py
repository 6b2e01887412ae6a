"""Checkpoints restore byte for byte (property test over random trees and edits).

Hypothesis makes a file tree (nested directories, CRLF and LF, no final
newline, empty files, non-ASCII names and text), snapshots it with the agent's
checkpoint store, changes it over several steps (edits, deletions, creations in
new directories, renames), snapshotting before each step, then restores a
random earlier checkpoint and writes the restoring change set to disk the way
`qwill agent` does. Every file must be back exactly as it was at that
checkpoint, and no file that was not there then may remain.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwill.agent.changes import write_to_disk
from qwill.agent.checkpoints import CheckpointError, CheckpointStore
from qwill.agent.workspace import Workspace

names = st.sampled_from(["a.py", "b.txt", "README.md", "ü ber.py", "x", "main.rs", ".env.example"])
dirs = st.lists(st.sampled_from(["src", "pkg", "docs", "tests", "ä"]), max_size=2).map("/".join)
paths = st.builds(lambda d, n: f"{d}/{n}" if d else n, dirs, names)
texts = st.lists(st.sampled_from(["def f():\n", "    return 1\n", "x = 'é😀'\r\n", "\r\n", "\n", "no newline",
                                  "\t# tab\n", " ", "€"]), max_size=6).map("".join)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def write_tree(root: Path, tree: dict[str, str]) -> None:
    for rel, text in tree.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))


def clean_tree(tree: dict[str, str]) -> dict[str, str]:
    """Drop paths that are both a file and a directory's prefix ("x" and "x/a.py")."""
    out: dict[str, str] = {}
    for rel in sorted(tree, key=len):
        if not any(rel.startswith(other + "/") for other in out):
            out[rel] = tree[rel]
    return out


@st.composite
def steps(draw: st.DrawFn) -> list[list[tuple[str, str, str]]]:
    """Each step: (op, path, text or new path) with op modify/delete/create/rename."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        ops = draw(st.lists(st.tuples(st.sampled_from(["modify", "delete", "create", "rename"]), paths,
                                      texts | paths), min_size=1, max_size=5))
        out.append(ops)
    return out


def apply_step(root: Path, ops: list[tuple[str, str, str]]) -> None:
    existing = sorted(files(root))
    for n, (op, path, arg) in enumerate(ops):
        target = root / (existing[n % len(existing)] if existing and op in ("modify", "delete", "rename")
                         else path)
        if op == "modify" and target.is_file():
            target.write_bytes(arg.encode("utf-8") + b"+")
        elif op == "delete" and target.is_file():
            target.unlink()
        elif op == "create":
            if target.exists() or any(parent.is_file() for parent in target.parents):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(arg.encode("utf-8"))
        elif op == "rename" and target.is_file():
            dest = root / "renamed" / (Path(arg).name or "r.txt").replace("\n", "")
            if dest.exists() or dest.parent.is_file():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            target.rename(dest)
        existing = sorted(files(root))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(paths, texts, min_size=1, max_size=6).map(clean_tree), history=steps(),
       pick=st.integers(0, 10))
def test_restore_brings_back_every_byte(tmp_path_factory: pytest.TempPathFactory, tree, history, pick) -> None:
    base = tmp_path_factory.mktemp("cp")
    root = base / "repo"
    root.mkdir()
    write_tree(root, tree)
    store = CheckpointStore(Workspace(root), base / "store")
    checkpoints, states = [], []
    for n, ops in enumerate(history, start=1):
        states.append(files(root))
        checkpoints.append(store.snapshot(n, f"step {n}"))
        apply_step(root, ops)
    k = pick % len(checkpoints)
    write_to_disk(root, store.restore(checkpoints[k]))
    assert files(root) == states[k]
    # restoring again finds nothing left to do
    assert not store.restore(checkpoints[k]).changes


def test_a_binary_file_is_not_restored_as_text(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "blob.bin").write_bytes(b"\x00\xff\xfe binary")
    store = CheckpointStore(Workspace(root), tmp_path / "store")
    cp = store.snapshot(1)
    (root / "blob.bin").write_bytes(b"changed")
    with pytest.raises(CheckpointError, match="binary"):
        store.restore(cp)
    assert (root / "blob.bin").read_bytes() == b"changed"  # nothing half-done


def test_the_users_repository_is_never_touched(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "a.py").write_text("A = 1\n")
    before = sorted((p.relative_to(root).as_posix(), p.stat().st_mtime_ns)
                    for p in (root / ".git").rglob("*"))
    store = CheckpointStore(Workspace(root), tmp_path / "store")
    cp = store.snapshot(1)
    (root / "a.py").write_text("A = 2\n")
    write_to_disk(root, store.restore(cp))
    after = sorted((p.relative_to(root).as_posix(), p.stat().st_mtime_ns) for p in (root / ".git").rglob("*"))
    assert after == before
    assert (root / "a.py").read_text() == "A = 1\n"

"""A crash while the agent writes a step to disk leaves each file wholly old or wholly new.

`qwill agent` writes a reviewed change set with write_to_disk: every new
content goes to a temporary file beside its target first, and only then are
they moved into place with os.replace (atomic per file). Here the write fails
at every point it can (an error while a temporary file is written, an error
at each os.replace), and the real CLI is killed with SIGKILL while it writes
a step that changes many large files; after each, every file is exactly its
old or its new content, and no temporary file is left behind by an error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qwill.agent.changes as changes_mod
from qwill.agent.changes import ChangeKind, ChangeSet, FileChange, write_to_disk

N = 6


def old_text(i: int) -> str:
    return f"# file {i}\n" + "old line\n" * (50 + i)


def new_text(i: int) -> str:
    return f"# file {i}\n" + "NEW LINE\r\n" * (70 + i)


def make_step(root: Path) -> ChangeSet:
    """Modify N files, create one, delete one, rename one (with new content)."""
    for i in range(N):
        (root / f"f{i}.py").write_text(old_text(i), newline="")
    (root / "gone.py").write_text("delete me\n")
    (root / "old_name.py").write_text("rename me\n")
    cs = ChangeSet(1)
    cs.changes += [FileChange(ChangeKind.MODIFY, f"f{i}.py", old_text(i), new_text(i)) for i in range(N)]
    cs.changes.append(FileChange(ChangeKind.CREATE, "pkg/new.py", None, "created\n"))
    cs.changes.append(FileChange(ChangeKind.DELETE, "gone.py", "delete me\n", None))
    cs.changes.append(FileChange(ChangeKind.RENAME, "old_name.py", "rename me\n", "renamed\n",
                                 new_path="new_name.py"))
    return cs


def assert_each_file_whole(root: Path) -> None:
    for i in range(N):
        assert (root / f"f{i}.py").read_bytes().decode() in (old_text(i), new_text(i)), i
    if (root / "pkg" / "new.py").exists():
        assert (root / "pkg" / "new.py").read_text() == "created\n"
    if (root / "gone.py").exists():
        assert (root / "gone.py").read_text() == "delete me\n"
    names = {p.name for p in root.iterdir()}
    assert ("old_name.py" in names) != ("new_name.py" in names)
    if "new_name.py" in names:
        assert (root / "new_name.py").read_text() in ("rename me\n", "renamed\n")


def stray(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.qwill"))


def test_the_step_applies_whole(tmp_path: Path) -> None:
    cs = make_step(tmp_path)
    write_to_disk(tmp_path, cs)
    assert [(tmp_path / f"f{i}.py").read_bytes().decode() for i in range(N)] == [new_text(i) for i in range(N)]
    assert (tmp_path / "new_name.py").read_text() == "renamed\n" and not (tmp_path / "gone.py").exists()
    assert stray(tmp_path) == []


@pytest.mark.parametrize("fail_at", range(N + 2))
def test_an_error_while_writing_a_temporary_file_changes_nothing(tmp_path: Path, monkeypatch,
                                                                  fail_at: int) -> None:
    cs = make_step(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    real_fdopen = os.fdopen
    calls = [0]

    def fdopen(fd: int, *a, **kw):  # type: ignore[no-untyped-def]
        fh = real_fdopen(fd, *a, **kw)
        calls[0] += 1
        if calls[0] == fail_at + 1:
            real_write = fh.write

            def write(text: str) -> int:
                real_write(text[: len(text) // 2])  # half of it reaches the disk, then ENOSPC
                raise OSError(28, "No space left on device")

            fh.write = write
        return fh

    monkeypatch.setattr(changes_mod.os, "fdopen", fdopen)
    with pytest.raises(OSError):
        write_to_disk(tmp_path, cs)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # nothing replaced, nothing half-written
    assert stray(tmp_path) == []


@pytest.mark.parametrize("fail_at", range(N + 3))
def test_an_error_at_each_replace_leaves_each_file_whole(tmp_path: Path, monkeypatch, fail_at: int) -> None:
    cs = make_step(tmp_path)
    real_replace = os.replace
    calls = [0]

    def replace(src, dst):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == fail_at + 1:
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(changes_mod.os, "replace", replace)
    with pytest.raises(OSError):
        write_to_disk(tmp_path, cs)
    assert_each_file_whole(tmp_path)
    assert stray(tmp_path) == []


# -- the real CLI, killed while it writes -----------------------------------------------------
FILES = 24
BIG = 6000  # lines of ~65 characters: ~0.4 MB per file, ~9 MB written by the step


def call(name: str, **args: str) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def big_old(i: int) -> str:
    return "".join(f"value_{i}_{n} = compute({n}, 'a fairly long line of old text')\n" for n in range(BIG))


def big_new(i: int) -> str:
    return big_old(i).replace(f"value_{i}_0 = compute(0,", f"value_{i}_0 = compute_new(0,", 1)


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.01, 0.03])
def test_killing_qwill_agent_mid_write_leaves_each_file_whole(tmp_path: Path, delay: float) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    for i in range(FILES):
        (root / f"m{i}.py").write_text(big_old(i))
    # three steps of eight edits (the most tool calls the agent takes in one turn)
    steps = ["".join(call("edit_file", path=f"m{i}.py", old_text=f"value_{i}_0 = compute(0,",
                          new_text=f"value_{i}_0 = compute_new(0,") for i in range(k, k + 8))
             for k in range(0, FILES, 8)]
    script = tmp_path / "fake.json"
    script.write_text(json.dumps({"responses": [*steps, "Done."]}))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "qwill", "agent", "rewrite", "--model", f"fake:{script}",
                             "--root", str(root), "--yes", "--no-checkpoints"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        # wait until the step is being written (its temporary files appear), then kill it
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if any(e.name.endswith(".qwill") for e in os.scandir(root)):
                break
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    for i in range(FILES):
        assert (root / f"m{i}.py").read_text() in (big_old(i), big_new(i)), f"m{i}.py is neither old nor new"
    # temporary files a SIGKILL leaves are hidden, never mistaken for a source file
    assert all(name.startswith(".") for name in stray(root))

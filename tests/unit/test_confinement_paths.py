"""Every file tool of the agent stays inside the workspace, whatever path the model writes.

Hypothesis builds paths from `..`, `.`, absolute prefixes, `file://` URIs, the
workspace's own name, a sibling whose name starts like the workspace's,
symlinks that lead out (to a directory, to a file, dangling) and one that
stays in, and `.git`. Each path goes through every file tool; the staged
change set is then written to disk the way `qwill agent` writes it. Nothing
outside the workspace (or in its .git) is ever read into a tool's answer or
changed on disk.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwill.agent.changes import ApplyError, write_to_disk
from qwill.agent.tools import ToolContext, ToolError, call_tool
from qwill.agent.workspace import PathError, Staging, Workspace

SECRET = "SECRET-DO-NOT-LEAK"


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under root: file bytes, or the target of a symlink."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


def make_base(base: Path) -> Path:
    (base / "outside" / "dir").mkdir(parents=True)
    (base / "outside" / "secret.txt").write_text(f"{SECRET} outside\n")
    (base / "outside" / "dir" / "x.py").write_text(f"X = '{SECRET}'\n")
    (base / "ws-evil").mkdir()  # starts with the workspace's name: a prefix check would let it in
    (base / "ws-evil" / "prefix.txt").write_text(f"{SECRET} prefix\n")
    ws = base / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.py").write_text("A = 1\n")
    (ws / "README.md").write_text("# readme\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text(f"[core]\n# {SECRET} git\n")
    os.symlink("../outside", ws / "link_out")
    os.symlink(base / "outside" / "secret.txt", ws / "secret_link")
    os.symlink("../outside/nothing.txt", ws / "dangling")
    os.symlink("src", ws / "inner_link")
    os.symlink("../ws-evil", ws / "evil_link")
    return base


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the property test's examples (what they create inside stays)."""
    return make_base(tmp_path_factory.mktemp("confine"))


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return make_base(tmp_path)


SEGMENTS = ["..", ".", "src", "a.py", "link_out", "secret_link", "dangling", "inner_link", "evil_link",
            "secret.txt", "dir", "x.py", "ws", "ws-evil", "prefix.txt", "outside", ".git", "config",
            "new.py", "", "nothing.txt"]


@st.composite
def model_paths(draw: st.DrawFn, base: Path) -> str:
    rel = "/".join(draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5)))
    prefix = draw(st.sampled_from(["", "", "", "/", f"{base}/", f"{base}/ws/", f"file://{base}/",
                                   f"file://{base}/ws/", "./", "ws/", "~/", "//"]))
    path = prefix + rel
    if draw(st.integers(0, 30)) == 0:
        path += "\x00.py"
    return path


def calls_for(path: str) -> list[tuple[str, dict[str, object]]]:
    return [
        ("read_file", {"path": path}),
        ("list_files", {"path": path}),
        ("grep", {"pattern": "SECRET", "path": path}),
        ("edit_file", {"path": path, "old_text": SECRET, "new_text": "PWNED"}),
        ("create_file", {"path": path, "content": "PWNED\n"}),
        ("delete_file", {"path": path}),
        ("rename_file", {"path": path, "new_path": "moved.txt"}),
        ("rename_file", {"path": "README.md", "new_path": path}),
    ]


async def run_calls(ws: Workspace, paths: list[str]) -> list[str]:
    """Run every tool on every path; then apply what was staged as the CLI does."""
    outputs = []
    for path in paths:
        for name, args in calls_for(path):
            staging = Staging(ws)
            ctx = ToolContext(ws, staging)
            try:
                outputs.append(await call_tool(ctx, name, args))
            except ToolError as exc:
                outputs.append(str(exc))
                continue
            for rel in list(staging.files) + [p for pair in staging.renames for p in pair]:
                target = Path(os.path.realpath(ws.root / rel))
                assert target.is_relative_to(ws.root), (name, path, rel)
                assert rel.split("/", 1)[0] != ".git", (name, path, rel)
            try:
                write_to_disk(ws.root, staging.change_set(1))
            except (ApplyError, OSError):
                pass
    return outputs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_file_tool_reads_or_writes_outside_the_workspace(base: Path, data) -> None:
    ws_root = base / "ws"
    outside_before = {k: v for k, v in tree(base).items() if not k.startswith("ws/") and k != "ws"}
    git_before = tree(ws_root / ".git")
    links_before = {k: v for k, v in tree(ws_root).items() if isinstance(v, str) and v.startswith("->")}
    paths = data.draw(st.lists(model_paths(base), min_size=1, max_size=4))
    outputs = asyncio.run(run_calls(Workspace(ws_root), paths))
    for out in outputs:
        assert SECRET not in out, out
    outside_after = {k: v for k, v in tree(base).items() if not k.startswith("ws/") and k != "ws"}
    assert outside_after == outside_before
    assert tree(ws_root / ".git") == git_before
    # the symlinks themselves are neither followed out nor replaced
    assert {k: v for k, v in tree(ws_root).items() if k in links_before} == links_before


@pytest.mark.parametrize("path", ["../outside/secret.txt", "link_out/secret.txt", "secret_link", "dangling",
                                  "evil_link/prefix.txt", "ws/../ws-evil/prefix.txt", "/etc/passwd",
                                  "file:///etc/passwd", ".git/config", "src/../.git/config", "a\x00b"])
def test_each_way_out_is_refused_with_a_reason(fresh: Path, path: str) -> None:
    ws = Workspace(fresh / "ws")
    with pytest.raises(PathError) as err:
        ws.rel(path)
    assert str(err.value)


def test_a_symlink_that_stays_inside_is_followed(fresh: Path) -> None:
    assert Workspace(fresh / "ws").rel("inner_link/a.py") == "src/a.py"


def test_a_file_replaced_by_an_outward_symlink_after_review_is_not_written(tmp_path: Path) -> None:
    """Between the agent's read and the write, a path may become a symlink to outside."""
    root = tmp_path / "ws2"
    (root / "src").mkdir(parents=True)
    (root / "src" / "b.py").write_text("B = 1\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("B = 1\n")
    ws = Workspace(root)
    staging = Staging(ws)
    asyncio.run(call_tool(ToolContext(ws, staging), "edit_file",
                          {"path": "src/b.py", "old_text": "B = 1", "new_text": "B = 2"}))
    changes = staging.change_set(1)
    (root / "src" / "b.py").unlink()
    os.symlink(victim, root / "src" / "b.py")
    with pytest.raises(ApplyError):
        write_to_disk(root, changes)
    assert victim.read_text() == "B = 1\n"

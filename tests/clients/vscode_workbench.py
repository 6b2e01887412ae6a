"""A real VS Code for the tests: code-server (VS Code 1.139 in the browser) with the project's
.vsix installed, driven from headless Debian chromium through playwright-core.

`CodeServer` is the process (its user-data dir, machine/user settings, extensions and one
workspace folder); `Workbench` is the page a user looks at, with the helpers a test needs:
open a file, type, wait for ghost text, run a command from the palette, read the buffer, the
status bar and the notifications, take a screenshot. The browser runs in a small Node program
(editor-clients/vscode/e2e/driver.mjs) spoken to in JSON lines. The fixtures that start them
once per test module are in conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editor-clients" / "vscode"
E2E = EXT / "e2e"
INSTALL_SCRIPT = E2E / "code-server.sh"

# A quiet workbench: no welcome page, tours, update checks, telemetry or AI chat, so that what
# is on screen is the user's file and what the extension shows.
USER_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "chat.disableAIFeatures": True,
    "security.workspace.trust.enabled": False,
    "files.autoSave": "off",
    "editor.minimap.enabled": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "window.commandCenter": False,
    "git.enabled": False,
    # the sticky-scroll header lies over the first lines once the editor scrolls by one,
    # and took the clicks meant for the light bulb there
    "editor.stickyScroll.enabled": False,
}


def missing() -> list[str]:
    """Why the real VS Code cannot run here, one reason a line (empty: it can)."""
    reasons = []
    for tool in ("node", "npm"):
        if not _which(tool):
            reasons.append(f"{tool} is not installed (Node 20+ and npm build the extension)")
    if not (EXT / "node_modules" / "playwright-core").exists():
        reasons.append("playwright-core is not installed in editor-clients/vscode (make vscode-deps)")
    out = subprocess.run(["bash", str(INSTALL_SCRIPT), "missing"], capture_output=True, text=True, check=True)
    reasons += [line for line in out.stdout.splitlines() if line.strip()]
    return reasons


def code_server_binary() -> Path:
    out = subprocess.run(["bash", str(INSTALL_SCRIPT), "where"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()) / "bin" / "code-server"


def _which(tool: str) -> bool:
    return any(os.access(Path(d) / tool, os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_vsix(dest: Path) -> Path:
    """The project's .vsix, packaged from this checkout (the bundle built by vsce's prepublish)."""
    out = subprocess.run(["npx", "vsce", "package", "--no-dependencies", "--skip-license",
                          "--allow-missing-repository", "-o", str(dest)],
                         cwd=EXT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "NO_UPDATE_NOTIFIER": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    return dest


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1,
             describe: Callable[[], str] | None = None) -> Any:
    """Poll `probe` until it returns something truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            extra = f"; {describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value {last!r}{extra}")
        time.sleep(interval)


class CodeServer:
    """code-server with the extension installed, one workspace folder, its own user-data dir."""

    def __init__(self, root: Path, vsix: Path, *, qwill: Path,
                 user_settings: dict[str, Any] | None = None,
                 machine_settings: dict[str, Any] | None = None) -> None:
        self.root = root
        self.binary = code_server_binary()
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        self.workspace = root / "workspace"
        self.log_path = root / "code-server.log"
        self.config = root / "config.yaml"
        for d in (self.user_data / "User", self.user_data / "Machine", self.extensions, self.workspace):
            d.mkdir(parents=True, exist_ok=True)
        self.config.write_text("auth: none\n")
        self.write_settings("User", {**USER_SETTINGS, **(user_settings or {})})
        # machine-scoped settings (which program to run) are read only from here
        self.write_settings("Machine", {"qwill.server.path": str(qwill), **(machine_settings or {})})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._cli("--install-extension", str(vsix))

    def _env(self) -> dict[str, str]:
        # keep code-server's own config and state out of the user's home
        return {**os.environ, "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
                "XDG_DATA_HOME": str(self.root / "xdg-data")}

    def _cli(self, *args: str) -> str:
        out = subprocess.run([str(self.binary), "--config", str(self.config), "--user-data-dir", str(self.user_data),
                              "--extensions-dir", str(self.extensions), *args],
                             capture_output=True, text=True, timeout=300, env=self._env())
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def settings_path(self, scope: str) -> Path:
        """`User`, `Machine`, or `Workspace` (the folder's .vscode/settings.json)."""
        if scope == "Workspace":
            return self.workspace / ".vscode" / "settings.json"
        return self.user_data / scope / "settings.json"

    def read_settings(self, scope: str) -> dict[str, Any]:
        path = self.settings_path(scope)
        return json.loads(path.read_text()) if path.exists() else {}

    def write_settings(self, scope: str, settings: dict[str, Any]) -> None:
        """Write a whole settings file; VS Code picks the change up and tells the extension."""
        path = self.settings_path(scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2))

    @contextlib.contextmanager
    def settings(self, scope: str, **changes: Any):
        """Set some settings for the block, then restore the file as it was. While code-server
        runs, only the workspace's file is watched: User and Machine settings are read at start
        (give them to the constructor, or override the `vscode_settings` fixtures)."""
        assert self.proc is None or scope == "Workspace", f"code-server does not see {scope} settings change"
        before = self.read_settings(scope)
        self.write_settings(scope, {**before, **changes})
        try:
            yield
        finally:
            self.write_settings(scope, before)

    def start(self) -> CodeServer:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config), "--auth", "none",
             "--bind-addr", f"127.0.0.1:{self.port}", "--user-data-dir", str(self.user_data),
             "--extensions-dir", str(self.extensions), "--disable-telemetry", "--disable-update-check",
             "--disable-workspace-trust", "--disable-getting-started-override", str(self.workspace)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
            start_new_session=True)  # its own process group: stop() ends the extension host and qwill too
        log.close()

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for("code-server to listen", healthy, timeout=120, interval=0.2)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={self.workspace}"

    def qwill_servers(self) -> list[int]:
        """Pids of the `qwill serve` processes code-server's extension host runs."""
        assert self.proc is not None
        found = []
        for pid in _descendants(self.proc.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in argv and any(a.endswith(b"qwill") for a in argv[:3]):
                found.append(pid)
        return found

    def logs(self, name: str) -> str:
        """The newest log files of the workbench whose name contains `name` (e.g. `Qwill`)."""
        pattern = f"*{name}*.log" if name else "*.log"  # "**.log" is not a valid pattern
        files = sorted((self.user_data / "logs").rglob(pattern), key=lambda p: p.stat().st_mtime)
        return "\n".join(f"== {p.relative_to(self.user_data)}\n{p.read_text(errors='replace')[-6000:]}"
                         for p in files[-3:])

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
        # whatever outlived its parent in the group (the extension host, qwill serve)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return out[1:]


class DriverError(RuntimeError):
    """playwright-core raised (the message carries its stack)."""


# Runs in the page before VS Code's own scripts: records each change of the Qwill status bar
# item (its icon and accessible label), so a test sees states too short to poll for.
STATUS_RECORDER = """
(() => {
  window.__qwillStatus = [];
  const read = () => {
    const item = document.getElementById('qwill.qwill.qwill.status');
    if (!item) return null;
    const icon = item.querySelector('.codicon');
    const name = icon ? [...icon.classList].find((c) => c.startsWith('codicon-') && c !== 'codicon-modifier-spin') : '';
    const label = item.querySelector('a')?.getAttribute('aria-label') ?? item.getAttribute('aria-label') ?? '';
    return { icon: (name || '').replace('codicon-', ''), label, text: item.textContent.trim() };
  };
  const record = () => {
    const now = read();
    const last = window.__qwillStatus[window.__qwillStatus.length - 1];
    if (now && (!last || last.icon !== now.icon || last.label !== now.label)) {
      window.__qwillStatus.push({ ...now, t: performance.now() });
    }
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true,
                                                   characterData: true });
})();
"""

GHOST_TEXT = """
(() => {
  const editor = document.querySelector('.editor-instance .monaco-editor.focused')
    ?? document.querySelector('.editor-instance .monaco-editor');
  if (!editor) return null;
  const inline = [...editor.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview')];
  const below = [...editor.querySelectorAll('.ghost-text .view-line')];
  if (inline.length === 0 && below.length === 0) return null;
  const text = (el) => el.textContent.replace(/\\u00a0/g, ' ');
  return [inline.map(text).join(''), ...below.map(text)].join('\\n');
})()
"""

EDITOR_LINES = """
(() => {
  const editor = document.querySelector('.editor-instance .monaco-editor.focused')
    ?? document.querySelector('.editor-instance .monaco-editor');
  if (!editor) return null;
  const lines = [...editor.querySelectorAll('.view-lines .view-line')]
    .map((el) => {
      const copy = el.cloneNode(true);
      copy.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview').forEach((g) => g.remove());
      return { top: parseFloat(el.style.top), text: copy.textContent.replace(/\\u00a0/g, ' ') };
    })
    .sort((a, b) => a.top - b.top);
  return lines.map((l) => l.text);
})()
"""

NOTIFICATIONS = """
[...document.querySelectorAll('.notifications-toasts .notification-list-item')].map((el) => ({
  message: el.querySelector('.notification-list-item-message')?.textContent ?? '',
  source: el.querySelector('.notification-list-item-source')?.textContent ?? '',
  buttons: [...el.querySelectorAll('.notification-list-item-buttons-container .monaco-button')]
    .map((b) => b.textContent.trim()),
}))
"""


class Workbench:
    """The VS Code page in a headless chromium, and what a user does in it."""

    def __init__(self, server: CodeServer, artifacts: Path, *, width: int = 1280, height: int = 800) -> None:
        self.server = server
        self.artifacts = artifacts
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ids = 0
        self.driver = subprocess.Popen(["node", str(E2E / "driver.mjs")], cwd=EXT, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=open(artifacts / "driver.log", "wb"),
                                       text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True, name="vscode-driver").start()
        self.call("launch", url=server.url, width=width, height=height, initScript=STATUS_RECORDER, timeout=180)
        self.wait("the workbench", lambda: self.evaluate("!!document.querySelector('.monaco-workbench .part.editor')"),
                  timeout=120)

    # -- the driver ------------------------------------------------------------------
    def _read(self) -> None:
        assert self.driver.stdout is not None
        for line in self.driver.stdout:
            with contextlib.suppress(ValueError):
                self._answers.put(json.loads(line))
        self._answers.put(None)

    def call(self, op: str, timeout: float = 90.0, **params: Any) -> Any:
        self._ids += 1
        assert self.driver.stdin is not None
        self.driver.stdin.write(json.dumps({"id": self._ids, "op": op, **params}) + "\n")
        self.driver.stdin.flush()
        while True:
            try:
                answer = self._answers.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the browser did not answer {op} {params} in {timeout} s") from None
            if answer is None:
                raise DriverError("the browser driver exited: " + (self.artifacts / "driver.log").read_text())
            if answer.get("id") == self._ids:
                break
        if "error" in answer:
            raise DriverError(answer["error"])
        return answer.get("result")

    def evaluate(self, expression: str) -> Any:
        return self.call("evaluate", expression=expression)

    def locator(self, selector: str, method: str, *args: Any, nth: int | None = None, timeout: float = 90.0) -> Any:
        return self.call("locator", selector=selector, method=method, args=list(args), nth=nth, timeout=timeout)

    def page(self, method: str, *args: Any) -> Any:
        return self.call("page", method=method, args=list(args))

    def frames(self, url_includes: str, expression: str) -> list[Any]:
        return self.call("frames", urlIncludes=url_includes, expression=expression)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("close", timeout=30)
        with contextlib.suppress(Exception):
            self.driver.wait(10)
        if self.driver.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.driver.pid, signal.SIGKILL)
            self.driver.wait(10)

    # -- what a user does ------------------------------------------------------------
    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1) -> Any:
        return wait_for(what, probe, timeout, interval, describe=self.describe)

    def press(self, *keys: str) -> None:
        for key in keys:
            self.call("keyboard", method="press", args=[key])

    def type(self, text: str, delay_ms: int = 30) -> None:
        """Type like a person: one key at a time, `delay_ms` apart (newlines are Enter)."""
        self.call("keyboard", method="type", args=[text, {"delay": delay_ms}], timeout=90 + len(text) * delay_ms / 1000)

    def screenshot(self, name: str, selector: str | None = None, *, height: int | None = None) -> Path:
        """A PNG in the artifacts folder: the page, or the element `selector` (its top `height`
        pixels when given)."""
        path = self.artifacts / f"{name}.png"
        options: dict[str, Any] = {"path": str(path)}
        if selector:
            box = self.locator(selector, "boundingBox", nth=0)
            options["clip"] = {**box, "height": min(box["height"], height or box["height"])}
        self.page("screenshot", options)
        return path

    def quick_input(self, text: str, *, expect: str | None = None, timeout: float = 30.0) -> None:
        """Type into the open quick input (palette, quick open, input box) and press Enter;
        with `expect`, first wait for the highlighted item to contain it."""
        box = ".quick-input-widget .quick-input-box input"
        self.locator(box, "waitFor", {"state": "visible"})
        self.locator(box, "fill", text)
        if expect is not None:
            self.wait(f"{expect!r} in the quick pick", lambda: expect in (self.evaluate(
                "document.querySelector('.quick-input-widget .quick-input-list .monaco-list-row.focused')"
                "?.textContent ?? ''") or ""), timeout=timeout)
        self.press("Enter")

    def run_command(self, title: str) -> None:
        """Run a command from the palette by its title, e.g. `Qwill: Restart Server`."""
        self.press("Escape")
        self.press("F1")
        self.quick_input(">" + title, expect=title)

    def open_file(self, relative: str) -> None:
        """Open a workspace file with Quick Open (Ctrl+P) and wait for its editor to have focus."""
        name = Path(relative).name

        def quick_open() -> bool:
            # a file written a moment ago may not be in Quick Open's file list yet: ask again
            self.press("Escape", "Control+P")
            try:
                self.quick_input(relative, expect=name, timeout=5)
            except AssertionError:
                return False
            return True

        self.wait(f"{relative} in Quick Open", quick_open, timeout=90)
        self.wait(f"{name} open in the editor", lambda: self.evaluate(
            "document.querySelector('.editor-group-container.active .tab.active')?.getAttribute('aria-label') ?? ''"
        ).startswith(name) and self.evaluate("!!document.querySelector('.editor-instance .monaco-editor.focused')"))

    def close_editors(self) -> None:
        """Close every editor (a test's leftovers), not saving what is unsaved."""
        self.run_command("View: Close All Editors")
        dont_save = '.monaco-dialog-box .monaco-button:has-text("Don\'t Save")'
        with contextlib.suppress(DriverError):
            self.locator(dont_save, "click", {"timeout": 1500}, nth=0)
        self.wait("no editor open", lambda: not self.evaluate("!!document.querySelector('.tabs-container .tab')"),
                  timeout=30)

    def go_to(self, line: int, column: int) -> None:
        """Put the cursor at `line`:`column` (1-based, as VS Code's Go to Line takes them)."""
        self.press("Control+G")
        self.quick_input(f":{line}:{column}")  # the quick input of Go to Line starts with ":"
        self.wait(f"the cursor at {line}:{column}", lambda: self.cursor() == (line, column))

    def cursor(self) -> tuple[int, int] | None:
        """(line, column) from the status bar's `Ln 3, Col 5`."""
        text = self.evaluate(
            "document.querySelector('#status\\\\.editor\\\\.selection')?.textContent ?? ''") or ""
        m = re.search(r"Ln (\d+), Col (\d+)", text)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def editor_lines(self) -> list[str]:
        """The lines the active editor shows (its buffer, without ghost text), for a small file."""
        return self.evaluate(EDITOR_LINES) or []

    def ghost_text(self) -> str | None:
        """The inline suggestion shown in the active editor, or None."""
        return self.evaluate(GHOST_TEXT)

    def wait_ghost_text(self, timeout: float = 300.0) -> str:
        return self.wait("ghost text in the editor", self.ghost_text, timeout)

    def save(self, path: Path) -> str:
        """Save the active editor (Ctrl+S) and return the file's text once it is on disk."""
        before = path.stat().st_mtime_ns if path.exists() else None
        self.press("Control+S")
        self.wait(f"{path.name} saved", lambda: not self.evaluate(
            "!!document.querySelector('.tabs-container .tab.active.dirty')")
            and path.exists() and path.stat().st_mtime_ns != before, timeout=30)
        return path.read_text()

    def notifications(self) -> list[dict[str, Any]]:
        """The notification toasts on screen: message, source, buttons."""
        return self.evaluate(NOTIFICATIONS) or []

    def wait_notification(self, contains: str, timeout: float = 60.0) -> dict[str, Any]:
        return self.wait(f"a notification with {contains!r}", lambda: next(
            (n for n in self.notifications() if contains in n["message"]), None), timeout)

    def click_notification_button(self, contains: str, button: str) -> None:
        self.locator(f".notifications-toasts .notification-list-item:has-text({json.dumps(contains)}) "
                     f".monaco-button:has-text({json.dumps(button)})", "click", nth=0)

    def clear_notifications(self) -> None:
        self.run_command("Notifications: Clear All Notifications")

    def status_history(self) -> list[dict[str, Any]]:
        """Every state the Qwill status bar item has shown since the page loaded."""
        return self.evaluate("window.__qwillStatus ?? []")

    def status(self) -> dict[str, Any] | None:
        history = self.status_history()
        return history[-1] if history else None

    def wait_status(self, state: str, timeout: float = 180.0) -> dict[str, Any]:
        """Wait for the status bar item to say `state` (`ready`, `loading`, `stopped`, ...): its
        accessible label is `Qwill <state>: <detail>`."""
        return self.wait(f"the Qwill status bar item to say {state!r}", lambda: (
            s if (s := self.status()) and s["label"].startswith(f"Qwill {state}") else None), timeout)

    def describe(self) -> str:
        """What is on screen, for a failure message."""
        try:
            return (f"status bar {self.status()}; notifications {self.notifications()}; "
                    f"ghost text {self.ghost_text()!r}; lines {self.editor_lines()[:12]}")
        except Exception as err:  # the page itself may be the failure
            return f"(the page could not be read: {err})"


def default_qwill() -> Path:
    """This checkout's `qwill` console script (the venv's)."""
    return Path(sys.executable).parent / "qwill"

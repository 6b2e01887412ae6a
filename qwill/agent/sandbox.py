"""Where agent commands run: bubblewrap, else Landlock, else a plain process.

bubblewrap (`bwrap`): the whole file system read-only; the workspace writable
except what only the user may change (`.git` and nested `.git`, `.vscode`,
`.idea`, `.envrc`, `.qwill*`; a missing one at the root is covered by an empty
read-only placeholder for the command's lifetime, so it cannot be created
either); a private `/tmp` and `/run` (no D-Bus, docker or ssh-agent sockets);
credentials in the home directory (`~/.ssh`, `~/.aws`, `~/.netrc`...) hidden;
no network (a new network namespace: only loopback), its own PID, IPC and UTS
namespaces, a new session (no terminal injection), killed with Qwill.

Landlock (Linux >= 5.13, no bubblewrap): the same write rules enforced by the
kernel on the command and everything it starts, through `confine.py`: writes only
inside the workspace minus the protected paths (a directory that holds one gets
no new entries directly in it, the root included), a private temporary directory
and /dev/null; credentials in the home directory unreadable; TCP refused (ABI
4) and no signals or abstract sockets to the outside (ABI 6). UDP and unix
sockets named by path stay reachable: Landlock does not cover them.

Neither: a plain process, and the policy treats every command that is not a
plain read-only one as needing approval.

In every case a command runs under a reaper that kills all it started when it
ends or at its timeout (a PID namespace with bubblewrap; a child subreaper
otherwise), its output is read as it comes and only the first and last part of
it are kept, stdin is closed, and the environment is command_environment().
`QWILL_SANDBOX=bubblewrap|landlock|none` (or `auto`) forces the choice.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from . import confine
from .protected import PROTECTED_NAMES, is_protected

# Directories whose contents are dependencies or build output: not searched for
# nested protected paths (walking node_modules for every command costs seconds).
_NO_DESCENT = frozenset({"node_modules", ".venv", "venv", ".tox", ".nox", "target", "__pycache__",
                         ".mypy_cache", ".pytest_cache", ".ruff_cache", "dist", "build", ".eggs"})
MAX_WALK = 50_000
# Credentials and sessions in the home directory that no command needs to read.
HIDDEN_IN_HOME = (".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube", ".docker", ".config/gh",
                  ".config/hub", ".password-store", ".local/share/keyrings", ".netrc", ".git-credentials",
                  ".pypirc", ".npmrc", ".yarnrc", ".cargo/credentials", ".cargo/credentials.toml",
                  ".config/google-chrome", ".config/chromium", ".mozilla", ".thunderbird",
                  ".local/share/qwill-secrets")
# Placeholders for protected names missing at the root: (name, is a directory)
_ROOT_PLACEHOLDERS = ((".git", True), (".vscode", True), (".idea", True), (".envrc", False), (".qwill", True))


class SandboxKind(StrEnum):
    BUBBLEWRAP = "bubblewrap"
    LANDLOCK = "landlock"
    NONE = "none"


def protected_paths(root: Path) -> list[Path]:
    """The protected entries that exist in the workspace, at any depth (not below
    dependency folders); the walk stops at each one."""
    found: list[Path] = []
    stack = [root]
    seen = 0
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_WALK:
                return found
            rel = os.path.relpath(e.path, root)
            if is_protected(rel):
                found.append(Path(e.path))
                continue
            if e.is_dir(follow_symlinks=False) and e.name not in _NO_DESCENT:
                stack.append(Path(e.path))
    return sorted(found)


def hidden_home_paths(home: str | None = None) -> list[str]:
    home = home or os.path.expanduser("~")
    return [p for p in (os.path.join(home, h) for h in HIDDEN_IN_HOME) if os.path.lexists(p)]


@functools.cache
def bwrap_path() -> str | None:
    return shutil.which("bwrap")


_probe_cache: dict[tuple[str, str], bool] = {}


def _bwrap_works(workspace: Path) -> bool:
    bwrap = bwrap_path()
    if bwrap is None:
        return False
    key = (bwrap, str(workspace))
    if key not in _probe_cache:
        try:
            r = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
                                "--unshare-pid", "--die-with-parent", "--new-session", "true"],
                               capture_output=True, timeout=10)
            _probe_cache[key] = r.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _probe_cache[key] = False
    return _probe_cache[key]


@functools.cache
def _landlock_works() -> bool:
    """Landlock can confine a child here (checked by confining one)."""
    if confine.landlock_abi() < 1:
        return False
    with tempfile.TemporaryDirectory(prefix="qwill-ll-") as tmp:
        spec = {"read": ["/"], "write": [tmp], "files": []}
        try:
            r = subprocess.run([sys.executable, "-I", "-S", confine.__file__, "--landlock", json.dumps(spec), "--",
                                "/bin/sh", "-c", f"echo x > {tmp}/ok; echo y > /dev/full 2>/dev/null; "
                                f"touch {os.path.dirname(tmp)}/qwill-ll-escape 2>/dev/null; true"],
                               capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return False
        escaped = os.path.exists(os.path.join(os.path.dirname(tmp), "qwill-ll-escape"))
        if escaped:
            os.unlink(os.path.join(os.path.dirname(tmp), "qwill-ll-escape"))
        return r.returncode == 0 and os.path.exists(os.path.join(tmp, "ok")) and not escaped


def available(workspace: Path, wanted: str | None = None) -> SandboxKind:
    """The sandbox commands in `workspace` get: QWILL_SANDBOX (or `wanted`) forces one
    (falling back to none when it does not work here); auto takes the strongest."""
    choice = (wanted or os.environ.get("QWILL_SANDBOX") or "auto").strip().lower()
    if choice in ("none", "off", "0", "false"):
        return SandboxKind.NONE
    if choice in ("bubblewrap", "bwrap"):
        return SandboxKind.BUBBLEWRAP if _bwrap_works(workspace) else SandboxKind.NONE
    if choice == "landlock":
        return SandboxKind.LANDLOCK if _landlock_works() else SandboxKind.NONE
    if _bwrap_works(workspace):
        return SandboxKind.BUBBLEWRAP
    if _landlock_works():
        return SandboxKind.LANDLOCK
    return SandboxKind.NONE


# -- bubblewrap --------------------------------------------------------------------------
@dataclass
class Prepared:
    argv: list[str]
    env: dict[str, str]
    cleanup: list[Path] = field(default_factory=list)  # placeholders to remove when empty
    tmp: str | None = None


def bwrap_argv(root: Path, protected: list[Path], *, home: str | None = None) -> tuple[list[str], list[Path]]:
    """bwrap's arguments (up to the command) and the placeholders it will create."""
    bwrap = bwrap_path() or "bwrap"
    ws = str(root)
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if os.path.isdir("/run") and not os.path.islink("/run") and not ws.startswith("/run/"):
        args += ["--tmpfs", "/run"]
    if os.path.isdir("/var/run") and not os.path.islink("/var/run") and not ws.startswith("/var/run/"):
        args += ["--tmpfs", "/var/run"]
    for secret in hidden_home_paths(home):
        if root.is_relative_to(secret) or Path(secret).is_relative_to(root):
            continue
        if os.path.isdir(secret) and not os.path.islink(secret):
            args += ["--tmpfs", secret, "--remount-ro", secret]
        else:
            args += ["--ro-bind", "/dev/null", secret]
    args += ["--bind", ws, ws]
    for path in protected:
        target = Path(os.path.realpath(path))
        if path.is_symlink() and not target.is_relative_to(root):
            continue  # it leads out of the workspace, which is read-only anyway
        args += ["--ro-bind", str(target), str(target)]
    placeholders: list[Path] = []
    for name, is_dir in _ROOT_PLACEHOLDERS:
        spot = root / name
        if os.path.lexists(spot):
            continue
        placeholders.append(spot)
        if is_dir:
            args += ["--tmpfs", str(spot), "--remount-ro", str(spot)]
        else:
            args += ["--ro-bind", "/dev/null", str(spot)]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--chdir", ws]
    return args, placeholders


# -- Landlock ------------------------------------------------------------------------------
def landlock_spec(root: Path, protected: list[Path], tmp: str, home: str | None = None) -> dict[str, list[str]]:
    """Readable: everything but the hidden credentials; writable: the workspace's
    trees that hold nothing protected, its files beside protected ones, tmp."""
    hidden = [Path(p) for p in hidden_home_paths(home)]
    hidden = [h for h in hidden if not root.is_relative_to(h) and not h.is_relative_to(root)]
    read = _grant_tree(Path("/"), hidden)
    write: list[str] = [tmp]
    files: list[str] = ["/dev/null"]
    # a protected name that is a symlink into the workspace protects its target
    prot = protected + [Path(os.path.realpath(p)) for p in protected
                        if p.is_symlink() and Path(os.path.realpath(p)).is_relative_to(root)]
    for path in _grant_tree(root, prot, keep_files=True):
        (write if os.path.isdir(path) and not os.path.islink(path) else files).append(path)
    return {"read": read, "write": write, "files": files}


def _grant_tree(top: Path, excluded: list[Path], keep_files: bool = False) -> list[str]:
    """Paths that cover `top` except the `excluded` ones: `top` itself when nothing
    excluded lies below it, else its entries (recursively where needed)."""
    inside = [e for e in excluded if e == top or e.is_relative_to(top)]
    if not inside:
        return [str(top)]
    if top in inside:
        return []
    out: list[str] = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return out
    for e in entries:
        p = Path(e.path)
        if e.is_symlink():
            continue
        if e.is_dir(follow_symlinks=False):
            out += _grant_tree(p, inside, keep_files)
        elif p not in inside:
            out.append(str(p))
    return out


# -- running ----------------------------------------------------------------------------------
@dataclass
class Output:
    text: str
    total_bytes: int
    truncated: bool


class _Capped:
    """The first and last `limit // 2` bytes of a stream, and its length."""

    def __init__(self, limit: int) -> None:
        self.half = max(1, limit // 2)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail.append(data)
            self.tail_len += len(data)
            while self.tail_len - len(self.tail[0]) >= self.half:
                self.tail_len -= len(self.tail.popleft())

    def result(self) -> Output:
        tail = b"".join(self.tail)
        truncated = self.total > len(self.head) + len(tail) or len(tail) > self.half
        if len(tail) > self.half:
            tail = tail[-self.half:]
        text = self.head.decode("utf-8", errors="replace")
        if truncated:
            text += f"\n… [{self.total - len(self.head) - len(tail)} bytes cut] …\n"
        text += tail.decode("utf-8", errors="replace")
        return Output(text, self.total, truncated)


def prepare(command_argv: list[str], root: Path, kind: SandboxKind, env: Mapping[str, str]) -> Prepared:
    run_env = dict(env)
    if kind is SandboxKind.BUBBLEWRAP:
        args, placeholders = bwrap_argv(root, protected_paths(root))
        run_env.update({"TMPDIR": "/tmp", "XDG_CACHE_HOME": "/tmp/.cache", "GOCACHE": "/tmp/.cache/go-build"})
        return Prepared([*args, *command_argv], run_env, placeholders)
    tmp = tempfile.mkdtemp(prefix="qwill-cmd-")
    helper = [sys.executable, "-I", "-S", confine.__file__]
    if kind is SandboxKind.LANDLOCK:
        spec = landlock_spec(root, protected_paths(root), tmp)
        helper += ["--landlock", json.dumps(spec)]
        run_env.update({"TMPDIR": tmp, "XDG_CACHE_HOME": os.path.join(tmp, ".cache"),
                        "GOCACHE": os.path.join(tmp, ".cache", "go-build")})
    return Prepared([*helper, "--", *command_argv], run_env, tmp=tmp)


def run(command_argv: list[str], root: Path, kind: SandboxKind, env: Mapping[str, str], *, timeout: float,
        max_output: int) -> tuple[int | None, Output, bool, float]:
    """Run a command confined as `kind`: (exit code or None at timeout, output,
    timed out, seconds)."""
    prep = prepare(command_argv, root, kind, env)
    t0 = time.monotonic()
    capped = _Capped(max_output)
    timed_out = False
    try:
        proc = subprocess.Popen(prep.argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=prep.env, start_new_session=True)
    except OSError as exc:
        _cleanup(prep)
        return 127, Output(f"could not start the command: {exc}", 0, False), False, 0.0
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = t0 + timeout
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 2.0:
                break  # something still holds the pipe after the command ended
            events = sel.select(timeout=min(0.2, deadline - now))
            if not events:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            capped.feed(chunk)
    finally:
        sel.close()
        _stop(proc, kind)
        proc.stdout.close()
        _cleanup(prep)
    code = None if timed_out else proc.returncode
    return code, capped.result(), timed_out, time.monotonic() - t0


def _stop(proc: subprocess.Popen[bytes], kind: SandboxKind) -> None:
    """End the command and everything it started, and wait until they are gone."""
    left = _descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None and kind is not SandboxKind.BUBBLEWRAP:
        try:
            proc.send_signal(signal.SIGTERM)  # the reaper kills its descendants, then itself
            proc.wait(timeout=2)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in left:  # bubblewrap's namespace goes down on its own, but not at once
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 3
    while left and time.monotonic() < deadline:
        left = [p for p in left if _alive(p)]
        time.sleep(0.01)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` now."""
    parents = confine.children_map()
    out, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return False


def _cleanup(prep: Prepared) -> None:
    for p in prep.cleanup:
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()  # only if empty: bubblewrap made it as a mount point
            elif p.is_file() and p.stat().st_size == 0:
                p.unlink()
        except OSError:
            pass
    if prep.tmp:
        shutil.rmtree(prep.tmp, ignore_errors=True)


__all__ = ["HIDDEN_IN_HOME", "PROTECTED_NAMES", "SandboxKind", "available", "bwrap_argv", "landlock_spec",
           "protected_paths", "run"]

"""The sandbox, for real: bubblewrap, Landlock, and neither.

Every test runs once per kind that works on this machine (`QWILL_SANDBOX` forces
it); the test set-up installs bubblewrap from Debian, and Landlock needs a kernel
that has it enabled, so on a machine without one the Landlock cases are skipped
and say so. What a user would notice is checked on the file system and the
process table: nothing outside the workspace or in what only the user may change
is written, credentials in the home directory cannot be read, nothing is left
running, output is capped however much is printed.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from qwill.agent import sandbox
from qwill.agent.shell import run_command

KINDS = [k for k in sandbox.SandboxKind]


def _works(kind: sandbox.SandboxKind) -> bool:
    return kind is sandbox.SandboxKind.NONE or sandbox.available(Path("/tmp"), kind.value) is kind


@pytest.fixture(params=KINDS, ids=[k.value for k in KINDS])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> sandbox.SandboxKind:
    k: sandbox.SandboxKind = request.param
    if not _works(k):
        pytest.skip(f"{k.value} does not work on this machine")
    monkeypatch.setenv("QWILL_SANDBOX", k.value)
    return k


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "sub" / ".git").mkdir(parents=True)
    (root / "sub" / ".git" / "config").write_text("[core]\n")
    (root / "sub" / "code.py").write_text("x = 1\n")
    (root / "a.py").write_text("a\n")
    (root / "src").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("keep\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    (home / ".netrc").write_text("machine x password y\n")
    monkeypatch.setenv("HOME", str(home))
    return root


def _run(cmd: str, root: Path, **kw: object) -> object:
    return run_command(cmd, root, **kw)  # type: ignore[arg-type]


def test_the_workspace_is_writable(kind: sandbox.SandboxKind, ws: Path) -> None:
    r = run_command("echo new > src/new.txt && echo edited >> sub/code.py && echo b >> a.py && mkdir -p src/d/e "
                    "&& echo x > src/d/e/f && rm src/new.txt", ws)
    assert r.exit_code == 0, r.output
    assert (ws / "sub" / "code.py").read_text() == "x = 1\nedited\n"
    assert (ws / "a.py").read_text() == "a\nb\n" and (ws / "src" / "d" / "e" / "f").exists()
    assert not (ws / "src" / "new.txt").exists()
    assert r.sandbox == kind.value
    # Landlock cannot tell a new entry of the root from one in .git (rights are inherited):
    # a directory that holds something protected gets no new entries (SECURITY.md)
    r = run_command("echo x > new-at-root.txt && mkdir sub/newdir", ws)
    created = (ws / "new-at-root.txt").exists() and (ws / "sub" / "newdir").is_dir()
    assert created is (kind is not sandbox.SandboxKind.LANDLOCK), r.output


def test_nothing_outside_and_nothing_protected_is_written(kind: sandbox.SandboxKind, ws: Path, tmp_path: Path) -> None:
    if kind is sandbox.SandboxKind.NONE:
        pytest.skip("without a sandbox the policy asks instead (test_policy_classes)")
    lines = [f"echo x > {tmp_path}/outside/keep.txt", f"echo x > {tmp_path}/outside/new.txt",
             "echo x >> .git/config", "echo x > .git/hooks/pre-commit", "echo x >> sub/.git/config",
             "echo x > .envrc", "mkdir .vscode", "echo x > .vscode/settings.json", "mkdir .idea",
             "echo x > .qwill", f"echo x > {os.environ['HOME']}/.bashrc", "rm -rf .git", "mv .git g"]
    for line in lines:
        run_command(line, ws)
    assert (tmp_path / "outside" / "keep.txt").read_text() == "keep\n"
    assert not (tmp_path / "outside" / "new.txt").exists()
    assert (ws / ".git" / "config").read_text() == "[core]\n"
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert (ws / "sub" / ".git" / "config").read_text() == "[core]\n"
    for name in (".envrc", ".vscode", ".idea", ".qwill", "g"):
        assert not (ws / name).exists(), name  # not created, and no placeholder left behind
    assert not Path(os.environ["HOME"], ".bashrc").exists()


def test_credentials_in_home_cannot_be_read(kind: sandbox.SandboxKind, ws: Path) -> None:
    r = run_command("cat ~/.ssh/id_rsa ~/.netrc; ls ~/.ssh", ws)
    if kind is sandbox.SandboxKind.NONE:
        assert "PRIVATE KEY" in r.output  # what the policy's "reads outside ask" is for
        return
    assert "PRIVATE KEY" not in r.output and "password" not in r.output


@pytest.fixture
def listener() -> object:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    hits: list[int] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            hits.append(1)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1], hits
    srv.close()


def test_no_network(kind: sandbox.SandboxKind, ws: Path, listener: tuple[int, list[int]]) -> None:
    port, hits = listener
    r = run_command(f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED", ws, timeout=20)
    if kind is sandbox.SandboxKind.NONE:
        assert "CONNECTED" in r.output
        return
    if kind is sandbox.SandboxKind.LANDLOCK and sandbox.confine.landlock_abi() < 4:
        pytest.skip("Landlock before ABI 4 does not cover TCP")
    assert "CONNECTED" not in r.output and not hits, r.output


def _running(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def test_nothing_is_left_running(kind: sandbox.SandboxKind, ws: Path) -> None:
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000}"
    r = run_command(f"(setsid sleep {marker} &); (nohup sleep {marker} >/dev/null 2>&1 &); echo started", ws)
    assert "started" in r.output and r.exit_code == 0
    assert _running(f"sleep\x00{marker}") == []


def test_the_timeout_kills_everything(kind: sandbox.SandboxKind, ws: Path) -> None:
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000}"
    r = run_command(f"setsid sleep {marker} & setsid tail -f a.py & sleep {marker}", ws, timeout=1.5)
    assert r.timed_out and r.exit_code is None
    assert "[timed out" in r.render()
    assert _running(f"sleep\x00{marker}") == []


def test_output_is_capped_while_it_is_read(kind: sandbox.SandboxKind, ws: Path) -> None:
    r = run_command("head -c 200000000 /dev/zero | tr '\\0' a; echo; echo END", ws, max_output=4000, timeout=60)
    assert r.output_bytes > 200_000_000
    assert r.truncated and len(r.output) < 4200
    assert r.output.startswith("aaaa") and r.output.rstrip().endswith("END")


def test_bubblewrap_arguments_protect_what_matters(ws: Path) -> None:
    args, placeholders = sandbox.bwrap_argv(ws, sandbox.protected_paths(ws), home=os.environ["HOME"])
    joined = " ".join(args)
    assert f"--ro-bind {ws}/.git {ws}/.git" in joined and f"--ro-bind {ws}/sub/.git {ws}/sub/.git" in joined
    for flag in ("--unshare-net", "--unshare-pid", "--new-session", "--die-with-parent", "--tmpfs /tmp"):
        assert flag in joined
    assert {p.name for p in placeholders} == {".vscode", ".idea", ".envrc", ".qwill"}
    assert f"{os.environ['HOME']}/.ssh" in joined


def test_landlock_spec_leaves_out_what_is_protected(ws: Path, tmp_path: Path) -> None:
    spec = sandbox.landlock_spec(ws, sandbox.protected_paths(ws), str(tmp_path / "t"), home=os.environ["HOME"])
    writable = spec["write"] + spec["files"]
    assert str(ws) not in writable  # the root holds .git: no new entries directly in it
    assert str(ws / "a.py") in spec["files"]
    assert str(ws / "sub" / "code.py") in spec["files"] and str(ws / "sub" / ".git") not in writable
    assert not any(p.startswith(str(ws / ".git")) for p in writable)
    assert not any(p.startswith(os.environ["HOME"] + "/.ssh") for p in spec["read"])

"""The process an agent command runs under when bubblewrap is not there.

    python -I -S confine.py [--landlock SPEC_JSON] -- ARGV...

It makes itself a child subreaper, so every process the command starts (even one
that leaves its process group and session with `setsid`, or double-forks) stays
its descendant; when the command ends, or when this process gets SIGTERM (the
timeout), every descendant is killed before it exits. With `--landlock` it first
confines itself, and so everything it starts, with Landlock (Linux >= 5.13): the
file system readable (minus the hidden paths), writable only where the spec says
(the workspace minus what only the user may change, a private temporary
directory, /dev/null), and, where the kernel has them, no TCP (ABI 4), no
abstract unix sockets and no signals to processes outside (ABI 6).

Standard library only: it runs as a script with `-I -S`, before and without the
package, so nothing from the environment or the workspace is imported into it.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import time

# x86_64, aarch64, riscv and most others share the generic syscall numbers
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform != "win32" else None


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, or disabled)."""
    if not sys.platform.startswith("linux") or _libc is None:
        return 0
    r = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return r if r > 0 else 0


def _fs_mask(abi: int) -> int:
    mask = (1 << 13) - 1
    if abi >= 2:
        mask |= FS_REFER
    if abi >= 3:
        mask |= FS_TRUNCATE
    if abi >= 5:
        mask |= FS_IOCTL_DEV
    return mask


def apply_landlock(spec: dict[str, list[str]]) -> int:
    """Confine this process (and what it starts) as `spec` says; returns the ABI used.

    spec: read (trees readable), write (trees writable), files (files writable, not
    creatable). Paths that are symlinks are skipped: a rule would grant its target."""
    abi = landlock_abi()
    if abi < 1 or _libc is None:
        raise OSError(errno.EOPNOTSUPP, "Landlock is not available")
    handled = _fs_mask(abi)
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                        (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        for key, rights in (("read", READ), ("write", handled), ("files", FILE_RIGHTS & handled)):
            for path in spec.get(key, []):
                _add(fd, path, rights)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if _libc.syscall(_SYS_RESTRICT_SELF, fd, ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(fd)
    return abi


def _add(ruleset: int, path: str, rights: int) -> None:
    assert _libc is not None
    try:
        pfd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # gone, or a symlink
    try:
        if os.path.islink(path):
            return
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS  # a file takes only file rights
        rule = _PathBeneath(rights, pfd)
        if _libc.syscall(_SYS_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_add_rule {path}: {os.strerror(err)}")
    finally:
        os.close(pfd)


# -- reaping ------------------------------------------------------------------------------
def children_map() -> dict[int, list[int]]:
    """parent pid -> its children's pids, from /proc (empty where there is no /proc)."""
    out: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            out.setdefault(int(fields[1]), []).append(int(name))
    return out


def kill_descendants() -> None:
    """Kill every process left below this one (orphans come to us: we are a subreaper)."""
    me = os.getpid()
    for _ in range(2000):
        kids = children_map().get(me, [])
        if not kids:
            return
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _k in kids:
            try:
                os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
        time.sleep(0.005)


def main(argv: list[str]) -> int:
    spec = None
    if argv[:1] == ["--landlock"]:
        spec = json.loads(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("confine: no command", file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and _libc is not None:
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if spec is not None:
        try:
            apply_landlock(spec)
        except OSError as exc:
            print(f"confine: cannot confine the command with Landlock: {exc}", file=sys.stderr)
            return 126

    def stop(signum: int, frame: object) -> None:
        kill_descendants()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        proc = subprocess.Popen(argv, close_fds=True)
    except OSError as exc:
        print(f"confine: {exc}", file=sys.stderr)
        return 127
    code = proc.wait()
    kill_descendants()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

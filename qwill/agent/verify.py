"""Checks that tell the agent (and the user) whether a change works: the project's
test command, from settings or discovered from the project's own files.

Discovery reads build files only (`pyproject.toml`, `package.json`, `go.mod`,
`Cargo.toml`, a `Makefile` with a `test` target) and yields one of a fixed set
of commands; the command still passes the shell policy like any other, since
what it runs (the tests, a package script) is workspace code.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Directories never searched for test files.
_SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", "build", "dist", "target", ".tox"}
_PY_TEST_FILE = re.compile(r"(^test_.*\.py$)|(^.*_test\.py$)")
_NPM_PLACEHOLDER = "no test specified"


@dataclass(frozen=True)
class TestCommand:
    command: str
    source: str  # "settings", or the file it was discovered from


def _python_tests(root: Path, limit: int = 2000) -> bool:
    seen = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        for p in entries:
            seen += 1
            if seen > limit:
                return False
            if p.is_dir() and not p.is_symlink():
                if p.name not in _SKIP and not p.name.startswith("."):
                    stack.append(p)
            elif _PY_TEST_FILE.match(p.name):
                return True
    return False


@functools.cache
def _pytest_command() -> str:
    """`python -m pytest` with the first Python on PATH that has pytest (unlike a bare
    `pytest`, it puts the project's root on sys.path, as most projects' tests expect);
    a bare `pytest` when only that is installed."""
    for python in ("python3", "python"):
        exe = shutil.which(python)
        if exe is None:
            continue
        try:
            ok = subprocess.run([exe, "-c", "import pytest"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return f"{python} -m pytest -q"
    return "pytest -q" if shutil.which("pytest") else "python3 -m pytest -q"


def _make_has_test(makefile: Path) -> bool:
    try:
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^test\s*:", text, re.M) is not None


def discover_test_command(root: Path) -> TestCommand | None:
    """The command that runs this project's tests, from its build files; None if it has
    no tests Qwill can find."""
    pkg = root / "package.json"
    if pkg.is_file():
        try:
            scripts = json.loads(pkg.read_text(encoding="utf-8")).get("scripts") or {}
        except (OSError, ValueError, AttributeError):
            scripts = {}
        test = scripts.get("test") if isinstance(scripts, dict) else None
        if isinstance(test, str) and test.strip() and _NPM_PLACEHOLDER not in test:
            return TestCommand("npm test", "package.json")
    for marker in ("pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "setup.py"):
        if (root / marker).is_file() and _python_tests(root):
            return TestCommand(_pytest_command(), marker)
    if (root / "go.mod").is_file():
        return TestCommand("go test ./...", "go.mod")
    if (root / "Cargo.toml").is_file():
        return TestCommand("cargo test", "Cargo.toml")
    for name in ("Makefile", "makefile", "GNUmakefile"):
        if (root / name).is_file() and _make_has_test(root / name):
            return TestCommand("make test", name)
    if _python_tests(root):  # a plain folder of Python modules and test files
        return TestCommand(_pytest_command(), "test files")
    return None


def resolve_test_command(root: Path, configured: str) -> TestCommand | None:
    if configured.strip():
        return TestCommand(configured.strip(), "settings")
    return discover_test_command(root)


_NO_TESTS = re.compile(r"\bno tests ran\b|\bcollected 0 items\b|\bNo tests found\b|\bno test files\b|"
                       r"\brunning 0 tests\b", re.I)


@dataclass(frozen=True)
class CheckResult:
    command: str
    passed: bool
    output: str  # the tail of what the command printed
    no_tests: bool = False
    ran: bool = True  # False: refused by the policy or the user (output says why)
    failures: str = ""  # pytest's failures, digested (failure_digest); "" when it is not pytest's

    @property
    def for_model(self) -> str:
        """What the model is shown: the failures digested when there is a digest, else the tail."""
        return self.failures or self.output

    @property
    def blocks_finish(self) -> bool:
        """Failing tests keep the run going; no tests, or checks that could not run, do not."""
        return self.ran and not self.passed and not self.no_tests

    def summary(self) -> str:
        if not self.ran:
            return f"`{self.command}` did not run: {self.output[:160]}"
        if self.no_tests:
            return f"`{self.command}` found no tests"
        last = next((ln for ln in reversed(self.output.strip().splitlines()) if ln.strip()), "")
        return f"`{self.command}` {'passed' if self.passed else 'failed'}" + (f": {last.strip()[:160]}" if last else "")


def read_result(command: str, exit_code: int | None, output: str, limit: int = 2500,
                read: Callable[[str], str | None] | None = None) -> CheckResult:
    """What a test run says: passed, failed, or no tests at all (pytest's exit 5). `read`
    (a workspace path -> its text) lets the digest show a failing `with` block's body."""
    no_tests = exit_code == 5 or (bool(_NO_TESTS.search(output)) and exit_code != 0)
    tail = output if len(output) <= limit else "[...]\n" + output[-limit:]
    failures = failure_digest(output, limit, read) if exit_code != 0 else ""
    return CheckResult(command, exit_code == 0, tail, no_tests, failures=failures)


_BANNER = re.compile(r"^=+ (?P<title>[^=]+?) =+$")
_TEST_HEADER = re.compile(r"^_{3,} (?P<name>.+?) _{3,}$")
_LOCATION = re.compile(r"^[^\s:][^:]*:\d+: \w")
_COUNTS = re.compile(r"\b\d+ (failed|passed|errors?|skipped)\b")
_ERROR_LINES = 8  # `E` lines kept per failure (a long diff says its point at the start)
_WITH_LINES = 8  # lines of a failing `with` block's body shown


def _with_body(read: Callable[[str], str | None], location: str) -> list[str]:
    """The body of the `with` statement at `location` (`path:line: ...`), as pytest would
    show it: a failure at a `with` (`pytest.raises` that saw nothing raised) is at the
    statement, and the calls that did not raise are in the lines pytest leaves out."""
    path, _, rest = location.partition(":")
    line = rest.split(":", 1)[0]
    text = read(path) if line.isdigit() else None
    if not text:
        return []
    lines = text.splitlines()
    at = int(line) - 1
    if not 0 <= at < len(lines) - 1:
        return []
    indent = len(lines[at]) - len(lines[at].lstrip())
    body = []
    for ln in lines[at + 1:at + 1 + _WITH_LINES]:
        if ln.strip() and len(ln) - len(ln.lstrip()) <= indent:
            break
        body.append(f"        {ln}")
    return [b for b in body if b.strip()]


def failure_digest(output: str, limit: int = 2500, read: Callable[[str], str | None] | None = None) -> str:
    """pytest's failures, each as the test's name, the lines it failed at (`>`), what it
    says (`E`, the first few) and where: without the warnings, the captured output and the
    source around them, which fill the tail a small model is shown with noise. "" when
    `output` has no FAILURES/ERRORS section (not pytest, or nothing failed). With `read`,
    a failure at a `with` statement shows the block's body after its location."""
    lines = output.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if (m := _BANNER.match(ln)) and m["title"] in ("FAILURES", "ERRORS")), None)
    if start is None:
        return ""
    out: list[str] = []
    errors = 0
    at_with = False  # the last `>` line was a `with` statement
    for ln in lines[start + 1:]:
        banner = _BANNER.match(ln)
        if banner is not None:
            if banner["title"] in ("FAILURES", "ERRORS"):
                continue
            break  # warnings summary, short test summary info: the digest has said it
        header = _TEST_HEADER.match(ln)
        if header is not None:
            out.append(f"{header['name']}:")
            errors = 0
        elif ln.startswith(">"):
            out.append(ln)
            at_with = ln[1:].strip().startswith(("with ", "async with ")) and ln.rstrip().endswith(":")
        elif _LOCATION.match(ln):
            out.append(ln)
            if at_with and read is not None:
                body = _with_body(read, ln)
                if body:
                    out.append("    the with block's body:")
                    out.extend(body)
            at_with = False
        elif ln.startswith("E ") or ln == "E":
            errors += 1
            if errors <= _ERROR_LINES:
                out.append(ln)
            elif errors == _ERROR_LINES + 1:
                out.append("E   [...]")
    counts = next((ln.strip("= ") for ln in reversed(lines) if _COUNTS.search(ln)), "")
    if counts:
        out.append(counts)
    text = "\n".join(out)
    return text if len(text) <= limit else text[:limit] + "\n[...]"


def fails_only_in(checks: CheckResult, path: str) -> bool:
    """Every place the digest of `checks` names (each failure's frames) is in the file
    `path`: the test there asserts something the code does not do, and the code itself
    raised nothing. False without a digest, or when a frame is elsewhere."""
    places = [ln.split(":", 1)[0] for ln in checks.failures.splitlines() if _LOCATION.match(ln)]
    return bool(places) and all(p == path for p in places)

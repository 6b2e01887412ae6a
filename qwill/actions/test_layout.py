"""Where a project keeps its tests, and how a test there reaches the code.

Conventions, by language:

- Python: `tests/test_<module>.py` under the project root (`test/` when the
  project uses that), pytest, importing the module by its dotted path
  (a leading `src/` is not part of it);
- JavaScript/TypeScript: `<name>.test.<ext>` next to the file (or in a sibling
  `__tests__/`), with the runner the nearest package.json names;
- Go: `<name>_test.go` next to the file, same package, `testing`;
- Rust: a `#[cfg(test)] mod tests` at the end of the same file;
- Java: `src/test/java/.../<Name>Test.java` mirroring `src/main/java`, JUnit 5;
- Ruby: `spec/<name>_spec.rb` (RSpec) when `spec/` exists, else `test/test_<name>.rb`;
- PHP: `tests/<Name>Test.php`, PHPUnit; Lua: `spec/<name>_spec.lua`, busted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod",
                 "Cargo.toml", "pom.xml", "build.gradle", "build.gradle.kts", "Gemfile",
                 "composer.json", ".hg")


@dataclass(frozen=True)
class TestLocation:
    path: Path  # the test file (the source file itself for Rust)
    framework: str  # what the prompt asks the model to use
    import_line: str = ""  # the line that makes the code under test visible ("" when none is needed)
    same_file: bool = False  # tests live in the source file (Rust)
    note: str = ""  # extra instruction for the model (package name, module name)


def supported(language: str) -> bool:
    return language in ("python", "javascript", "typescript", "tsx", "go", "rust", "java", "ruby",
                        "php", "lua")


def is_test_file(path: Path) -> bool:
    n = path.name
    return bool(re.match(r"(test_.*\.py|.*_test\.py|.*\.(test|spec)\.[jt]sx?|.*_test\.go|.*Test\.java|"
                         r".*_spec\.rb|test_.*\.rb|.*Test\.php|.*_spec\.lua)$", n)) or (
        "__tests__" in path.parts)


def project_root(source: Path, roots: list[Path] | tuple[Path, ...] = ()) -> Path:
    """The workspace folder holding `source`, else the nearest directory with a project marker."""
    inside = [r for r in roots if source.is_relative_to(r)]
    if inside:
        return max(inside, key=lambda r: len(r.parts))
    for d in source.parents:
        if any((d / m).exists() for m in _ROOT_MARKERS):
            return d
    return source.parent


def locate(source: Path, language: str, name: str, container: str = "",
           roots: list[Path] | tuple[Path, ...] = (), text: str = "") -> TestLocation | None:
    """Where tests for `name` (a function, or a method of `container`) in `source` go.

    `text` is the source's live text (for its package clause).
    """
    if not supported(language) or is_test_file(source):
        return None
    root = project_root(source, roots)
    subject = container or name
    stem = source.stem
    if language == "python":
        tests = next((root / d for d in ("tests", "test") if (root / d).is_dir()), root / "tests")
        module = _python_module(source, root)
        return TestLocation(tests / f"test_{stem}.py", "pytest",
                            f"from {module} import {subject}",
                            note=f"The code under test is in the module `{module}`.")
    if language in ("javascript", "typescript", "tsx"):
        ext = source.suffix
        here = source.parent
        folder = here / "__tests__" if (here / "__tests__").is_dir() else here
        rel = "../" if folder != here else "./"
        spec = f"{rel}{stem}"
        framework = _js_framework(source, root)
        return TestLocation(folder / f"{stem}.test{ext}", framework,
                            f"import {{ {subject} }} from '{spec}';",
                            note=f"Import the code under test from '{spec}'.")
    if language == "go":
        pkg = _go_package(text) or "main"
        return TestLocation(source.with_name(f"{stem}_test.go"), "Go's testing package (table-driven tests)",
                            note=f"The test file is in package `{pkg}`, the same package as the code, "
                                 "so it uses the code directly without importing it.")
    if language == "rust":
        return TestLocation(source, "Rust's built-in #[test] functions", same_file=True,
                            note="Write a `#[cfg(test)] mod tests` module with `use super::*;` "
                                 "that goes at the end of the same file.")
    if language == "java":
        parts = source.parts
        test_dir = source.parent
        for i in range(len(parts) - 2):
            if parts[i:i + 3] == ("src", "main", "java"):
                test_dir = Path(*parts[:i], "src", "test", "java", *parts[i + 3:-1])
                break
        pkg = _java_package(text)
        return TestLocation(test_dir / f"{stem}Test.java", "JUnit 5 (org.junit.jupiter.api)",
                            note=(f"The test class is in package `{pkg}`. " if pkg else "")
                                 + f"Name the test class `{stem}Test`.")
    if language == "ruby":
        if (root / "spec").is_dir():
            return TestLocation(root / "spec" / f"{stem}_spec.rb", "RSpec",
                                f"require_relative '{_rel(root / 'spec', source.with_suffix(''))}'")
        return TestLocation(root / "test" / f"test_{stem}.rb", "Minitest",
                            f"require_relative '{_rel(root / 'test', source.with_suffix(''))}'")
    if language == "php":
        cls = stem[:1].upper() + stem[1:]
        return TestLocation(root / "tests" / f"{cls}Test.php", "PHPUnit",
                            note=f"Name the test class `{cls}Test`, extending PHPUnit\\Framework\\TestCase.")
    if language == "lua":
        module = ".".join(source.relative_to(root).with_suffix("").parts) if source.is_relative_to(root) else stem
        return TestLocation(root / "spec" / f"{stem}_spec.lua", "busted",
                            f"local {stem} = require('{module}')")
    return None


def _python_module(source: Path, root: Path) -> str:
    rel = source.relative_to(root) if source.is_relative_to(root) else Path(source.name)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _js_framework(source: Path, root: Path) -> str:
    for d in [source.parent, *source.parents]:
        pkg = d / "package.json"
        if pkg.is_file():
            try:
                data = json.loads(pkg.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            deps: dict[str, object] = {}
            for key in ("dependencies", "devDependencies"):
                if isinstance(data.get(key), dict):
                    deps.update(data[key])
            if "vitest" in deps:
                return "Vitest (import { describe, it, expect } from 'vitest')"
            if "jest" in deps or "ts-jest" in deps:
                return "Jest (describe, it and expect are globals)"
            if "mocha" in deps:
                return "Mocha with node:assert"
            break
        if d == root:
            break
    return "Node's built-in test runner (import test from 'node:test' and assert from 'node:assert')"


def _go_package(text: str) -> str:
    m = re.search(r"^package\s+(\w+)", text[:4000], re.MULTILINE)
    return m.group(1) if m else ""


def _java_package(text: str) -> str:
    m = re.search(r"^\s*package\s+([\w.]+)\s*;", text[:4000], re.MULTILINE)
    return m.group(1) if m else ""


def _rel(base: Path, target: Path) -> str:
    base_parts, target_parts = base.parts, target.parts
    i = 0
    while i < min(len(base_parts), len(target_parts)) and base_parts[i] == target_parts[i]:
        i += 1
    return "/".join([".."] * (len(base_parts) - i) + list(target_parts[i:]))

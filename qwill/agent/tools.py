"""The agent's tools: read, list, grep, find symbol, edit, create, delete, rename,
run a command, run the tests, keep a plan.

Each tool has a JSON schema (rendered into the prompt through the model's own
chat template) and a function over a ToolContext. Reads see live buffers;
writes are staged in the step's Staging and reviewed as one change set at the
end of the step. Results are plain text for the model, capped in size; a
failure is a ToolError whose message tells the model what to do instead.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..context.workspace_index import WorkspaceIndex
from .modes import ApprovalMode, effective_verdict
from .shell import CommandResult, ShellPolicy, Verdict, run_command, sandbox_works
from .verify import CheckResult, read_result, resolve_test_command
from .workspace import PathError, Staging, Workspace

MAX_READ_LINES = 250
MAX_RESULT_CHARS = 8_000
MAX_LIST = 200
MAX_GREP = 60
# what write_file answers when the new text is the file's text
UNCHANGED = "no change (the content is what the file already holds)"


class ToolError(Exception):
    """A tool call that failed; the message goes back to the model."""


@dataclass
class PlanItem:
    text: str
    done: bool = False


@dataclass
class ToolContext:
    workspace: Workspace
    staging: Staging
    policy: ShellPolicy = field(default_factory=ShellPolicy)
    test_command: str = ""
    command_timeout: float = 120.0
    max_output: int = 12_000
    sandbox: bool = True
    # Asks the user about a command; True to run it. None: nobody to ask (denied).
    approve_command: Callable[[str, str], Awaitable[bool]] | None = None
    # Called before a command runs so staged edits are applied first.
    flush: Callable[[], Awaitable[str]] | None = None
    plan: list[PlanItem] = field(default_factory=list)
    symbol_index: WorkspaceIndex | None = None  # the workspace's definitions, when it is indexed
    # Pulls a file's live text from a client before it is read (ACP fs/read_text_file).
    fetch: Callable[[str], Awaitable[None]] | None = None
    # Workspace files commands wrote without review since the user last approved running
    # the project's code (shared across the steps of a session): test runners ask while
    # there are any.
    unreviewed: set[str] = field(default_factory=set)
    mode: ApprovalMode = ApprovalMode.ASK
    # tools from elsewhere (MCP servers), by name
    extra_tools: dict[str, Tool] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[..., Awaitable[str]]
    writes: bool = False
    # usable in plan mode: changes nothing and runs nothing
    read_only: bool = False

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


_S = {"type": "string"}
_I = {"type": "integer"}


def _cap(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


def _numbered(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines)))
    return "\n".join(f"{n:>{width}}| {line}" for n, line in enumerate(lines, start=first))


async def _read(ctx: ToolContext, path: str) -> tuple[str, str]:
    rel = ctx.workspace.rel(path)
    if ctx.fetch is not None and rel not in ctx.staging.files:
        await ctx.fetch(rel)
    if ctx.workspace.abspath(rel).is_dir() and rel not in ctx.staging.files:
        raise ToolError(f"{rel} is a directory; use list_files")
    text = ctx.staging.read(rel)
    if text is None:
        raise ToolError(f"{rel} does not exist")
    return rel, text


# -- reading ------------------------------------------------------------------------
async def read_file(ctx: ToolContext, path: str, start_line: int = 1, end_line: int = 0) -> str:
    rel, text = await _read(ctx, path)
    lines = text.splitlines()
    if not lines:
        return f"{rel} is empty"
    start = max(1, int(start_line or 1))
    end = int(end_line or 0) or len(lines)
    end = min(end, len(lines), start + MAX_READ_LINES - 1)
    if start > len(lines):
        raise ToolError(f"{rel} has {len(lines)} lines; start_line {start} is past the end")
    body = _numbered(lines[start - 1:end], start)
    more = f"\n[lines {end + 1}-{len(lines)} not shown]" if end < len(lines) else ""
    return _cap(f"{rel} (lines {start}-{end} of {len(lines)}):\n{body}{more}")


async def list_files(ctx: ToolContext, path: str = ".", pattern: str = "") -> str:
    rel = ctx.workspace.rel(path or ".")
    if rel != "." and not ctx.workspace.abspath(rel).exists():
        raise ToolError(f"{rel} does not exist")
    found = []
    for p in ctx.workspace.walk(rel):
        if ctx.staging.files.get(p, "") is None:
            continue
        if pattern and not (fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern)):
            continue
        found.append(p)
    for p, text in ctx.staging.files.items():  # staged creations
        if text is not None and p not in found and (rel == "." or p.startswith(rel + "/")):
            if not pattern or fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern):
                found.append(p)
    if not found:
        return "no files match"
    extra = f"\n[{len(found) - MAX_LIST} more not shown]" if len(found) > MAX_LIST else ""
    return "\n".join(sorted(found)[:MAX_LIST]) + extra


def _files_for(ctx: ToolContext, path: str, glob: str) -> list[str]:
    rel = ctx.workspace.rel(path or ".")
    files = [p for p in ctx.workspace.walk(rel)
             if not glob or fnmatch.fnmatch(p, glob) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], glob)]
    files += [p for p, t in ctx.staging.files.items() if t is not None and p not in files
              and (rel == "." or p.startswith(rel + "/"))]
    return files


def _text_files(ctx: ToolContext, path: str, glob: str) -> Iterator[tuple[str, str]]:
    """(path, text) of the text files under `path` matching `glob`, as staged (live buffers)."""
    for p in _files_for(ctx, path, glob):
        try:
            text = ctx.staging.read(p)
        except PathError:
            continue
        if text is not None and "\x00" not in text[:1000]:
            yield p, text


GREP_SECONDS = 5.0


async def grep(ctx: ToolContext, pattern: str, path: str = ".", glob: str = "") -> str:
    import asyncio

    import regex

    if len(pattern) > 2000:
        raise ToolError("the pattern is longer than 2000 characters")
    try:
        rx = regex.compile(pattern)
    except (regex.error, ValueError, OverflowError):
        rx = regex.compile(regex.escape(pattern))
    files = list(_text_files(ctx, path, glob))
    # off the event loop, and bounded: a pattern like (a|aa)+$ backtracks exponentially
    return await asyncio.to_thread(_grep_files, rx, pattern, files, time.monotonic() + GREP_SECONDS)


def _grep_files(rx: Any, pattern: str, files: list[tuple[str, str]], deadline: float) -> str:
    hits: list[str] = []
    for p, text in files:
        for n, line in enumerate(text.splitlines(), 1):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                found = rx.search(line, timeout=left)
            except TimeoutError:
                shown = "\n".join(hits)
                return (shown + "\n" if shown else "") + (
                    f"[stopped after {GREP_SECONDS:.0f} s in {p}:{n}: the pattern takes too long to match; "
                    "use a simpler pattern (no nested repetition such as (a+)+)]")
            if found:
                hits.append(f"{p}:{n}: {line.strip()[:200]}")
                if len(hits) >= MAX_GREP:
                    return "\n".join(hits) + f"\n[stopped at {MAX_GREP} matches]"
    return "\n".join(hits) if hits else f"no matches for {pattern!r}"


_DEF = (r"^\s*(?:export\s+)?(?:async\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:static\s+)?"
        r"(?:def|class|function|func|fn|struct|enum|trait|interface|type|const|let|var|impl|module)"
        r"\s+(?:\([^)]*\)\s*)?{name}\b")


async def find_symbol(ctx: ToolContext, name: str) -> str:
    """Definitions of `name`: the workspace symbol index (qwill.context) when there
    is one, else a regex over definition keywords (def/class/function/fn/...)."""
    index = ctx.symbol_index
    if index is not None:
        hits = []
        try:
            found = index.lookup(name)
        except Exception:  # an index failure must not stop the agent
            found = []
        for sym in found[:MAX_GREP]:
            try:
                rel = ctx.workspace.rel(str(sym.path))
            except PathError:
                continue
            if ctx.staging.files.get(rel, "") is None:
                continue
            hits.append(f"{rel}:{sym.line + 1}: {sym.kind} {sym.signature.strip()[:200]}")
        staged = [p for p, t in ctx.staging.files.items() if t is not None]
        if hits and not staged:
            return "\n".join(hits)
    rx = re.compile(_DEF.format(name=re.escape(name)))
    assign = re.compile(rf"^{re.escape(name)}\s*[:=]")
    hits = []
    for p in _files_for(ctx, ".", ""):
        text = ctx.staging.read(p)
        if not text or "\x00" in text[:1000]:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if rx.search(line) or assign.search(line):
                hits.append(f"{p}:{n}: {line.strip()[:200]}")
    if not hits:
        return f"no definition of {name!r} found; try grep"
    return "\n".join(hits[:MAX_GREP])


# -- editing ------------------------------------------------------------------------
def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _fuzzy_locate(text: str, old: str) -> tuple[int, int] | str | None:
    """Where `old` matches `text` line by line ignoring indentation and trailing
    space: (start, end) offsets of the unique match, "many", or None."""
    old_lines = [line.strip() for line in old.strip("\n").splitlines()]
    while old_lines and not old_lines[-1]:
        old_lines.pop()
    if not old_lines:
        return None
    lines = text.splitlines(keepends=True)
    norm = [line.strip() for line in lines]
    matches = []
    for i in range(len(lines) - len(old_lines) + 1):
        if norm[i:i + len(old_lines)] == old_lines:
            matches.append(i)
    if not matches:
        return None
    if len(matches) > 1:
        return "many"
    starts = _line_starts(text)
    i = matches[0]
    start = starts[i]
    end_line = i + len(old_lines)
    end = starts[end_line] if end_line < len(starts) else len(text)
    return start, end


def _indent(s: str) -> str:
    return s[: len(s) - len(s.lstrip(" \t"))]


_BLOCK_OPENERS = (":", "{", "(", "[")


def _rewritten_block(text: str, start: int, end: int, old: str, new: str) -> tuple[int, str] | None:
    """When old_text is only the first line of a block (`def main(argv=None):`) and new_text
    is that line followed by a rewrite of the block's body, the model means to replace the
    whole block: replacing just the line would keep the old body after the new one. The
    block's end and the note for the result; None when the edit is not that shape.

    A rewrite: at least half of the body's lines come back in new_text, so an edit that adds
    a line under a header (a docstring, a decorator's target) is left as it is."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    header = text[line_start:line_end]
    if "\n" in old.strip("\n") or end < line_end or text[line_start:start].strip() \
            or not header.rstrip().endswith(_BLOCK_OPENERS) or not new.startswith(old.rstrip("\n")):
        return None
    base = len(_indent(header))
    lines = text[line_end + 1:].split("\n") if line_end < len(text) else []
    body: list[str] = []
    for line in lines:
        if line.strip() and len(_indent(line)) <= base:
            break
        body.append(line)
    while body and not body[-1].strip():
        body.pop()
    wanted = [ln.strip() for ln in body if ln.strip()]
    if not wanted:
        return None
    rest = {ln.strip() for ln in new[len(old.rstrip("\n")):].splitlines() if ln.strip()}
    if sum(1 for ln in wanted if ln in rest) * 2 < len(wanted):
        return None
    block_end = line_end + 1 + sum(len(ln) + 1 for ln in body) - 1
    closing = lines[len(body)] if len(body) < len(lines) else ""
    new_last = next((ln.strip() for ln in reversed(new.splitlines()) if ln.strip()), "")
    if closing.strip()[:1] in ("}", ")", "]") and new_last[:1] == closing.strip()[:1] \
            and len(_indent(closing)) == base:
        body.append(closing)  # a braced block: new_text brings its own closing line
        block_end += len(closing) + 1
    if old.endswith("\n") and new.endswith("\n") and block_end < len(text):
        block_end += 1  # the body's last line break, which new_text ends with
    first = text.count("\n", 0, line_start) + 1
    return block_end, (f" (new_text rewrites the block that old_text opens: replaced lines {first}-"
                       f"{first + len(body)}, not only its first line)")


def _reindent(new: str, old: str, actual: str) -> str:
    """Shift `new`'s indentation by how the file's matched lines differ from `old`."""
    def first(s: str) -> str:
        return next((ln for ln in s.splitlines() if ln.strip()), "")
    want, got = _indent(first(actual)), _indent(first(old))
    if want == got:
        return new
    out = []
    for line in new.splitlines(keepends=True):
        if line.strip() and line.startswith(got):
            out.append(want + line[len(got):])
        elif line.strip():
            out.append(want + line.lstrip(" \t"))
        else:
            out.append(line)
    return "".join(out)


def _nearest(text: str, old: str) -> str:
    """The lines most like `old`, numbered, to help the model retry."""
    lines = text.splitlines()
    target = old.strip("\n").splitlines() or [old]
    n = max(1, len(target))
    best, best_i = -1.0, 0
    key = "\n".join(t.strip() for t in target)
    for i in range(max(1, len(lines) - n + 1)):
        window = "\n".join(t.strip() for t in lines[i:i + n])
        score = difflib.SequenceMatcher(None, key, window, autojunk=False).quick_ratio()
        if score > best:
            best_i, best = i, score
    if best > 0:
        window = "\n".join(t.strip() for t in lines[best_i:best_i + n])
        best = difflib.SequenceMatcher(None, key, window, autojunk=False).ratio()
    lo = max(0, best_i - 2)
    hi = min(len(lines), best_i + n + 2)
    return f"the closest lines (similarity {best:.0%}):\n" + _numbered(lines[lo:hi], lo + 1)


_NUMBER_PREFIX = re.compile(r"^[ \t]*\d+\| ?", re.M)


def _strip_line_numbers(old: str, new: str) -> tuple[str, str] | None:
    """old/new text copied with read_file's `12| ` prefixes on every line, without them;
    None when old_text is not written that way."""
    lines = [ln for ln in old.splitlines() if ln.strip()]
    if not lines or not all(_NUMBER_PREFIX.match(ln) for ln in lines):
        return None
    new_lines = [ln for ln in new.splitlines() if ln.strip()]
    numbered_new = bool(new_lines) and all(_NUMBER_PREFIX.match(ln) for ln in new_lines)
    return _NUMBER_PREFIX.sub("", old), (_NUMBER_PREFIX.sub("", new) if numbered_new else new)


async def edit_file(ctx: ToolContext, path: str, old_text: str, new_text: str) -> str:
    rel, text = await _read(ctx, path)
    if old_text == "":
        raise ToolError("old_text is empty; use create_file for new files, or quote the lines to replace")
    if old_text not in text:
        stripped = _strip_line_numbers(old_text, new_text)
        if stripped is not None:
            old_text, new_text = stripped
    count = text.count(old_text)
    if count == 1:
        i = text.index(old_text)
        end = i + len(old_text)
        block = _rewritten_block(text, i, end, old_text, new_text)
        how = ""
        if block is not None:
            end, how = block
        updated = text[:i] + new_text + text[end:]
    elif count > 1:
        starts = _line_starts(text)
        import bisect
        where = [bisect.bisect_right(starts, m.start()) for m in re.finditer(re.escape(old_text), text)]
        raise ToolError(f"old_text matches {count} places in {rel} (lines {', '.join(map(str, where[:10]))}); "
                        "include more surrounding lines so it matches once")
    else:
        loc = _fuzzy_locate(text, old_text)
        if loc == "many":
            raise ToolError(f"old_text matches several places in {rel} when whitespace is ignored; "
                            "include more surrounding lines")
        if loc is None:
            raise ToolError(f"old_text was not found in {rel}; {_nearest(text, old_text)}")
        assert isinstance(loc, tuple)
        start, end = loc
        actual = text[start:end]
        replacement = _reindent(new_text, old_text, actual)
        if actual.endswith("\n") and not replacement.endswith("\n") and replacement:
            replacement += "\n"
        updated = text[:start] + replacement + text[end:]
        how = " (matched ignoring whitespace differences)"
    if updated == text:
        return f"{rel}: no change (new_text equals old_text)"
    updated, added = _with_imports(ctx, rel, updated)
    ctx.staging.write(rel, updated)
    delta = len(updated.splitlines()) - len(text.splitlines())
    return f"edited {rel}{how}; {'+' if delta >= 0 else ''}{delta} lines{added}"


MAX_IMPORT_SCAN = 300  # Python files read for the modules the workspace imports


def _with_imports(ctx: ToolContext, rel: str, content: str) -> tuple[str, str]:
    """`content` with the imports it uses and lacks (qwill.agent.imports), and the note that
    says which were added ("" when none)."""
    if not rel.endswith(".py"):
        return content, ""
    from itertools import islice

    from .imports import add_imports, imported_modules, missing_modules, stdlib_or
    extra: set[str] | None = None  # read only for a name the standard library does not have

    def project_has(name: str) -> bool:
        nonlocal extra
        if extra is None:
            others = (text for p, text in islice(_text_files(ctx, ".", "**/*.py"), MAX_IMPORT_SCAN) if p != rel)
            extra = imported_modules(others)
            found = resolve_test_command(ctx.workspace.root, ctx.test_command)
            if found is not None and "pytest" in found.command:
                extra.add("pytest")
        return name in extra

    std = stdlib_or(set())
    names = missing_modules(content, lambda name: std(name) or project_has(name), rel)
    if not names:
        return content, ""
    listed = ", ".join(f"`import {n}`" for n in names)
    return add_imports(content, names), f" (added {listed}: the file uses {'it' if len(names) == 1 else 'them'} without an import)"


async def create_file(ctx: ToolContext, path: str, content: str) -> str:
    rel = ctx.workspace.rel(path)
    if rel == "." or ctx.workspace.abspath(rel).is_dir():
        raise ToolError(f"{path} is a directory")
    if ctx.staging.read(rel) is not None:
        # Models often "create" the file they mean to rewrite; the review shows the diff
        # and the checkpoint keeps the old text, so replace it and say so.
        return "(the file already existed) " + await write_file(ctx, rel, content)
    content, added = _with_imports(ctx, rel, content)
    ctx.staging.write(rel, content)
    return f"created {rel} ({len(content.splitlines())} lines){added}"


async def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Replace an existing file's whole text (small models edit small files best this way)."""
    rel, text = await _read(ctx, path)
    stripped = _strip_line_numbers(content, "")
    if stripped is not None:  # the model copied read_file's line numbers
        content = stripped[0]
    if content == text:
        return f"{rel}: {UNCHANGED}"
    if text.endswith("\n") and content and not content.endswith("\n"):
        content += "\n"
    content, added = _with_imports(ctx, rel, content)
    if content == text:
        return f"{rel}: {UNCHANGED}"
    ctx.staging.write(rel, content)
    delta = len(content.splitlines()) - len(text.splitlines())
    return f"rewrote {rel}; {'+' if delta >= 0 else ''}{delta} lines{added}"


async def delete_file(ctx: ToolContext, path: str) -> str:
    rel, _ = await _read(ctx, path)
    ctx.staging.delete(rel)
    return f"deleted {rel}"


_NAME = re.compile(r"[A-Za-z_$][\w$]*")
MAX_RENAME_FILES = 200


async def rename_symbol(ctx: ToolContext, name: str, new_name: str, path: str = "", glob: str = "",
                        keep_alias: bool = False) -> str:
    """Rename the identifier `name` to `new_name` wherever it occurs as a whole word in the
    workspace's text files (code, docs, configuration), like an editor's rename: one
    reviewed change. `path` names the file that defines it (checked); `glob` limits the files.
    `keep_alias` keeps `name` working in the defining module as a deprecated alias of
    `new_name` (qwill.agent.alias); nothing is renamed when that cannot be done."""
    if not _NAME.fullmatch(name or "") or not _NAME.fullmatch(new_name or ""):
        raise ToolError("name and new_name must be identifiers (letters, digits, _; not starting with a digit)")
    if name == new_name:
        raise ToolError("new_name is the same as name")
    rx = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
    if path:
        rel, text = await _read(ctx, path)
        if not rx.search(text):
            raise ToolError(f"{name!r} does not occur as a whole word in {rel}; grep finds where it is")
    updates: dict[str, str] = {}
    counts: list[str] = []
    total = 0
    for p, text in sorted(_text_files(ctx, ".", glob)):
        updated, n = rx.subn(new_name, text)
        if n:
            if len(updates) >= MAX_RENAME_FILES:
                raise ToolError(f"{name} occurs in more than {MAX_RENAME_FILES} files; narrow it with glob")
            updates[p] = updated
            counts.append(f"{p} ({n})")
            total += n
    if not updates:
        raise ToolError(f"{name!r} does not occur as a whole word in the workspace; grep finds where it is")
    kept = ""
    if keep_alias:
        where = _alias_home(updates, name, new_name, rel if path else "")
        updates[where] = _with_alias(updates[where], name, new_name)
        kept = f"; {name} is kept in {where} as a deprecated alias that warns (DeprecationWarning)"
    for p, updated in updates.items():  # staged only once every file's new text is known
        ctx.staging.write(p, updated)
    return f"renamed {name} -> {new_name}: {total} place{'s' if total != 1 else ''} in {', '.join(counts)}{kept}"


def _alias_home(updates: dict[str, str], name: str, new_name: str, path: str) -> str:
    """The Python file, among the renamed ones, that defines `new_name` at the top level."""
    if path:
        if path not in updates or not path.endswith(".py"):
            raise ToolError(f"keep_alias: {path} is not a renamed Python file; a deprecated alias can be kept "
                            "for a Python function or class")
        return path
    from .alias import top_level_definitions

    homes = []
    for p, text in updates.items():
        if not p.endswith(".py"):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        if top_level_definitions(tree, new_name):
            homes.append(p)
    if len(homes) != 1:
        raise ToolError(f"keep_alias: {'no renamed Python file defines' if not homes else 'several files define'} "
                        f"{new_name} at the top level; give path, the file that defines {name}")
    return homes[0]


def _with_alias(text: str, name: str, new_name: str) -> str:
    from .alias import AliasError, with_deprecated_alias

    try:
        return with_deprecated_alias(text, name, new_name)
    except AliasError as exc:
        raise ToolError(f"keep_alias: {exc}; nothing was renamed") from None


async def rename_file(ctx: ToolContext, path: str, new_path: str) -> str:
    rel, _ = await _read(ctx, path)
    dest = ctx.workspace.rel(new_path)
    if dest == rel:
        raise ToolError(f"rename_file renames files and {rel} would keep its name; to rename a function, "
                        "class, variable or setting use rename_symbol")
    if ctx.staging.read(dest) is not None or ctx.workspace.abspath(dest).is_dir():
        raise ToolError(f"{dest} already exists")
    moved = _moved_module(ctx, rel, dest)
    ctx.staging.rename(rel, dest)
    for p, text in moved.items():
        ctx.staging.write(dest if p == rel else p, text)
    refs = [p for p in moved if p != rel]
    if not refs:
        return f"renamed {rel} -> {dest}"
    return (f"renamed {rel} -> {dest}; its imports and references were updated in "
            f"{', '.join(refs[:20])}{' and more' if len(refs) > 20 else ''}")


def _moved_module(ctx: ToolContext, rel: str, dest: str) -> dict[str, str]:
    """For a Python module moved from `rel` to `dest`: {path: new text} of the files whose
    imports of it change (qwill.agent.module_move), the moved file's own relative imports
    made absolute under `rel` when it changes package. {} for any other file."""
    from itertools import islice

    from .module_move import absolute_imports, module_name, moved_references

    if not (rel.endswith(".py") and dest.endswith(".py")) or module_name(dest) is None:
        return {}
    others = ((p, t) for p, t in islice(_text_files(ctx, ".", ""), MAX_RENAME_FILES * 10) if p != rel)
    out = moved_references(rel, dest, others)
    if PurePosixPath(rel).parent != PurePosixPath(dest).parent:
        text = ctx.staging.read(rel) or ""
        moved = absolute_imports(rel, text)
        if moved != text:
            out[rel] = moved
    return out


# -- commands -------------------------------------------------------------------------
async def _ask(ctx: ToolContext, command: str, why: str) -> bool:
    """Ask the user (ToolError when declined or nobody can answer); True once they said
    yes. In yolo what would be asked runs without asking (False: nobody looked)."""
    if effective_verdict(Verdict.ASK, ctx.mode) is Verdict.ALLOW:
        return False
    if ctx.approve_command is None:
        raise ToolError(f"command needs the user's approval and nobody can give it: {why}")
    if not await ctx.approve_command(command, why):
        raise ToolError("the user declined to run this command")
    return True


async def _run(ctx: ToolContext, command: str, *, configured: bool = False) -> str:
    note, result = await _run_result(ctx, command, configured=configured)
    return (note + "\n" if note else "") + result.render()


async def _run_result(ctx: ToolContext, command: str, *, configured: bool = False,
                      what: str = "the configured test command") -> tuple[str, CommandResult]:
    """Check `command` against the policy (a configured test command is the user's own
    text, but it still runs the project's code: `configured`, said as `what` when asking),
    ask when it says so (not in yolo), run it; the note of edits applied first, and the result."""
    import asyncio

    if not isinstance(command, str) or "\x00" in command:
        raise ToolError("the command contains a NUL byte; write it without one")
    root = ctx.workspace.root
    if ctx.mode.read_only:
        raise ToolError("plan mode is read-only: commands do not run until the user approves the plan")
    sandboxed = ctx.sandbox and sandbox_works(root)
    approved = False
    writes: list[str] = []
    if configured:
        if not sandboxed:
            approved = await _ask(ctx, command, f"{what} runs the project's code, and no "
                                                "sandbox is available to confine it")
        elif ctx.unreviewed:
            approved = await _ask(ctx, command, f"{what} runs the project's code, and files "
                                                "were written outside review since you last approved: "
                                                + ", ".join(sorted(ctx.unreviewed)[:5]))
    else:
        decision = ctx.policy.check(command, root, sandboxed=sandboxed, unreviewed=ctx.unreviewed)
        if decision.verdict is Verdict.DENY:  # no mode overrides a deny
            raise ToolError(f"command refused: {decision.explain()}")
        if decision.verdict is Verdict.ASK:
            approved = await _ask(ctx, command, decision.explain())
        if not approved:
            writes = decision.writes
    if approved:
        ctx.unreviewed.clear()  # you saw the command (and the files it names) and let it run
    note = ""
    if ctx.flush is not None:
        note = await ctx.flush()
    result: CommandResult = await asyncio.to_thread(
        run_command, command, root, timeout=ctx.command_timeout, max_output=ctx.max_output,
        sandbox=ctx.sandbox)
    ctx.unreviewed.update(writes)  # what an allowed line created was not reviewed
    return note, result


async def run_checks(ctx: ToolContext) -> CheckResult | None:
    """The project's tests (configured, else found from its build files) as a CheckResult,
    approved like `run_tests`; None when the project has none."""
    found = resolve_test_command(ctx.workspace.root, ctx.test_command)
    if found is None:
        return None
    try:
        _, result = await _run_result(ctx, found.command, configured=found.source == "settings")
    except ToolError as exc:
        return CheckResult(found.command, False, str(exc), ran=False)

    def read(rel: str) -> str | None:
        try:
            return ctx.staging.read(ctx.workspace.rel(rel))
        except PathError:
            return None

    return read_result(found.command, result.exit_code, result.output, read=read)


async def run_task_calls(ctx: ToolContext, task: str) -> str:
    """What the calls the task names return or raise (qwill.agent.reproduce), one line each,
    run like the project's tests (the program is Qwill's, built from the user's task); ""
    when the task names none or they could not run."""
    from .reproduce import called_names, command, definitions, task_calls

    names = called_names(task)
    if not names:
        return ""
    defined = definitions(_text_files(ctx, ".", "**/*.py"), names)
    calls = task_calls(task, defined.get)
    if not calls:
        return ""
    output = await _run_named(ctx, command(calls, _python(ctx)),
                              f"running {', '.join(c.source for c in calls)} (named in the task)")
    return "\n".join(ln for ln in output.splitlines() if any(ln.startswith(c.source + " ") for c in calls))


async def run_doc_examples(ctx: ToolContext, docs: list[str]) -> str:
    """The `>>>` examples of the doc files `docs` (the ones the task names) whose output
    differs from what they show, one line each (qwill.agent.reproduce); "" when none do."""
    from .reproduce import doc_examples_command, has_examples

    paths = [p for p in docs if has_examples(ctx.staging.read(p) or "")][:5]
    if not paths:
        return ""
    output = await _run_named(ctx, doc_examples_command(paths, _python(ctx)),
                              f"running the examples of {', '.join(paths)} (named in the task)")
    return "\n".join(ln for ln in output.splitlines() if any(ln.startswith(p + ":") for p in paths))


def _python(ctx: ToolContext) -> str:
    """The interpreter the project's tests run with (`python3` when that is not known)."""
    found = resolve_test_command(ctx.workspace.root, ctx.test_command)
    first = found.command.split()[0] if found is not None else ""
    return first if re.fullmatch(r"(\S*/)?python[\d.]*", first) else "python3"


async def _run_named(ctx: ToolContext, command: str, what: str) -> str:
    """Run a program Qwill built from the task (not model output) like the project's tests;
    its output, "" when it could not run."""
    try:
        _, result = await _run_result(ctx, command, configured=True, what=what)
    except ToolError:
        return ""
    return result.output


async def run_command_tool(ctx: ToolContext, command: str) -> str:
    return await _run(ctx, command)


async def run_tests(ctx: ToolContext) -> str:
    found = resolve_test_command(ctx.workspace.root, ctx.test_command)
    if found is None:
        raise ToolError("this project has no tests Qwill can find (no test files, no test script; setting "
                        "agent.testCommand): check the change with read_file, or call finish")
    # A configured command is the user's own text; a discovered one passes the policy like any.
    note, result = await _run_result(ctx, found.command, configured=found.source == "settings")
    out = (note + "\n" if note else "") + result.render()
    if read_result(found.command, result.exit_code, result.output).no_tests:
        out += ("\n(The project has no tests yet, so running them again tells nothing new: check the "
                "change with read_file, add a test if the task asks for one, or call finish.)")
    return out


async def finish(ctx: ToolContext, summary: str) -> str:
    """The loop ends the run on this call once the checks pass (see agent.loop)."""
    return summary


async def todo(ctx: ToolContext, items: list[str]) -> str:
    plan = []
    for raw in items:
        text = str(raw).strip()
        done = bool(re.match(r"^\[[xX]\]", text))
        text = re.sub(r"^\[[ xX]?\]\s*", "", text)
        if text:
            plan.append(PlanItem(text, done))
    ctx.plan[:] = plan
    return "plan:\n" + "\n".join(f"[{'x' if p.done else ' '}] {p.text}" for p in plan)


TOOLS: list[Tool] = [
    Tool("read_file", "Read a file (numbered lines). Optional 1-based line range.",
         _obj({"path": _S, "start_line": _I, "end_line": _I}, ["path"]), read_file, read_only=True),
    Tool("list_files", "List files under a directory, optionally filtered by a glob pattern.",
         _obj({"path": _S, "pattern": _S}, []), list_files, read_only=True),
    Tool("grep", "Search file contents with a regular expression.",
         _obj({"pattern": _S, "path": _S, "glob": _S}, ["pattern"]), grep, read_only=True),
    Tool("find_symbol", "Find where a function, class or variable is defined.",
         _obj({"name": _S}, ["name"]), find_symbol, read_only=True),
    Tool("edit_file", "Replace old_text (copied exactly from the file, matching once) with new_text.",
         _obj({"path": _S, "old_text": _S, "new_text": _S}, ["path", "old_text", "new_text"]),
         edit_file, writes=True),
    Tool("create_file", "Create a new file with the given content (an existing file is replaced).",
         _obj({"path": _S, "content": _S}, ["path", "content"]), create_file, writes=True),
    Tool("write_file", "Replace the whole content of an existing file (give the complete new text).",
         _obj({"path": _S, "content": _S}, ["path", "content"]), write_file, writes=True),
    Tool("delete_file", "Delete a file.", _obj({"path": _S}, ["path"]), delete_file, writes=True),
    Tool("rename_file", "Rename or move a file; for a Python module, every import of it is updated too.", _obj({"path": _S, "new_path": _S}, ["path", "new_path"]),
         rename_file, writes=True),
    Tool("rename_symbol", "Rename a function, class, variable or setting everywhere, like an editor's rename: "
         "the whole word name becomes new_name in every file of the workspace, docs included. path: the file "
         "that defines it (optional); glob: only files matching it; keep_alias: true keeps the old name working "
         "as a deprecated alias (a Python function or class that warns with DeprecationWarning).",
         _obj({"name": _S, "new_name": _S, "path": _S, "glob": _S, "keep_alias": {"type": "boolean"}},
              ["name", "new_name"]),
         rename_symbol, writes=True),
    Tool("run_command", "Run a shell command in the workspace (no network).",
         _obj({"command": _S}, ["command"]), run_command_tool),
    Tool("run_tests", "Run the project's tests.", _obj({}, []), run_tests),
    Tool("todo", "Write the plan as a checklist; mark finished items with [x].",
         _obj({"items": {"type": "array", "items": _S}}, ["items"]), todo, read_only=True),
    Tool("finish", "Call when the task is done, with a short summary of what changed. The project's checks "
         "run first: if they fail you are told why and go on.",
         _obj({"summary": _S}, ["summary"]), finish, read_only=True),
]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def _type_error(props: dict[str, Any], key: str, value: Any) -> str:
    """Why `value` is not of the declared type of parameter `key` ('' when it is)."""
    t = props[key].get("type") if isinstance(props[key], dict) else None
    if not isinstance(t, str):  # a union of types (MCP schemas): left to the tool
        return ""
    ok = {"string": isinstance(value, str), "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool),
          "object": isinstance(value, dict), "array": isinstance(value, list),
          "boolean": isinstance(value, bool)}.get(t, True)
    return "" if ok else f"{key} must be a {t}, got {type(value).__name__}"


def validate(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
    """Check arguments against the tool's schema after coercion; ToolError if wrong.
    Arguments that are not parameters are dropped."""
    props = tool.parameters.get("properties", {})
    missing = [r for r in tool.parameters.get("required", []) if r not in args]
    if missing:
        raise ToolError(f"{tool.name} needs {', '.join(missing)}")
    clean = {k: v for k, v in args.items() if k in props}
    for k, v in clean.items():
        problem = _type_error(props, k, v)
        if problem:
            raise ToolError(f"{tool.name}: {problem}")
    return clean


def schema_problems(tool: Tool | None, args: dict[str, Any]) -> list[str]:
    """How a call's arguments (after coercion) break the tool's schema: an unknown tool,
    a missing required parameter, one that is not a parameter, a value of the wrong type.
    Empty for a schema-valid call (what the benchmark counts as well-formed)."""
    if tool is None:
        return ["unknown tool"]
    props = tool.parameters.get("properties", {}) or {}
    problems = [f"missing {r}" for r in tool.parameters.get("required", []) if r not in args]
    problems += [f"unknown parameter {k}" for k in args if k not in props]
    problems += [p for k, v in args.items() if k in props and (p := _type_error(props, k, v))]
    return problems


async def call_tool(ctx: ToolContext, name: str, args: dict[str, Any]) -> str:
    """Run one tool; errors come back as ToolError with a message for the model."""
    tool = TOOLS_BY_NAME.get(name) or ctx.extra_tools.get(name)
    if tool is None:
        names = [*TOOLS_BY_NAME, *ctx.extra_tools]
        raise ToolError(f"unknown tool {name!r}; the tools are: {', '.join(names)}")
    if ctx.mode.read_only and not tool.read_only:
        raise ToolError(f"plan mode is read-only: {name} is not available until the user approves the plan; "
                        "write the plan with todo and call finish with it")
    clean = validate(tool, args)
    try:
        return await tool.run(ctx, **clean)
    except PathError as exc:
        raise ToolError(str(exc)) from None
    except (OSError, ValueError, OverflowError, RecursionError) as exc:
        # a NUL byte, a lone surrogate, a number too large: the model's arguments, not a crash
        raise ToolError(f"{name} failed: {exc}") from None


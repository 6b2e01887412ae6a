"""The whole-file edit format: the model writes each file it changes in full, after its path,
in a fenced block; no tool-call syntax, no JSON escaping, no text to copy exactly.

Small local models (Qwen2.5-Coder 1.5B) edit far more reliably this way than with
search/replace tool calls, as long as they see every file they may change (the loop shows
them all in the first message, within a budget). Each block becomes a `write_file` (or
`create_file`) call, so the writes go through the same workspace confinement, review,
checkpoints and checks as any tool call; an answer without a block is the model's finish.

    greet.py
    ```python
    <the complete new text of greet.py>
    ```
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from .toolcall_formats import ParseResult, ToolCall
from .toolcalls import StreamEvent

FORMAT = "whole"

SYSTEM_PROMPT = """You are Qwill, an expert software developer working in the workspace `{name}`.
The user gives you a task and the files of the workspace. Each file is shown as a *file listing*:
its path on a line by itself, then its whole text in a fenced code block.

Once you understand the task:
1. Say in one or two sentences what must change, and in which files.
2. Write a *file listing* of each file that changes, with its complete new text.

Every *file listing* has this shape:
- first line: the file's path exactly as shown (for a new file, its new path); nothing else on it
- second line: the opening ```
- the entire text of the file, every line, changed as the task needs
- last line: the closing ```
Never leave lines out of a file listing and never write "..." or "rest of the code unchanged".
Change every file the task needs (code, tests, documentation, configuration) in one answer.
Every change is reviewed by the user. After your answer the project's tests run and you see the
result; fix what fails with new file listings. When the task is finished, answer with a short
summary and no file listing."""

# a worked example, as the conversation's first exchange
EXAMPLE = (
    ("user", "The files of the workspace:\n\n"
             "show_greeting.py\n```\nimport sys\n\n\ndef greeting(name):\n    return f\"Hello {name}\"\n\n\n"
             "if __name__ == \"__main__\":\n    print(greeting(sys.argv[1]))\n```\n\n"
             "The task: Make the greeting in show_greeting.py more casual."),
    ("assistant", "The greeting text changes from \"Hello\" to \"Hey\" in show_greeting.py.\n\n"
                  "show_greeting.py\n```\nimport sys\n\n\ndef greeting(name):\n    return f\"Hey {name}\"\n\n\n"
                  "if __name__ == \"__main__\":\n    print(greeting(sys.argv[1]))\n```"),
    ("user", "rewrote show_greeting.py; +0 lines (applied)"),
    ("assistant", "The greeting in show_greeting.py now says \"Hey\"."),
)

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`\s]*)\s*$")
# a path as models write it before a fence: `greet.py`, **greet.py**, greet.py:, # File: greet.py
_PATH_DECOR = re.compile(r"^(?:#+\s*)?(?:\d+\.\s*)?(?:(?:file|path|filename)\s*:\s*)?", re.I)
_PATH = re.compile(r"^[\w.@+-]+(?:/[\w.@+-]+)*$")
# a line that stands for lines the model left out ("# ... rest of the file unchanged")
_ELISION = re.compile(
    r"^\s*(?:#|//|/\*|<!--|;)\s*(?:\.\.\.|…)|"
    r"^\s*(?:#|//|/\*|<!--|;).*\b(?:rest of|remaining (?:code|lines)|unchanged|existing code|same as before)\b",
    re.I)


def _path_of(line: str) -> str:
    """The file path a line before a fence names, or ''."""
    s = line.strip().strip("*`'\"").strip()
    s = _PATH_DECOR.sub("", s).strip().strip("*`'\"").rstrip(":").strip().strip("*`'\"")
    if s.startswith("./"):
        s = s[2:]
    if not s or not _PATH.match(s) or ("." not in s and "/" not in s):
        return ""
    return s


@dataclass
class _Block:
    path: str
    content: str
    closed: bool


def _blocks(text: str) -> tuple[list[_Block], list[str], list[int]]:
    """The fenced blocks of a message with the path each names ('' for none), the prose lines
    outside them, and the line index each block opens at."""
    lines = text.split("\n")
    blocks: list[_Block] = []
    prose: list[str] = []
    starts: list[int] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            prose.append(lines[i])
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info")
        path = _path_of(info) if ("." in info or "/" in info) else ""
        if not path:  # the nearest non-blank line before the fence, if it is a path
            back = len(prose) - 1
            while back >= 0 and not prose[back].strip() and back >= len(prose) - 2:
                back -= 1
            if back >= 0 and prose[back].strip():
                path = _path_of(prose[back])
                if path:
                    prose.pop(back)
        starts.append(i)
        body: list[str] = []
        depth = 0  # fences inside (a Markdown file's own code blocks open with a language)
        closed = False
        i += 1
        while i < len(lines):
            inner = _FENCE.match(lines[i])
            if inner is not None and inner.group("fence")[0] == fence[0] and len(inner.group("fence")) >= len(fence):
                if inner.group("info") and path.endswith((".md", ".markdown", ".rst")):
                    depth += 1
                elif depth:
                    depth -= 1
                elif not inner.group("info"):
                    closed = True
                    i += 1
                    break
            body.append(lines[i])
            i += 1
        content = "\n".join(body)
        blocks.append(_Block(path, content + "\n" if content else "", closed))
    return blocks, prose, starts


def parse_whole_files(text: str, exists: Callable[[str], bool]) -> ParseResult:
    """The files a whole-file answer writes, as write_file/create_file calls (in order; a
    path written twice keeps its last text), its prose, and what could not be read."""
    blocks, prose, _ = _blocks(text)
    # a path written in a fence of its own, with the file's text in the next one
    for a, b in itertools.pairwise(blocks):
        named = _path_of(a.content.strip()) if not a.path and "\n" not in a.content.strip() else ""
        if named and not b.path:
            b.path, a.content = named, ""
    blocks = [b for b in blocks if b.path or b.content]
    calls: dict[str, ToolCall] = {}
    errors: list[str] = []
    unnamed = 0
    for b in blocks:
        if not b.path:
            unnamed += 1
            continue
        if not b.closed:
            errors.append(f"the block for {b.path} has no closing ``` (the answer may have been cut off); "
                          f"{b.path} was not changed")
            continue
        name = "write_file" if exists(b.path) else "create_file"
        calls.pop(b.path, None)
        calls[b.path] = ToolCall(name, {"path": b.path, "content": b.content}, format=FORMAT)
    if unnamed and not calls and not errors:
        errors.append("a code block had no file path on the line before it, so nothing was written")
    return ParseResult(text="\n".join(prose).strip(), calls=list(calls.values()), errors=errors)


def elided(content: str, before: str | None) -> str:
    """A line of `content` that stands for lines left out of an existing file's text (the
    file would lose them), or ''."""
    if before is None:
        return ""
    old = {line.strip() for line in before.splitlines()}
    for line in content.splitlines():
        if line.strip() and line.strip() not in old and _ELISION.match(line):
            return line.strip()
    return ""


def close_cut_listing(text: str) -> str | None:
    """An answer cut off (by its token limit) inside a file listing, with that listing closed
    after its last complete top-level statement (what follows the last line that starts at
    the margin after a blank line is dropped), or None when no listing is open or nothing
    whole is left. For a file written anew, such as a test file, whose tests may run on."""
    blocks, _, starts = _blocks(text)
    if not blocks or blocks[-1].closed or not blocks[-1].path:
        return None
    lines = text.split("\n")
    opened = starts[-1]
    m = _FENCE.match(lines[opened])
    assert m is not None  # _blocks opened the block at this line
    body = lines[opened + 1:]
    cut = max((i for i in range(1, len(body)) if body[i] and not body[i][0].isspace() and not body[i - 1].strip()),
              default=0)
    kept = body[:cut]
    while kept and not kept[-1].strip():
        kept.pop()
    if not kept:
        return None
    return "\n".join([*lines[:opened + 1], *kept, m.group("fence")])


class WholeFileParser:
    """The streaming side, shaped as StreamingToolCallParser: prose is shown as it comes
    up to the first fence; the files are reported at the end."""

    def __init__(self, exists: Callable[[str], bool]) -> None:
        self.exists = exists
        self.buffer = ""
        self._shown = 0
        self._held = False

    def feed(self, piece: str) -> list[StreamEvent]:
        self.buffer += piece
        if self._held:
            return []
        # release whole lines before the first fence (and before the line that may name its path)
        fence = re.search(r"(?m)^(`{3}|~{3})", self.buffer)
        if fence is not None:
            self._held = True
            limit = self.buffer.rfind("\n", 0, max(fence.start() - 1, 0)) + 1
        else:
            limit = self.buffer.rfind("\n", 0, max(len(self.buffer) - 1, 0)) + 1
            limit = self.buffer.rfind("\n", 0, max(limit - 1, 0)) + 1  # keep a possible path line back
        if limit > self._shown:
            out = [StreamEvent(text=self.buffer[self._shown:limit])]
            self._shown = limit
            return out
        return []

    def finish(self) -> tuple[list[StreamEvent], ParseResult]:
        result = parse_whole_files(self.buffer, self.exists)
        events: list[StreamEvent] = []
        rest = self.buffer[self._shown:]
        if (not self._held or not result.calls) and rest:  # no file after all: the text as it was
            events.append(StreamEvent(text=rest))
        elif rest:
            _, prose, _ = _blocks(rest)
            tail = "\n".join(prose).strip()
            if tail:
                events.append(StreamEvent(text=tail))
        self._shown = len(self.buffer)
        events += [StreamEvent(call=c) for c in result.calls]
        return events, result

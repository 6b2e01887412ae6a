"""From a model's answer to new text: fenced code blocks and search/replace blocks.

Two answer shapes are understood:

- a fenced code block holding the new version of the region the model was
  shown (what small models do reliably);
- search/replace blocks (the format aider popularised), each naming text of
  the region and what replaces it (what large models prefer for big regions)::

      <<<<<<< SEARCH
      return total / len(value)
      =======
      return total / len(values)
      >>>>>>> REPLACE

Anything else is refused with a message that says what was wrong; the buffer
is never touched by an answer that could not be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class AnswerError(ValueError):
    """The answer cannot be turned into an edit; the message is for the user."""


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str
    closed: bool  # False when the answer ended inside the block


@dataclass(frozen=True)
class SearchReplace:
    search: str
    replace: str


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
_SR = re.compile(
    r"^[ \t]*<{5,}[ \t]*SEARCH[^\n]*\n(.*?)^[ \t]*={5,}[ \t]*\n(.*?)^[ \t]*>{5,}[ \t]*REPLACE[^\n]*$",
    re.MULTILINE | re.DOTALL,
)


def code_blocks(answer: str) -> list[CodeBlock]:
    """The fenced code blocks of `answer`, in order."""
    blocks: list[CodeBlock] = []
    pos = 0
    while True:
        m = _FENCE.search(answer, pos)
        if m is None:
            return blocks
        fence, lang = m.group(1), m.group(2)
        body_start = m.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        c = close.search(answer, body_start)
        if c is None:
            blocks.append(CodeBlock(lang, answer[body_start:], False))
            return blocks
        blocks.append(CodeBlock(lang, answer[body_start:c.start()], True))
        pos = c.end()


def search_replace_blocks(answer: str) -> list[SearchReplace]:
    return [SearchReplace(m.group(1), m.group(2)) for m in _SR.finditer(answer)]


def apply_search_replace(text: str, blocks: list[SearchReplace]) -> str:
    """Apply each block once to `text`; AnswerError names a block that does not fit.

    A block matches exactly, or else line by line ignoring indentation (the
    replacement is then re-indented by the same amount), because models often
    quote code with its indentation changed.
    """
    for block in blocks:
        if not block.search.strip():
            raise AnswerError("a search/replace block has an empty SEARCH part")
        text = _apply_one(text, block)
    return text


def _apply_one(text: str, block: SearchReplace) -> str:
    count = text.count(block.search)
    if count == 1:
        return text.replace(block.search, block.replace, 1)
    if count > 1:
        raise AnswerError(f"a SEARCH block matches {count} places: {_first_line(block.search)!r}")
    lines = text.splitlines(keepends=True)
    want = [ln.strip() for ln in block.search.splitlines() if ln.strip()]
    hits: list[tuple[int, int]] = []
    for i in range(len(lines)):
        j, k = i, 0
        while k < len(want) and j < len(lines):
            if not lines[j].strip():
                j += 1
                continue
            if lines[j].strip() != want[k]:
                break
            j, k = j + 1, k + 1
        if k == len(want) and lines[i].strip():
            hits.append((i, j))
    if not hits:
        raise AnswerError(f"a SEARCH block was not found in the code: {_first_line(block.search)!r}")
    if len(hits) > 1:
        raise AnswerError(f"a SEARCH block matches {len(hits)} places: {_first_line(block.search)!r}")
    i, j = hits[0]
    have_indent = _indent(lines[i])
    quoted = next(ln for ln in block.search.splitlines() if ln.strip())
    shift = len(have_indent) - len(_indent(quoted))
    replace = _shift(block.replace, shift, have_indent[:1] or " ")
    if replace and not replace.endswith("\n") and lines[j - 1].endswith("\n"):
        replace += "\n"
    return "".join(lines[:i]) + replace + "".join(lines[j:])


def replacement_text(answer: str, region: str, stop_reason: str = "") -> str:
    """The new text of `region` according to the model's `answer`.

    Search/replace blocks win when present; else the longest complete fenced
    code block is the new region.
    """
    blocks = search_replace_blocks(answer)
    if blocks:
        return apply_search_replace(region, blocks)
    fenced = code_blocks(answer)
    closed = [b for b in fenced if b.closed]
    if closed:
        return max(closed, key=lambda b: len(b.code)).code
    if fenced and fenced[-1].code.strip():
        if stop_reason == "length":
            raise AnswerError("the model's answer was cut off before the code block ended "
                              "(raise actions.maxTokens or select less code)")
        return fenced[-1].code
    raise AnswerError("the model's answer contains no code block or search/replace block")


def _first_line(s: str) -> str:
    for line in s.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _shift(text: str, shift: int, unit: str) -> str:
    if shift == 0:
        return text
    out = []
    for line in text.splitlines(keepends=True):
        if not line.strip():
            out.append(line)
        elif shift > 0:
            out.append(unit * shift + line)
        else:
            n = min(-shift, len(_indent(line)))
            out.append(line[n:])
    return "".join(out)

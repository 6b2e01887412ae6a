"""Turn raw model output into a suggestion a user can accept without repair.

Language-independent rules that work from indentation and brackets; the
syntax-aware rules (tree-sitter) build on these in completion/syntax_rules.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSERS = ")]}>\"'`;,"
OPENERS = {"(": ")", "[": "]", "{": "}"}
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then")


def indent_width(line: str) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4
        else:
            break
    return width


@dataclass(frozen=True)
class Shape:
    """What kind of suggestion fits at the cursor."""

    multiline: bool
    # Lines of the suggestion after the first must be indented at least this much.
    min_indent: int
    # The block opened on the cursor line may be closed by one line at this indent.
    closer_indent: int | None


def cut_to_shape(text: str, shape: Shape, *, first_line_indent: int | None = None) -> tuple[str, bool]:
    """Cut `text` where it leaves the unit it started in.

    Returns the kept text and whether the cut happened (so a streaming caller
    can stop generating).
    """
    if not shape.multiline:
        idx = text.find("\n")
        if idx < 0:
            return text, False
        if text[:idx].strip():
            return text[:idx], True
        # The line is finished (the model ends it first): suggest what comes next,
        # as a block at this line's indentation.
        return cut_to_shape(text, Shape(True, shape.min_indent, None))
    lines = text.split("\n")
    kept = [lines[0]]
    min_indent = shape.min_indent
    closer = shape.closer_indent
    if first_line_indent is not None and not lines[0].strip():
        min_indent = max(min_indent, first_line_indent)
    # The first line may itself open a block: its body must be deeper.
    if shape.closer_indent is None and lines[0].rstrip().endswith(BLOCK_OPENERS):
        closer = min_indent
        min_indent += 1
    blank_run = 0
    for line in lines[1:]:
        if not line.strip():
            blank_run += 1
            if blank_run >= 2:
                return "\n".join(kept).rstrip("\n \t"), True
            kept.append(line)
            continue
        blank_run = 0
        ind = indent_width(line)
        if ind < min_indent:
            if closer is not None and ind == closer and line.strip()[0] in ")]}" :
                kept.append(line)
                return "\n".join(kept), True
            if closer is not None and ind == closer and line.strip() in ("end", "fi", "done", "esac"):
                kept.append(line)
                return "\n".join(kept), True
            return _trim_trailing_blank("\n".join(kept)), True
        kept.append(line)
    return "\n".join(kept), False


def _trim_trailing_blank(text: str) -> str:
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def remove_suffix_overlap(text: str, suffix: str) -> str:
    """Drop what the suggestion repeats of the text after the cursor."""
    line_suffix = suffix.split("\n", 1)[0].rstrip("\r")
    rest = line_suffix.strip()
    if "\n" not in text and rest:
        # Mid-line: the model often re-types the closers that follow the cursor.
        stripped = text.rstrip()
        if stripped.endswith(rest):
            return stripped[: len(stripped) - len(rest)]
        i = 0
        while stripped and i < len(rest) and rest[i] in CLOSERS and stripped.endswith(rest[: i + 1]):
            i += 1
        if i:
            return stripped[: len(stripped) - i]
        return text
    lines = text.split("\n")
    last = lines[-1].strip()
    if "\n" in text and rest and last and rest.startswith(last) and all(ch in CLOSERS for ch in last):
        # `{|}`: the suggestion's last line closes the block with the closers that already
        # follow the cursor; keep its line break and indentation so they land on their own
        # line (`{⏎    body⏎}`), drop the repeated closers
        return text[: len(text) - len(lines[-1].lstrip())]
    # Multi-line: stop where the suggestion starts repeating the following lines.
    following = [ln.strip() for ln in suffix.split("\n")[1:] if ln.strip()][:3]
    if not following:
        return text
    for i in range(1, len(lines)):
        window = [ln.strip() for ln in lines[i:] if ln.strip()][: len(following)]
        if window and window == following[: len(window)] and len(window) >= min(2, len(following)):
            return _trim_trailing_blank("\n".join(lines[:i])).rstrip()
    if len(lines) > 1 and lines[-1].strip() and lines[-1].strip() == following[0] and len(following) == 1:
        return _trim_trailing_blank("\n".join(lines[:-1])).rstrip()
    return text


@dataclass(frozen=True)
class Finished:
    """A finished generation after each step, so callers can count what each step removed."""

    shaped: str  # after the cut to the unit (and trailing whitespace)
    text: str  # the suggestion ("" for none)

    @property
    def overlap_removed(self) -> bool:
        return self.text != self.shaped


def finish_steps(raw: str, shape: Shape, suffix: str) -> Finished:
    """`finish`, keeping what each step left."""
    text, _ = cut_to_shape(raw, shape)
    # trailing whitespace goes before the overlap check, which may leave a line break
    # and indentation on purpose (before closers the suffix has)
    shaped = text.rstrip() if "\n" in text else text.rstrip("\r\n")
    text = remove_suffix_overlap(shaped, suffix)
    return Finished(shaped if shaped.strip() else "", text if text.strip() else "")


def finish(raw: str, shape: Shape, suffix: str) -> str:
    """The full pipeline for a finished generation."""
    return finish_steps(raw, shape, suffix).text

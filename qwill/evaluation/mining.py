"""Evaluation cases mined from a repository's own files, with tree-sitter.

Three kinds, all plain data and all chosen deterministically from a seed:

- `Hole` (fill-in-the-middle): the rest of a line from a token boundary inside a
  function ("line"), or the rest of a short function body from its first
  statement ("block"). The document is shown with the hole cut out, the cursor
  where it was; the hidden text is the truth.
- `TypingSite` (typing trace): the first lines of a function body, cleared and
  then typed again keystroke by keystroke; at each keystroke the truth is what
  the file really holds from the cursor on.

Files come from the same walk the workspace index uses (gitignore, vendored and
generated files skipped), so the cases are the user's own code.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..context.languages import FUNCTION_LIKE, language_for
from ..context.syntax import MAX_PARSE_CHARS, Scope, SyntaxTree, definitions, enclosing_scopes, scope_facts
from ..context.workspace_index import WorkspaceIndex

MAX_FILE_CHARS = 400_000  # a bigger file is generated or data, not code someone types
MIN_FILE_LINES = 5
LINE_MIN, LINE_MAX = 12, 120  # stripped length of a line worth a single-line hole
BLOCK_MIN_LINES, BLOCK_MAX_LINES = 2, 8
TRUTH_CHARS = 400  # how far the truth of a typing keystroke reaches

_TOKEN_BOUNDARY = re.compile(r"(?<=[\w)\]}'\"])(?=[^\w])|(?<=[^\w\s])(?=[\w])|(?<=\s)(?=\S)")
_SKIP_LINE = ("#", "//", "*", "/*", "import ", "from ", "\"", "'", "`", "@", "--")


_T = TypeVar("_T")


class MiningError(ValueError):
    """The path cannot be evaluated (the message says why, for the user)."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str  # relative to the root, with forward slashes
    language: str  # tree-sitter language name (python, typescript, tsx, ...)
    text: str


@dataclass(frozen=True)
class Hole:
    """Text hidden from a file; a completion at `offset` should produce `target`."""

    id: str
    path: str  # relative path
    language: str
    kind: str  # "line" or "block"
    offset: int  # the cursor, in characters of the original text (and of the shown one)
    end: int  # end of the hidden text in the original
    target: str

    def shown(self, text: str) -> str:
        """The document as the editor holds it: `text` without the hidden part."""
        return text[:self.offset] + text[self.end:]


@dataclass(frozen=True)
class TypingSite:
    """Text the user types at `offset` of a document that lacks it."""

    id: str
    path: str
    language: str
    offset: int  # where typing starts (same in the original and the cleared text)
    typed: str  # the characters typed, in order
    truth: str  # what the original holds from `offset` on (at least `typed`)

    def cleared(self, text: str) -> str:
        return text[:self.offset] + text[self.offset + len(self.typed):]

    def truth_after(self, n: int) -> str:
        """What the user goes on to type after the first `n` characters."""
        return self.truth[n:]


@dataclass(frozen=True)
class Corpus:
    root: Path
    files: tuple[SourceFile, ...]

    @property
    def languages(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.language] = out.get(f.language, 0) + 1
        return dict(sorted(out.items()))

    def file(self, rel: str) -> SourceFile:
        return next(f for f in self.files if f.rel == rel)


def find_sources(root: Path, languages: Sequence[str] = (), max_files: int = 5000) -> Corpus:
    """The source files under `root` that Qwill parses (optionally only `languages`).

    MiningError when `root` is not a directory or holds no such file.
    """
    root = root.expanduser()
    if not root.is_dir():
        raise MiningError(f"{root} is not a directory")
    root = root.resolve()
    wanted = {x.lower() for x in languages}
    files: list[SourceFile] = []
    for path in WorkspaceIndex().walk([root]):
        spec = language_for("", path.name)
        if spec is None or (wanted and spec.name not in wanted):
            continue
        try:
            if path.stat().st_size > MAX_FILE_CHARS * 4:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) > min(MAX_FILE_CHARS, MAX_PARSE_CHARS) or text.count("\n") < MIN_FILE_LINES:
            continue
        files.append(SourceFile(path, path.relative_to(root).as_posix(), spec.name, text.replace("\r\n", "\n")))
        if len(files) >= max_files:
            break
    if not files:
        which = f" in {', '.join(sorted(wanted))}" if wanted else ""
        raise MiningError(f"no supported source files{which} under {root} "
                          "(Python, TypeScript, JavaScript, Go, Rust, Java, C/C++, C#, Ruby, PHP, shell, Lua)")
    return Corpus(root, tuple(files))


# -- what a file offers -----------------------------------------------------------------

def _functions(tree: SyntaxTree) -> list[Scope]:
    """Every function or method of the file, as scopes (with their body's start)."""
    out: list[Scope] = []
    seen: set[tuple[int, int]] = set()
    for d in definitions(tree, with_snippets=False):
        if d.kind not in FUNCTION_LIKE or d.end <= d.start:
            continue
        for s in reversed(enclosing_scopes(tree, max(d.start, d.end - 1))):
            if s.kind in FUNCTION_LIKE and s.start <= d.start < s.end and (s.start, s.end) not in seen:
                seen.add((s.start, s.end))
                out.append(s)
                break
    return out


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _code_line(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith(_SKIP_LINE)


def _body_lines(text: str, starts: list[int], fn: Scope) -> tuple[int, int] | None:
    """First and last line index of a function's body statements (braces excluded)."""
    if fn.body_start is None:
        return None
    head = _line_of(starts, fn.start)
    first = _line_of(starts, fn.body_start)
    last = _line_of(starts, max(fn.start, fn.end - 1))
    lines = text.split("\n")
    if text[fn.body_start:fn.body_start + 1] == "{" or first == head:
        first = max(first, head) + 1
        if lines[last].strip().startswith("}"):
            last -= 1
        elif text[max(0, fn.end - 1):fn.end] == "}":
            return None  # body closes on a code line: not a clean block
    while first <= last and not lines[first].strip():
        first += 1
    if first > last or first <= head:
        return None
    return first, last


@dataclass(frozen=True)
class _Candidates:
    line: list[Hole]
    block: list[Hole]
    sites: list[TypingSite]


def _mine_file(f: SourceFile, lines_typed: int, seed: int) -> _Candidates:
    spec = language_for(f.language)
    rng = random.Random(f"qwill-eval:{seed}:{f.rel}")
    if spec is None:
        return _Candidates([], [], [])
    text = f.text
    tree = SyntaxTree(spec, text)
    starts = _line_starts(text)
    lines = text.split("\n")
    line_holes: list[Hole] = []
    blocks: list[Hole] = []
    sites: list[TypingSite] = []
    for fn in _functions(tree):
        span = _body_lines(text, starts, fn)
        if span is None:
            continue
        first, last = span
        # skip a docstring or leading comments: the first statement that is code
        k = first
        while k <= last:
            off = starts[k] + len(lines[k]) - len(lines[k].lstrip())
            facts = scope_facts(tree, text, off)
            if _code_line(lines[k]) and not facts.in_string and not facts.in_comment:
                break
            k += 1
        if k > last:
            continue
        inner = [s for s in enclosing_scopes(tree, starts[k] + len(lines[k]) - len(lines[k].lstrip()))
                 if s.kind in FUNCTION_LIKE]
        if not inner or inner[-1].start != fn.start:
            continue  # the statement belongs to a nested function; it has its own turn
        indent = len(lines[k]) - len(lines[k].lstrip())
        cursor = starts[k] + indent
        # block: from the first statement to the end of the body
        n_code = sum(1 for ln in lines[k:last + 1] if ln.strip())
        if BLOCK_MIN_LINES <= n_code <= BLOCK_MAX_LINES:
            end = starts[last] + len(lines[last])
            target = text[cursor:end]
            blocks.append(Hole(f"{f.rel}:{k + 1}:block", f.rel, f.language, "block", cursor, end, target))
        # typing: the first lines of the body, typed again
        typed_end_line = k
        while typed_end_line < min(last, k + lines_typed - 1) and lines[typed_end_line + 1].strip():
            typed_end_line += 1
        t_end = starts[typed_end_line] + len(lines[typed_end_line])
        typed = text[cursor:t_end]
        if len(typed.strip()) >= 8:
            truth_end = min(len(text), max(t_end, starts[last] + len(lines[last])), cursor + TRUTH_CHARS)
            sites.append(TypingSite(f"{f.rel}:{k + 1}:typing", f.rel, f.language, cursor, typed,
                                    text[cursor:max(truth_end, t_end)]))
        # single lines: each code line of the body, cut at token boundaries
        for i in range(k, last + 1):
            line = lines[i]
            stripped = line.strip()
            if not (LINE_MIN <= len(stripped) <= LINE_MAX) or not _code_line(line):
                continue
            ind = len(line) - len(line.lstrip())
            facts = scope_facts(tree, text, starts[i] + ind)
            if facts.in_string or facts.in_comment or facts.function is None or facts.function.start != fn.start:
                continue
            rstripped = len(line.rstrip())
            cuts = [m.start() for m in _TOKEN_BOUNDARY.finditer(line) if ind < m.start() < rstripped - 2]
            if not cuts:
                continue
            c = rng.choice(cuts[: len(cuts) // 2 + 1])  # early in the line: something to predict
            line_holes.append(Hole(f"{f.rel}:{i + 1}:{c + 1}", f.rel, f.language, "line", starts[i] + c,
                                   starts[i] + rstripped, line[c:rstripped]))
    return _Candidates(line_holes, blocks, sites)


def _round_robin(groups: Sequence[Sequence[_T]], n: int, rng: random.Random) -> list[_T]:
    """Up to `n` items, one random item from each group in turn (so one big file does not
    fill the sample)."""
    pools = [list(g) for g in groups if g]
    for p in pools:
        rng.shuffle(p)
    out: list[_T] = []
    while pools and len(out) < n:
        for p in list(pools):
            if len(out) >= n:
                break
            out.append(p.pop())
            if not p:
                pools.remove(p)
    return out


@dataclass(frozen=True)
class CaseSet:
    holes: tuple[Hole, ...]
    sites: tuple[TypingSite, ...]
    files_mined: int


def mine(corpus: Corpus, *, seed: int = 0, max_holes: int = 40, block_share: float = 0.3,
         max_sites: int = 8, max_keystrokes: int = 200, lines_typed: int = 2) -> CaseSet:
    """Holes and typing sites from `corpus`, the same for the same seed and files.

    Languages share the sample evenly; within a language, files take turns.
    """
    rng = random.Random(f"qwill-eval:{seed}")
    order = list(corpus.files)
    rng.shuffle(order)
    by_lang: dict[str, list[SourceFile]] = {}
    for f in order:
        by_lang.setdefault(f.language, []).append(f)
    langs = sorted(by_lang)
    holes: list[Hole] = []
    sites: list[TypingSite] = []
    mined = 0
    want_holes = _shares(max_holes, len(langs))
    want_sites = _shares(max_sites, len(langs))
    for lang, n_holes, n_sites in zip(langs, want_holes, want_sites, strict=True):
        n_block = round(n_holes * block_share)
        n_line = n_holes - n_block
        per_file: list[_Candidates] = []
        line_count = block_count = site_count = 0
        for f in by_lang[lang]:
            c = _mine_file(f, lines_typed, seed)
            mined += 1
            per_file.append(c)
            line_count += bool(c.line)
            block_count += bool(c.block)
            site_count += bool(c.sites)
            # enough different files for every kind: stop reading (a big repository stays cheap)
            if line_count >= 3 * max(n_line, 1) and block_count >= 3 * max(n_block, 1) and (
                    site_count >= 3 * max(n_sites, 1)):
                break
        lrng = random.Random(f"qwill-eval:{seed}:{lang}")
        blocks = _round_robin([c.block for c in per_file], n_block, lrng)
        lines_ = _round_robin([c.line for c in per_file], n_holes - len(blocks), lrng)
        holes.extend(lines_ + blocks)
        picked = _round_robin([c.sites for c in per_file], n_sites, lrng)
        sites.extend(picked)
    # the keystroke budget, shared in the sites' order
    kept: list[TypingSite] = []
    total = 0
    for s in sites:
        if total >= max_keystrokes:
            break
        room = max_keystrokes - total
        if len(s.typed) > room:
            s = TypingSite(s.id, s.path, s.language, s.offset, s.typed[:room], s.truth)
        kept.append(s)
        total += len(s.typed)
    return CaseSet(tuple(holes), tuple(kept), mined)


def _shares(n: int, parts: int) -> list[int]:
    if parts == 0:
        return []
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def position_of(text: str, offset: int) -> tuple[int, int]:
    """(line, UTF-16 column) of a character offset, as LSP counts by default."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text.count("\n", 0, line_start)
    col = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text[line_start:offset])
    return line, col


def languages_of(items: Iterable[Hole | TypingSite]) -> list[str]:
    return sorted({i.language for i in items})

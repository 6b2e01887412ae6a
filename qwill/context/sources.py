"""Context sources: each turns the situation at the cursor into ranked candidates.

A `Candidate` is a piece of code a model may see ahead of the local window,
with a score in [0, ~1.5], a reason a person can read (`qwill complete
--explain`), and a stable key so the same piece keeps its place in the prompt
across keystrokes (the KV cache keeps what did not move). The provider
(`qwill.context.provider`) puts them under one token budget.

Sources:
- `definition_candidates`: definitions of names used or imported near the
  cursor, resolved through the workspace index (any file, this one included
  when the definition is outside the window).
- `scope_candidates`: the enclosing class outline and function header when
  they are above the window.
- `recent_edit_candidates`: regions edited recently (`RecentEdits` ring
  buffer), minus what the window already shows.
- `similar_candidates`: chunks of other open documents whose identifier sets
  are close (Jaccard) to the code just before the cursor.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from .document import AppliedEdit, TextDocument
from .syntax import ScopeFacts, SyntaxTree, outline
from .workspace_index import Symbol, WorkspaceIndex

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
# Lines that import something, found in one pass over the file (a multi-line
# `import { a, b } from "x"` counts through its first line's names and the
# names used near the cursor).
_IMPORT_LINES = re.compile(
    r"^[ \t]*(?:from[ \t]+\S+[ \t]+import\b|import\b|export\b[^\n]*\bfrom\b|use\b|using\b"
    r"|#[ \t]*include\b|require\b)[^\n]*"
    r"|^[^\n]*\b(?:require|import)[ \t]*\([^\n]*", re.M)

# Names too common to be worth a lookup.
_STOP = frozenset("""
self this cls super None True False null nil true false undefined return if else elif for while in
is not and or def class function func fn let const var new import from as with try except finally
raise throw catch pass break continue yield async await lambda static public private protected
void int str float bool string number any object list dict set tuple len print range type end
do then local package struct interface impl pub mut use mod match case default switch enum
""".split())


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (code runs ~3.5 characters a token on BPE vocabularies)."""
    return max(1, math.ceil(len(text) / 3.5))


@dataclass(frozen=True)
class Candidate:
    source: str  # "definitions", "scope", "recent-edits", "similar"
    key: str  # stable identity across keystrokes
    path: str  # shown in the prompt's file header
    text: str
    score: float
    reason: str
    line: int = 0  # first line in its file, to order pieces of one file

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class Situation:
    """Where the cursor is: the request, its window (offsets), and its document's facts."""

    uri: str
    path: str | None
    text: str
    offset: int
    window_start: int
    window_end: int
    facts: ScopeFacts
    tree: SyntaxTree | None = None

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset)

    @property
    def cursor_line(self) -> int:
        return self.line_of(self.offset)

    @property
    def window_lines(self) -> tuple[int, int]:
        return self.line_of(self.window_start), self.line_of(max(self.window_start, self.window_end - 1))


def display_path(path: str | None, roots: Sequence[str] = ()) -> str:
    """A path as the prompt shows it: relative to its workspace root when inside one."""
    if not path:
        return "untitled"
    p = PurePath(path)
    for root in roots:
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def identifiers(text: str) -> set[str]:
    return {m for m in _IDENT.findall(text) if len(m) > 1 and m not in _STOP}


# -- definitions -----------------------------------------------------------------

_KIND_WEIGHT = {"class": 1.0, "interface": 1.0, "struct": 1.0, "trait": 1.0, "enum": 0.9, "type": 0.9,
                "function": 1.0, "method": 0.85, "constant": 0.8, "variable": 0.6, "module": 0.5,
                "namespace": 0.4, "impl": 0.5}


def _names_near_cursor(s: Situation, lines_before: int = 12, lines_after: int = 3) -> dict[str, tuple[float, int]]:
    """name -> (weight, distance in lines) for identifiers around the cursor; imported ones weigh
    more. Only names used near the cursor count: definitions of names the code being written
    does not touch are noise a small model copies from (measured: benchmarks/fim_quality.py)."""
    text, cur = s.text, s.offset
    start = cur
    for _ in range(lines_before):
        prev = text.rfind("\n", 0, max(0, start - 1))
        if prev < 0:
            start = 0
            break
        start = prev + 1
    end = cur
    for _ in range(lines_after + 1):
        nxt = text.find("\n", end + 1)
        if nxt < 0:
            end = len(text)
            break
        end = nxt
    cursor_line = s.cursor_line
    imported: set[str] = set()
    for m in _IMPORT_LINES.finditer(text):
        imported |= identifiers(m.group(0))
    out: dict[str, tuple[float, int]] = {}
    base_line = s.line_of(start)
    for i, line in enumerate(text[start:end].split("\n")):
        dist = abs(base_line + i - cursor_line)
        weight = 1.0 / (1.0 + dist / 6.0)
        for m in _IDENT.finditer(line):
            name = m.group(0)
            if len(name) < 2 or name in _STOP or not _resolvable(line, m.start(), imported):
                continue
            if name not in out or out[name][0] < weight:
                out[name] = (weight, dist)
    # Imported names: the file says it depends on them.
    for name in imported & out.keys():
        w, d = out[name]
        out[name] = (min(1.2, w + 0.35), d)
    return out


_RECEIVER = re.compile(r"([A-Za-z_$][A-Za-z0-9_$]*)\s*(?:\.|::|->)\s*$")


def _resolvable(line: str, at: int, imported: set[str]) -> bool:
    """Whether the name at `at` can be looked up by name alone: a bare name, or an attribute
    of `self`/`this` or of an imported module. `obj.name` on anything else could be any
    type's member (`.append`, `.write`): a workspace definition of that name is more often
    wrong than right, and a small model copies it (measured: benchmarks/fim_quality.py)."""
    before = line[:at]
    if not before.rstrip().endswith((".", "::", "->")):
        return True
    m = _RECEIVER.search(before)
    return m is not None and (m.group(1) in ("self", "this", "cls", "Self") or m.group(1) in imported)


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 <= b1 and b0 <= a1


def _with_container(sym: Symbol, index: WorkspaceIndex, language: str | None) -> str:
    """A method shown inside its class header, so the model knows where it lives."""
    if not sym.container or sym.kind != "method":
        return sym.snippet
    owner = next((c for c in index.symbols_in(sym.path) if c.name == sym.container
                  and c.line <= sym.line <= c.end_line), None)
    if owner is None:
        return sym.snippet
    header = owner.signature.splitlines()[0] if owner.signature else ""
    if not header:
        return sym.snippet
    if sym.path.endswith((".py", ".pyi", ".rb")) or language in ("python", "ruby"):
        return f"{header}\n{sym.snippet}"
    return f"{header} {{\n{sym.snippet}\n}}"


def definition_candidates(s: Situation, index: WorkspaceIndex, roots: Sequence[str] = (),
                          *, max_names: int = 40, per_name: int = 2) -> list[Candidate]:
    names = _names_near_cursor(s)
    ranked = sorted(names.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))[:max_names * 3]
    here = s.path and PurePath(s.path).as_posix()
    win_lo, win_hi = s.window_lines
    enclosing = {(sc.name, s.line_of(sc.start)) for sc in s.facts.scopes}
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    looked = 0
    for name, (weight, dist) in ranked:
        if looked >= max_names:
            break
        symbols = index.lookup(name)
        if not symbols:
            continue
        looked += 1
        visible = [sym for sym in symbols if sym.path == here and _overlaps(sym.line, sym.end_line, win_lo, win_hi)]
        if visible and len(visible) == len(symbols):
            continue  # the model already sees it
        if any(sym.path == here and (sym.name, sym.line) in enclosing for sym in symbols):
            continue  # the scope we are in: the scope source covers it
        pool = [sym for sym in symbols if sym not in visible]

        def locality(sym: Symbol) -> float:
            if sym.path == here:
                return 1.0
            if here and PurePath(sym.path).parent == PurePath(here).parent:
                return 0.9
            return 0.8

        pool.sort(key=lambda sym: (-locality(sym), sym.path, sym.line))
        ambiguity = 1.0 / math.sqrt(len(symbols))
        for sym in pool[:per_name]:
            ident = (sym.path, sym.line)
            if ident in seen or not sym.snippet:
                continue
            seen.add(ident)
            score = weight * _KIND_WEIGHT.get(sym.kind, 0.6) * locality(sym) * ambiguity
            where = "on the cursor line" if dist == 0 else f"used {dist} line{'s' if dist != 1 else ''} away"
            out.append(Candidate(
                "definitions", f"def:{sym.path}:{sym.line}:{sym.name}", display_path(sym.path, roots),
                _with_container(sym, index, s.facts.language), round(score, 4),
                f"{sym.kind} `{sym.name}` ({where}), defined at line {sym.line + 1}", sym.line))
    return out


# -- scopes -----------------------------------------------------------------------

def scope_candidates(s: Situation, roots: Sequence[str] = ()) -> list[Candidate]:
    """The outermost class-like scope and the innermost function, when their headers are
    above the window (otherwise the model sees them already)."""
    if s.tree is None or not s.facts.scopes:
        return []
    parts: list[str] = []
    reasons: list[str] = []
    first_line = None
    container = next((sc for sc in s.facts.scopes if sc.kind not in ("function", "method")), None)
    if container is not None and container.start < s.window_start:
        parts.append(outline(s.tree, container))
        reasons.append(f"outline of {container.kind} `{container.name}`")
        first_line = s.line_of(container.start)
    fn = s.facts.function
    if fn is not None and fn.start < s.window_start and (container is None or fn.start > container.start):
        line = s.text[s.text.rfind("\n", 0, fn.start) + 1:fn.start]
        indent = line if not line.strip() else ""
        sig = indent + fn.signature
        if not parts or sig.strip() not in parts[0]:
            parts.append(sig)
        reasons.append(f"header of {fn.kind} `{fn.name}`")
        first_line = first_line if first_line is not None else s.line_of(fn.start)
    if not parts:
        return []
    key_scope = container or fn
    assert key_scope is not None
    return [Candidate("scope", f"scope:{s.path}:{key_scope.name}:{s.line_of(key_scope.start)}",
                      display_path(s.path, roots), "\n".join(parts), 0.95,
                      "; ".join(reasons) + " (above the window)", first_line or 0)]


# -- recent edits ----------------------------------------------------------------

@dataclass
class _EditRegion:
    uri: str
    lo: int
    hi: int
    seq: int


class RecentEdits:
    """A ring buffer of recently edited line ranges, merged when they touch, shifted
    when lines are inserted or removed above them."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._regions: list[_EditRegion] = []
        self._seq = 0

    def on_change(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        """A DocumentStore listener."""
        for e in edits:
            if e.start == 0 and e.old_text == "" and e.new_end == len(doc.text):
                continue  # didOpen (or a whole-text replacement of an empty buffer)
            self.record(doc, e)

    def record(self, doc: TextDocument, e: AppliedEdit) -> None:
        text_before_start = doc.text[:e.start]
        line = text_before_start.count("\n")
        added = e.new_text.count("\n") - e.old_text.count("\n")
        for r in self._regions:
            if r.uri == doc.uri and r.lo > line:
                r.lo = max(line, r.lo + added)
                r.hi = max(r.lo, r.hi + added)
        self._seq += 1
        lo, hi = line, line + max(0, e.new_text.count("\n"))
        for r in self._regions:
            if r.uri == doc.uri and lo <= r.hi + 2 and r.lo - 2 <= hi:
                r.lo, r.hi, r.seq = min(r.lo, lo), max(r.hi, hi), self._seq
                break
        else:
            self._regions.append(_EditRegion(doc.uri, lo, hi, self._seq))
        self._regions.sort(key=lambda r: -r.seq)
        del self._regions[self.capacity:]

    def forget(self, uri: str) -> None:
        self._regions = [r for r in self._regions if r.uri != uri]

    def regions(self) -> list[tuple[str, int, int]]:
        """(uri, first line, last line), most recent first."""
        return [(r.uri, r.lo, r.hi) for r in self._regions]


def recent_edit_candidates(s: Situation, edits: RecentEdits, docs: Iterable[TextDocument],
                           paths: dict[str, str | None], roots: Sequence[str] = (),
                           *, context_lines: int = 2, max_lines: int = 14) -> list[Candidate]:
    by_uri = {d.uri: d for d in docs}
    win_lo, win_hi = s.window_lines
    out: list[Candidate] = []
    for rank, (uri, lo, hi) in enumerate(edits.regions()):
        if uri == s.uri and _overlaps(lo, hi, win_lo, win_hi):
            continue  # the window shows it
        doc = by_uri.get(uri)
        if doc is None:
            continue
        text = s.text if uri == s.uri else doc.text
        lines = text.split("\n")
        a = max(0, lo - context_lines)
        b = min(len(lines), hi + context_lines + 1, a + max_lines)
        if uri == s.uri and _overlaps(a, b - 1, win_lo, win_hi):
            # keep only the part the window does not show
            if a < win_lo:
                b = win_lo
            else:
                a = win_hi + 1
        if a >= b:
            continue
        snippet = "\n".join(lines[a:b]).strip("\n")
        if not snippet.strip():
            continue
        score = 0.75 * (0.85 ** rank)
        out.append(Candidate(
            "recent-edits", f"edit:{uri}:{lo}", display_path(paths.get(uri), roots), snippet,
            round(score, 4), f"edited lines {lo + 1}-{hi + 1} (#{rank + 1} most recent)", a))
    return out


# -- similar snippets ---------------------------------------------------------------

def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class ChunkCache:
    """Identifier sets of line chunks per (document, version)."""

    def __init__(self, size: int = 64) -> None:
        self._cache: OrderedDict[tuple[str, int, int], list[tuple[int, set[str]]]] = OrderedDict()
        self.size = size

    def chunks(self, doc: TextDocument, chunk: int, stride: int) -> list[tuple[int, set[str]]]:
        key = (doc.uri, doc.version, hash(doc.text))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        lines = doc.text.split("\n")
        out = [(i, identifiers("\n".join(lines[i:i + chunk]))) for i in range(0, max(1, len(lines) - stride), stride)]
        self._cache[key] = out
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return out


def similar_candidates(s: Situation, docs: Iterable[TextDocument], paths: dict[str, str | None],
                       cache: ChunkCache, roots: Sequence[str] = (), *, chunk: int = 12, stride: int = 6,
                       query_lines: int = 12, threshold: float = 0.2, top: int = 3) -> list[Candidate]:
    start = s.offset
    for _ in range(query_lines):
        prev = s.text.rfind("\n", 0, max(0, start - 1))
        start = 0 if prev < 0 else prev + 1
        if start == 0:
            break
    query = identifiers(s.text[start:s.offset])
    if len(query) < 3:
        return []
    scored: list[tuple[float, str, int, TextDocument]] = []
    for doc in docs:
        if doc.uri == s.uri or len(doc.text) > 1_000_000:
            continue
        for line, ids in cache.chunks(doc, chunk, stride):
            j = jaccard(query, ids)
            if j >= threshold:
                scored.append((j, doc.uri, line, doc))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    out: list[Candidate] = []
    taken: dict[str, list[int]] = {}
    for j, uri, line, doc in scored:
        if any(abs(line - other) < chunk for other in taken.get(uri, ())):
            continue  # overlapping chunks of one place
        taken.setdefault(uri, []).append(line)
        text = "\n".join(doc.text.split("\n")[line:line + chunk]).strip("\n")
        out.append(Candidate("similar", f"sim:{uri}:{line}", display_path(paths.get(uri), roots), text,
                             round(min(1.0, j * 1.5), 4),
                             f"shares {j:.0%} of identifiers with the code before the cursor (lines {line + 1}-{line + chunk})",
                             line))
        if len(out) >= top:
            break
    return out

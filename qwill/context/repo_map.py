"""A compact map of a repository for a model: where things are defined, the most
used first, within a token budget.

Definitions come from the tree-sitter tag queries (`qwill.context.syntax`); each
is ranked by how often its name is referenced in other files (and, less, in its
own), so a model sees the names a change is most likely to touch. Files are
listed in rank order with their definitions' signatures, methods under their
class; files without definitions (docs, configuration) are named at the end.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .languages import language_for
from .sources import estimate_tokens
from .syntax import MAX_PARSE_CHARS, Definition, SyntaxTree, definitions

_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_KINDS_SHOWN = {"class", "interface", "struct", "trait", "enum", "type", "function", "method", "constant",
                "module", "impl", "macro"}
_MAX_FILE_CHARS = 200_000


@dataclass(frozen=True)
class MappedFile:
    path: str
    rank: float
    lines: tuple[str, ...]  # rendered definitions, in document order


def _file_definitions(path: str, text: str) -> list[Definition]:
    spec = language_for("", path)
    if spec is None or len(text) > MAX_PARSE_CHARS:
        return []
    try:
        return definitions(SyntaxTree(spec, text), with_snippets=False)
    except Exception:  # a grammar problem costs this file's entries, not the map
        return []


def _signature(d: Definition) -> str:
    sig = " ".join(d.signature.split())
    return sig[:120] if sig else f"{d.kind} {d.name}"


def build_repo_map(files: Iterable[str], read: Callable[[str], str | None], *,
                   token_budget: int = 1024) -> str:
    """The map of `files` (workspace-relative paths; `read` gives a file's text or None),
    at most about `token_budget` tokens."""
    texts: dict[str, str] = {}
    for rel in files:
        text = read(rel)
        if text is None or len(text) > _MAX_FILE_CHARS or "\x00" in text[:1000]:
            continue
        texts[rel] = text
    per_file_idents = {rel: Counter(_IDENT.findall(text)) for rel, text in texts.items()}
    total = Counter[str]()
    for counts in per_file_idents.values():
        total.update(counts)

    mapped: list[MappedFile] = []
    plain: list[str] = []
    for rel, text in texts.items():
        defs = [d for d in _file_definitions(rel, text) if d.kind in _KINDS_SHOWN and d.name]
        if not defs:
            plain.append(rel)
            continue
        own = per_file_idents[rel]
        rank = 0.0
        lines = []
        for d in defs:
            elsewhere = total[d.name] - own[d.name]
            rank += 1.0 + elsewhere + 0.25 * max(0, own[d.name] - 1)
            indent = "  " if d.container else ""
            lines.append(f"  {indent}{_signature(d)}")
        mapped.append(MappedFile(rel, rank, tuple(lines)))
    mapped.sort(key=lambda m: (-m.rank, m.path))

    out: list[str] = []
    used = 0
    left_out: list[str] = []
    for m in mapped:
        block = "\n".join((f"{m.path}:", *m.lines))
        cost = estimate_tokens(block)
        if used + cost > token_budget:
            # a file whose definitions do not fit is still named
            left_out.append(m.path)
            continue
        out.append(block)
        used += cost
    names = sorted(plain) + left_out
    tail = ""
    if names:
        shown: list[str] = []
        for name in names:
            cost = estimate_tokens(name) + 1
            if used + cost > token_budget:
                shown.append(f"... {len(names) - len(shown)} more")
                break
            shown.append(name)
            used += cost
        tail = "Other files: " + ", ".join(shown)
    return "\n".join([*out, tail] if tail else out)

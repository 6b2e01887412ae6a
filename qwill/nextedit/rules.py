"""Rules a prediction must pass before anyone sees it.

A prediction is dropped, with the reason, when it
- changes nothing;
- undoes the user's last edit (the text they replaced comes back);
- touches text outside the editable region, or repeats the context around it (the
  model copied the lines above or below the region into it);
- makes the file parse worse: more tree-sitter ERROR/MISSING nodes than now (files in
  languages Qwill does not parse are not checked);
- deletes most of the region (half its lines or more: a truncated or empty answer);
- was cut off (the model ran out of tokens before the region's end).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context.languages import LanguageSpec
from ..context.syntax import SyntaxTree, syntax_errors
from ..context.text_diff import common_ends
from .diffs import TextEdit, apply_edits
from .region import Region


@dataclass(frozen=True)
class Rejection:
    rule: str  # "no-op", "undo", "outside-region", "parse", "cut-off", "format"
    reason: str


def check(text: str, region: Region, edits: list[TextEdit], *, last_before: str | None,
          last_after: str | None, spec: LanguageSpec | None, new_region: str,
          above: str = "", below: str = "") -> Rejection | None:
    """The first rule `edits` (on `text`, inside `region`) break, or None."""
    if not edits:
        return Rejection("no-op", "the prediction changes nothing")
    for e in edits:
        if e.start < region.start or e.end > region.end:
            return Rejection("outside-region", "the prediction edits text outside the editable region")
    old_lines = region.text(text).count("\n")
    if old_lines >= 4 and new_region.count("\n") < old_lines / 2:
        return Rejection("shrinks", "the prediction deletes most of the editable region")
    if _repeats_context(new_region, region.text(text), above, below):
        return Rejection("outside-region", "the prediction repeats the lines around the editable region")
    result = apply_edits(text, edits)
    if last_before is not None and last_after == text and _undoes(last_before, text, edits):
        return Rejection("undo", "the prediction undoes your last edit")
    if spec is not None:
        now, then = error_count(text, spec), error_count(result, spec)
        if then > now:
            return Rejection("parse", f"the prediction makes the file parse worse ({now} -> {then} syntax errors)")
    return None


def _undoes(before: str, now: str, edits: list[TextEdit]) -> bool:
    """Whether the edits that touch the span of the last edit (`before` -> `now`) give back
    exactly `before`: the text the user replaced returns, or what they typed goes."""
    p, s = common_ends(before, now)
    lo, hi = p, len(now) - s  # the last edit's text in `now`
    touching = [e for e in edits if e.start <= hi and e.end >= lo]
    return bool(touching) and apply_edits(now, touching) == before


def _repeats_context(new_region: str, old_region: str, above: str, below: str) -> bool:
    """The model wrote the last line above the region (or the first line below it) into
    the region, where the region did not have it: it is rewriting outside its region."""
    new_lines = [ln for ln in new_region.splitlines() if ln.strip()]
    old_lines = [ln for ln in old_region.splitlines() if ln.strip()]
    if not new_lines:
        return False
    above_lines = [ln for ln in above.splitlines() if ln.strip()]
    below_lines = [ln for ln in below.splitlines() if ln.strip()]
    if above_lines and new_lines[0] == above_lines[-1] and (not old_lines or old_lines[0] != above_lines[-1]):
        return len(above_lines[-1].strip()) > 3
    if below_lines and new_lines[-1] == below_lines[0] and (not old_lines or old_lines[-1] != below_lines[0]):
        return len(below_lines[0].strip()) > 3
    return False


def error_count(text: str, spec: LanguageSpec) -> int:
    """ERROR and MISSING nodes in `text`'s tree."""
    return syntax_errors(SyntaxTree(spec, text)).count

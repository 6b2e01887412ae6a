"""What a code action is about: its kind, the document, the range, the problems.

An `ActionTarget` travels through the editor twice: as a code action's `data`
(to `codeAction/resolve`) or as a command's argument (to
`workspace/executeCommand`). Its wire form is plain JSON in LSP's own shapes
(`uri`, `range`, `diagnostics`), so a user can also invoke the commands by
hand, e.g. `qwill.rewrite` with `{"uri": ..., "range": ..., "instruction": ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..context.document import Position


class ActionError(ValueError):
    """The action cannot run or its result was refused; the message is for the user."""


class ActionKind(StrEnum):
    FIX = "fix"
    EXPLAIN = "explain"
    DOCSTRING = "docstring"
    TESTS = "tests"
    REWRITE = "rewrite"

    @property
    def label(self) -> str:
        return {
            "fix": "Fix", "explain": "Explain", "docstring": "Add documentation",
            "tests": "Generate tests", "rewrite": "Rewrite",
        }[self.value]


@dataclass(frozen=True)
class Diagnostic:
    """A problem reported by any language server (linter, type checker, test runner)."""

    message: str
    start: Position
    end: Position
    source: str = ""
    code: str = ""
    severity: int | None = None

    def describe(self) -> str:
        tag = f" ({self.source}{' ' + self.code if self.code else ''})" if self.source or self.code else ""
        return f"{self.message.strip()}{tag}"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"message": self.message, "range": _range_json(self.start, self.end)}
        if self.source:
            d["source"] = self.source
        if self.code:
            d["code"] = self.code
        if self.severity is not None:
            d["severity"] = self.severity
        return d

    @classmethod
    def from_json(cls, raw: Any) -> Diagnostic:
        if not isinstance(raw, dict) or not isinstance(raw.get("message"), str):
            raise ActionError("a diagnostic needs a `message` and a `range`")
        start, end = _range(raw.get("range"), "diagnostic range")
        code = raw.get("code")
        sev = raw.get("severity")
        return cls(raw["message"], start, end, str(raw.get("source") or ""),
                   "" if code is None else str(code), sev if isinstance(sev, int) else None)


@dataclass(frozen=True)
class ActionTarget:
    kind: ActionKind
    uri: str
    start: Position  # the selection (start == end: the cursor)
    end: Position
    version: int | None = None  # the document version the action was offered for
    diagnostics: tuple[Diagnostic, ...] = ()
    instruction: str = ""  # rewrite: what to do
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.kind.value, "uri": self.uri,
                             "range": _range_json(self.start, self.end)}
        if self.version is not None:
            d["version"] = self.version
        if self.diagnostics:
            d["diagnostics"] = [x.to_json() for x in self.diagnostics]
        if self.instruction:
            d["instruction"] = self.instruction
        return d

    @classmethod
    def from_json(cls, raw: Any, kind: ActionKind | None = None) -> ActionTarget:
        """Parse the wire form; ActionError says what is missing or malformed."""
        if not isinstance(raw, dict):
            raise ActionError("expected an object with `uri` and `range`")
        name = raw.get("action", kind.value if kind else None)
        try:
            k = ActionKind(str(name)) if kind is None else kind
        except ValueError:
            raise ActionError(f"unknown action {name!r}; expected one of "
                              f"{', '.join(k.value for k in ActionKind)}") from None
        uri = raw.get("uri")
        if not isinstance(uri, str) or not uri:
            raise ActionError("missing `uri`")
        start, end = _range(raw.get("range"), "range")
        version = raw.get("version")
        diags = raw.get("diagnostics") or []
        if not isinstance(diags, list):
            raise ActionError("`diagnostics` must be a list")
        instruction = raw.get("instruction") or ""
        if not isinstance(instruction, str):
            raise ActionError("`instruction` must be a string")
        return cls(k, uri, start, end, version if isinstance(version, int) else None,
                   tuple(Diagnostic.from_json(d) for d in diags), instruction.strip())


def _range_json(start: Position, end: Position) -> dict[str, Any]:
    return {"start": {"line": start.line, "character": start.character},
            "end": {"line": end.line, "character": end.character}}


def _position(raw: Any, what: str) -> Position:
    if not isinstance(raw, dict):
        raise ActionError(f"{what} must be an object with `line` and `character`")
    line, ch = raw.get("line"), raw.get("character")
    if not isinstance(line, int) or not isinstance(ch, int) or line < 0 or ch < 0:
        raise ActionError(f"{what} needs non-negative integer `line` and `character`")
    return Position(line, ch)


def _range(raw: Any, what: str) -> tuple[Position, Position]:
    if not isinstance(raw, dict):
        raise ActionError(f"missing `{what}` (an object with `start` and `end`)")
    start = _position(raw.get("start"), f"{what}.start")
    end = _position(raw.get("end"), f"{what}.end")
    if end < start:
        raise ActionError(f"{what} ends before it starts")
    return start, end

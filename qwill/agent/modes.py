"""Approval modes: how much the agent may do without asking, the same on every surface.

- ``plan``: read-only tools; the model investigates and proposes a plan, which the
  user approves before anything changes (the run then goes on in ``ask``).
- ``ask`` (default): every change set is reviewed; commands follow the shell policy
  (allow runs, ask asks, deny refuses); MCP tools are asked about unless allowed in
  the user's settings.
- ``auto-edit``: change sets are applied without review (each step is checkpointed,
  so undo and rewind still work); commands and MCP tools as in ``ask``.
- ``yolo``: as ``auto-edit``, and whatever the policy would ask about is allowed.
  What the policy denies stays denied: a mode never overrides a deny.
"""

from __future__ import annotations

from enum import StrEnum

from .shell import Verdict


class ApprovalMode(StrEnum):
    PLAN = "plan"
    ASK = "ask"
    AUTO_EDIT = "auto-edit"
    YOLO = "yolo"

    @classmethod
    def parse(cls, value: str | ApprovalMode) -> ApprovalMode:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown approval mode {value!r}; one of: {', '.join(m.value for m in cls)}") \
                from None

    @property
    def reviews_edits(self) -> bool:
        return self in (ApprovalMode.PLAN, ApprovalMode.ASK)

    @property
    def read_only(self) -> bool:
        return self is ApprovalMode.PLAN

    @property
    def description(self) -> str:
        return MODE_DESCRIPTIONS[self]


MODE_DESCRIPTIONS = {
    ApprovalMode.PLAN: "read-only: the agent proposes a plan for you to approve",
    ApprovalMode.ASK: "edits reviewed, commands by policy",
    ApprovalMode.AUTO_EDIT: "edits applied with checkpoints, commands by policy",
    ApprovalMode.YOLO: "edits applied, commands the policy would ask about run; denied ones stay denied",
}


def effective_verdict(verdict: Verdict, mode: ApprovalMode) -> Verdict:
    """The policy's verdict under `mode`: yolo turns ask into allow; deny always stays."""
    if verdict is Verdict.ASK and mode is ApprovalMode.YOLO:
        return Verdict.ALLOW
    return verdict

"""Policy settings a workspace could have chosen: used only once you confirm them.

The settings that let the agent do more than the built-in policy (a test command
to run, extra allow patterns, commands without the sandbox) must be yours. An
editor merges a workspace's own settings file over your user settings, and a
cloned repository can ship one (`.vscode/settings.json`), so values that arrive
from an editor client are not trusted as they are: the server asks once ("use
these settings?"), remembers the answer for exactly those values in your state
directory (outside every workspace, read-only to sandboxed commands), and until
then runs the agent with the built-in defaults for them. Values from your own
command line (`qwill agent --test-command`, `--config FILE`) need no confirmation.
Settings that only narrow the policy (deny and ask patterns, `shellDefault: deny`)
are taken from anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import AgentSettings
from ..local_state import state_dir

# setting (python name) -> the built-in value; anything else widens the policy (but for the
# approval mode, where `plan` narrows it)
WIDENING: dict[str, Any] = {"test_command": "", "shell_allow": [], "sandbox": True, "approval_mode": "ask",
                            "mcp_servers": {}, "mcp_allow": []}
_NARROWER_MODES = ("ask", "plan")


def _plain(value: Any) -> Any:
    """A setting's value as JSON data (MCP server entries are models)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _alias(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def widening(settings: AgentSettings, trusted: AgentSettings | None = None) -> dict[str, Any]:
    """The values of `settings` that widen the policy beyond the built-in one and that
    `trusted` (your own settings) does not already hold."""
    out: dict[str, Any] = {}
    for name, default in WIDENING.items():
        value = _plain(getattr(settings, name))
        if value == default or (name == "approval_mode" and value in _NARROWER_MODES):
            continue
        if trusted is not None and _plain(getattr(trusted, name)) == value:
            continue
        out[_alias(name)] = value
    return out


def narrowed(settings: AgentSettings, keep: AgentSettings | None = None) -> AgentSettings:
    """`settings` with the unconfirmed widening values back at the built-in (or `keep`'s) ones."""
    updates = {name: (getattr(keep, name) if keep is not None else default) for name, default in WIDENING.items()}
    return settings.model_copy(update=updates)


def describe(values: dict[str, Any]) -> str:
    parts = []
    for key, value in values.items():
        if key == "testCommand":
            parts.append(f"run `{value}` as the test command")
        elif key == "shellAllow":
            parts.append("run " + ", ".join(f"`{v}`" for v in value) + " without asking")
        elif key == "sandbox":
            parts.append("run commands without the sandbox")
        elif key == "approvalMode":
            parts.append(f"work in `{value}` mode (changes applied without review"
                         + (", commands run without asking" if value == "yolo" else "") + ")")
        elif key == "mcpServers":
            parts.append("start the MCP servers " + ", ".join(f"`{v}`" for v in value))
        elif key == "mcpAllow":
            parts.append("call the MCP tools " + ", ".join(f"`{v}`" for v in value) + " without asking")
    return "; ".join(parts)


@dataclass
class ConsentStore:
    """The widening settings you confirmed, by a hash of their exact values."""

    path: Path

    @classmethod
    def default(cls) -> ConsentStore:
        return cls(state_dir() / "policy-consent.json")

    @staticmethod
    def key(values: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

    def _load(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [k for k in data.get("confirmed", []) if isinstance(k, str)] if isinstance(data, dict) else []

    def confirmed(self, values: dict[str, Any]) -> bool:
        return not values or self.key(values) in self._load()

    def confirm(self, values: dict[str, Any]) -> None:
        keys = self._load()
        k = self.key(values)
        if k not in keys:
            keys.append(k)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"confirmed": keys[-200:]}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

"""What only the user may change in a workspace, whoever writes it.

git's state (its config and hooks run programs: `core.fsmonitor` runs on every
`git status`, your shell prompt's included), editor and tool configuration (a
workspace's settings can choose programs to run and Qwill's own policy), direnv's
`.envrc` (runs when you enter the directory), Qwill's own files. Shell commands
that write there ask (qwill.agent.command_rules), the sandbox makes them
read-only (qwill.agent.sandbox), and the file tools' changes to them are always
confirmed (qwill.agent.changes).
"""

from __future__ import annotations

from pathlib import PurePosixPath

PROTECTED_NAMES = (".git", ".vscode", ".idea", ".envrc")
PROTECTED_PREFIXES = (".qwill",)


def is_protected(rel: str) -> bool:
    """Does the workspace-relative path lie in something only the user may change?"""
    return any(part in PROTECTED_NAMES or part.startswith(PROTECTED_PREFIXES) for part in PurePosixPath(rel).parts)

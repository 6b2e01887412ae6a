"""Shell commands under a policy the model cannot override, run in a sandbox.

The public interface (the agent's tools and approval modes build on it):

    decision = ShellPolicy(...).check(line, workspace, sandboxed=..., unreviewed=...)
    decision.verdict      Verdict.ALLOW / ASK / DENY
    decision.reasons      why (each reason names the part of the line it is about)
    decision.commands     the programs the line runs, with their arguments
    decision.writes       workspace files the line creates (allowed only in a sandbox)
    decision.runs_project_code   a test runner or build tool is part of it

How a line is judged: it is parsed as bash parses it (qwill.agent.shell_syntax:
tree-sitter-bash over bash's own normalised form); what the parser does not fully
understand asks; command and process substitution are refused. Each simple command
then meets, in order: the deny patterns (DEFAULT_DENY plus your `agent.shellDeny`),
your `agent.shellAsk` patterns, your `agent.shellAllow` patterns (your own trust: the
paths it names are still checked), the per-program capability rules
(qwill.agent.command_rules: options known to be read-only, paths inside the
workspace, test runners only in a sandbox and only over reviewed files), the
DEFAULT_ASK patterns, and finally `agent.shellDefault`. The line's verdict is the
worst of its parts. Environment assignments that change what programs do (GIT_*,
LD_*, PATH, PYTHON*, NODE_OPTIONS, ...) are refused. The lists come from settings,
never from the model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox as sandboxing
from .command_rules import ALLOWED_PROGRAMS, Cwd, Judge, deny_matches, pattern_matches, track_cd
from .shell_syntax import bash_path, parse_line
from .verdict import Verdict

__all__ = ["ALLOWED_PROGRAMS", "DEFAULT_ASK", "DEFAULT_DENY", "CommandResult", "Decision", "PolicyError",
           "ShellPolicy", "Verdict", "command_environment", "deny_matches", "pattern_matches", "run_command",
           "sandbox_works", "split_commands"]

# Patterns are matched against the words of one simple command, joined by
# spaces (`git log --all`); `*` matches any run of characters. A pattern
# matches when it matches a prefix of the command's words.
DEFAULT_DENY: tuple[str, ...] = (
    "curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "rsync", "ftp", "telnet",
    "aria2c", "httpie", "http", "https", "socat",
    "pip install", "pip download", "pip3 install", "pip3 download", "python -m pip install",
    "python3 -m pip install", "python -m pip download", "python3 -m pip download",
    "uv pip install", "uv add", "poetry add", "pipx install",
    "npm install", "npm i", "npm ci", "npm add", "npm exec", "npx", "pnpm add", "pnpm install",
    "yarn add", "yarn install", "gem install", "cargo install", "go get", "go install",
    "apt", "apt-get", "dnf", "yum", "brew", "conda install",
    "git fetch", "git pull", "git push", "git clone", "git remote", "git submodule",
    "git ls-remote", "git log --all", "git reflog", "git fsck", "git rev-list --all",
    "git log --reflog", "git show-ref", "git for-each-ref", "git archive", "git bundle",
    "git config", "git credential",
    "sudo", "su", "doas", "chown", "chroot", "mount", "umount", "dd", "mkfs", "shutdown",
    "reboot", "kill", "pkill", "killall", "crontab", "systemctl",
    "eval", "exec", "source", ".", "trap", "enable",
)
DEFAULT_ASK: tuple[str, ...] = (
    "rm", "rmdir", "mv", "cp", "chmod", "ln", "git checkout", "git reset", "git clean",
    "git commit", "git stash", "git rebase", "git merge", "git restore", "git switch",
    "git branch -D", "git tag", "git rm", "git mv", "make", "docker", "podman", "find * -delete",
    "find * -exec", "sed -i", "perl -i", "tee", "truncate", "touch", "mkdir", "python", "python3",
    "node", "bash", "sh", "zsh",
)


class PolicyError(ValueError):
    pass


@dataclass
class Decision:
    """The policy's answer for one command line."""

    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    runs_project_code: bool = False

    def explain(self) -> str:
        return "; ".join(self.reasons) if self.reasons else self.verdict.value


def command_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment agent commands run with (and that the policy expands words in):
    yours, without secrets and without what would make a line mean something other
    than it says (BASH_ENV, CDPATH...), with pagers and prompts turned off."""
    src = os.environ if base is None else base
    env = {k: v for k, v in src.items()
           if not re.search(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH)", k.upper())
           and k not in ("BASH_ENV", "ENV", "CDPATH", "GLOBIGNORE", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND",
                         "SSH_AUTH_SOCK", "SSH_AGENT_PID", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS")
           and not k.startswith("BASH_FUNC_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "PAGER": "cat", "GIT_PAGER": "cat", "NO_COLOR": "1",
                "TERM": "dumb", "GIT_EDITOR": "true"})
    # git settings in protected scope (they override a repository's own): no fsmonitor
    # program, no discovery of bare repositories the agent could lay out
    protective = [("core.fsmonitor", "false"), ("safe.bareRepository", "explicit")]
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for k, v in protective:
        env[f"GIT_CONFIG_KEY_{count}"] = k
        env[f"GIT_CONFIG_VALUE_{count}"] = v
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


@dataclass
class ShellPolicy:
    deny: tuple[str, ...] = DEFAULT_DENY
    ask: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()  # your own patterns; the programs allowed by default are rules
    # verdict for a command on no list
    default: Verdict = Verdict.ASK
    default_ask: tuple[str, ...] = DEFAULT_ASK

    def check(self, line: str, workspace: Path, *, sandboxed: bool | None = None,
              unreviewed: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Decision:
        """The verdict for a whole command line (the worst of its parts).

        sandboxed: whether the command will run confined (default: whether a sandbox
        works here); unreviewed: workspace paths written outside review since the user
        last approved (test runners ask while there are any); env: the environment the
        command will run with (default: command_environment())."""
        if not isinstance(line, str) or not line.strip():
            return Decision(Verdict.DENY, ["empty command"])
        root = Path(os.path.realpath(workspace))
        if sandboxed is None:
            sandboxed = sandbox_works(root)
        env = command_environment() if env is None else env
        parsed = parse_line(line, env)
        judge = Judge(root, env, sandboxed=sandboxed, unreviewed=unreviewed, deny=self.deny, ask=self.ask,
                      allow=self.allow, default=self.default, default_ask=self.default_ask)
        for f in parsed.findings:
            judge.out.add(f.verdict, f.reason)
        cwd = Cwd([root])
        for cmd in parsed.commands:
            judge.command(cmd, cwd)
            track_cd(judge, cmd, cwd)
        out = judge.out
        if out.writes and out.runs_project_code:
            out.add(Verdict.ASK, f"the line creates {', '.join(out.writes[:3])} and runs the project's code, "
                                 "which may execute what it wrote")
        if out.verdict is Verdict.ALLOW and not out.commands and not parsed.commands:
            out.add(Verdict.ASK, "the line runs nothing the policy recognises")
        return Decision(out.verdict, out.reasons, out.commands, out.writes, out.runs_project_code)


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of a line as word lists (values as the shell expands them;
    `?` for a word only known when it runs)."""
    parsed = parse_line(line, command_environment())
    return [[w.value if w.value is not None else "?" for w in c.argv()] for c in parsed.commands if c.argv()]


# -- running ----------------------------------------------------------------------
@dataclass
class CommandResult:
    command: str
    exit_code: int | None
    output: str
    truncated: bool = False
    timed_out: bool = False
    sandboxed: bool = False
    seconds: float = 0.0
    sandbox: str = "none"
    output_bytes: int = 0

    def render(self) -> str:
        head = f"$ {self.command}\n"
        if self.timed_out:
            tail = "\n[timed out: the command and everything it started were killed]"
        else:
            tail = f"\n[exit code {self.exit_code}]"
        note = {"bubblewrap": "", "landlock": "\n[sandbox: Landlock (writes only inside the workspace, no TCP)]",
                "off": "\n[ran without a sandbox: agent.sandbox is off]"}.get(
            self.sandbox, "\n[ran without a sandbox: neither bubblewrap nor Landlock works here]")
        return head + self.output + tail + note


def sandbox_works(workspace: Path) -> bool:
    """Commands in `workspace` run confined (bubblewrap or Landlock)."""
    return sandboxing.available(Path(workspace)) is not sandboxing.SandboxKind.NONE


def run_command(command: str, workspace: Path, *, timeout: float = 60.0, max_output: int = 12_000,
                sandbox: bool = True, env: dict[str, str] | None = None) -> CommandResult:
    """Run a command line (already approved) in the workspace, confined where a sandbox
    works; output is read as it comes and capped; everything it started is killed at
    the end or at the timeout."""
    if not isinstance(command, str) or "\x00" in command:
        raise ValueError("the command contains a NUL byte")
    root = Path(os.path.realpath(workspace))
    kind = sandboxing.available(root) if sandbox else sandboxing.SandboxKind.NONE
    run_env = command_environment()
    if env:
        run_env.update(env)
    bash = bash_path()
    argv = [bash, "--norc", "--noprofile", "-c", command] if bash else ["/bin/sh", "-c", command]
    code, out, timed_out, seconds = sandboxing.run(argv, root, kind, run_env, timeout=timeout, max_output=max_output)
    return CommandResult(command, code, out.text, out.truncated, timed_out, kind is not sandboxing.SandboxKind.NONE,
                         seconds, kind.value if sandbox else "off", out.total_bytes)

"""Shell commands under a policy the model cannot override, run in a sandbox.

A command line is split with shlex into simple commands at `;`, `&&`, `||`,
`|` and newlines; `sh -c '…'`, `bash -c`, `env …`, `xargs …`, `timeout …`,
`nice …`, `find -exec` and friends are looked through to the command they run,
shell keywords (`{`, `if … then`, `do`, `!`) and git's global options are
skipped; `$(…)`, backticks, a command name the shell would build (`$c`,
`/usr/bin/cur?`) and a shell reading commands from its input (`… | sh`) are
denied: what would run cannot be seen. Each
simple command gets a verdict from the deny / ask / allow lists; the line's
verdict is the worst of them. Redirections that write outside the workspace
are denied. The lists come from settings, never from the model.

Where bubblewrap is installed, commands run with the network unshared, the
file system read-only except the workspace and a private /tmp; without it
they run as plain subprocesses (the result says so).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


_ORDER = {Verdict.ALLOW: 0, Verdict.ASK: 1, Verdict.DENY: 2}

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
    "eval", "exec", "source", ".",
)
DEFAULT_ASK: tuple[str, ...] = (
    "rm", "rmdir", "mv", "cp", "chmod", "ln", "git checkout", "git reset", "git clean",
    "git commit", "git stash", "git rebase", "git merge", "git restore", "git switch",
    "git branch -D", "git tag", "git rm", "git mv", "make", "docker", "podman", "find * -delete",
    "find * -exec", "sed -i", "perl -i", "tee", "truncate", "touch", "mkdir", "python", "python3",
    "node", "bash", "sh", "zsh",
)
DEFAULT_ALLOW: tuple[str, ...] = (
    "ls", "cat", "head", "tail", "wc", "grep", "rg", "find", "pwd", "echo", "printf", "true",
    "false", "diff", "sort", "uniq", "cut", "tr", "file", "stat", "which", "tree", "du",
    "git status", "git diff", "git log", "git show", "git blame", "git ls-files", "git grep",
    "git rev-parse", "pytest", "python -m pytest", "python3 -m pytest", "ruff", "mypy",
    "black --check", "go test", "go build", "go vet", "cargo test", "cargo build", "cargo check",
    "npm test", "npm run test", "npm run lint", "npm run build", "node --test", "tsc",
    "jest", "vitest", "make test", "make check", "make lint", "tox", "nox", "sed -n",
    "python -m unittest", "python3 -m unittest",
)

# Wrappers whose argument is another command.
_WRAPPERS = {"env", "nice", "nohup", "timeout", "time", "xargs", "stdbuf", "ionice", "command",
             "builtin", "exec", "setsid", "chronic", "unbuffer", "watch", "flock", "taskset", "chrt",
             "strace", "ltrace", "unshare", "proxychains", "proxychains4", "torsocks"}
# Wrapper options that take the next word as their value (`xargs -I {} curl {}`).
_VALUE_OPTIONS = {"env": {"-u", "--unset", "-C", "--chdir"}, "timeout": {"-s", "--signal", "-k", "--kill-after"},
                  "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "-p"}, "stdbuf": {"-i", "-o", "-e"},
                  "xargs": {"-I", "-i", "-L", "-l", "-n", "-P", "-s", "-d", "-E", "-e", "-a", "--arg-file"},
                  "watch": {"-n", "--interval", "-d"}, "flock": {"-w", "--timeout", "-E", "-c"},
                  "taskset": {"-c", "-p"}, "chrt": {"-p"}, "strace": {"-e", "-o", "-p", "-s", "-u"},
                  "ltrace": {"-e", "-o", "-p", "-s", "-u"}}
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish"}
# Shell keywords that may stand before a command (`{ curl x; }`, `if true; then curl x; fi`).
_KEYWORDS = {"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until",
             "coproc", "case", "esac", "select", "function"}
# git's options that come before the subcommand (`git -C dir -c k=v push`).
_GIT_VALUE_OPTIONS = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env",
                      "--super-prefix"}
# A command name the shell builds (variables, globs, brace expansion) cannot be checked.
_EXPANSION = re.compile(r"[$*?\[{]")
_OPERATORS = {";", "&&", "||", "|", "&", "|&", "\n", "(", ")"}


class PolicyError(ValueError):
    pass


@dataclass
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)

    def explain(self) -> str:
        return "; ".join(self.reasons) if self.reasons else self.verdict.value


def _pattern_matches(pattern: str, words: Sequence[str]) -> bool:
    """Leading words match a prefix of the command (fnmatch); option words
    (`--all`) may stand anywhere after it; a lone `*` spans any words."""
    import fnmatch

    pat = pattern.split()
    if "*" in pat:
        rx = "^" + r"\s".join(
            (r"(\S+\s)*?\S*" if p == "*" else re.escape(p).replace(r"\*", r"\S*")) for p in pat
        )
        return re.search(rx, " ".join(words)) is not None
    # trailing option words (`git log --all`) may stand anywhere after the lead
    cut = len(pat)
    while cut > 1 and pat[cut - 1].startswith("-"):
        cut -= 1
    lead, opts = pat[:cut], pat[cut:]
    if len(lead) > len(words):
        return False
    if not all(fnmatch.fnmatchcase(w, p) for w, p in zip(words, lead, strict=False)):
        return False
    rest = words[len(lead):]
    return all(any(w == o or w.startswith(o + "=") for w in rest) for o in opts)


def _deny_matches(pattern: str, words: Sequence[str]) -> bool:
    """Like _pattern_matches, but the pattern's later words may have options in between
    (`pip --proxy p install`, `git -c k=v push`): a deny list errs on the strict side."""
    import fnmatch

    pat = pattern.split()
    if "*" in pat or len(pat) < 2 or not words:
        return _pattern_matches(pattern, words)
    cut = len(pat)
    while cut > 1 and pat[cut - 1].startswith("-"):
        cut -= 1
    lead, opts = pat[:cut], pat[cut:]
    if not fnmatch.fnmatchcase(words[0], lead[0]):
        return False
    i = 1
    for p in lead[1:]:
        while i < len(words) and not fnmatch.fnmatchcase(words[i], p):
            i += 1
        if i >= len(words):
            return False
        i += 1
    rest = words[1:]
    return all(any(w == o or w.startswith(o + "=") for w in rest) for o in opts)


def _tokenize(line: str) -> list[str]:
    lex = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    # newlines separate commands
    lex.whitespace = " \t\r"
    tokens: list[str] = []
    try:
        for tok in lex:
            tokens.append(tok)
    except ValueError as exc:
        raise PolicyError(f"cannot parse the command: {exc}") from None
    return tokens


def split_commands(line: str) -> list[list[str]]:
    """Simple commands of a command line (operators removed; redirections kept)."""
    if "$(" in line or "`" in line or "<(" in line or ">(" in line:
        raise PolicyError("command substitution ($(...), backticks, <(...)) is not allowed")
    commands: list[list[str]] = []
    current: list[str] = []
    for tok in _tokenize(line.replace("\n", " ; ")):
        if tok in _OPERATORS or set(tok) <= set(";&|()"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        commands.append(current)
    return commands


def _strip_redirections(words: list[str], reads: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(words without redirections, paths written by redirections); paths read by `<`
    redirections are added to `reads` when given."""
    out: list[str] = []
    writes: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("<<<"):  # a here-string: its text is input, not a word of the command
            i += 1 if w != "<<<" else 2
            continue
        m = re.fullmatch(r"(\d*|&)(>>|>|<|>&|<<|<<<)(.*)", w)
        if m:
            op, target = m.group(2), m.group(3)
            if not target and i + 1 < len(words):
                i += 1
                target = words[i]
            if op in (">", ">>") and target and not target.isdigit() and not target.startswith("&"):
                writes.append(target)
            elif op == "<" and target and reads is not None and not w.startswith(("<<", "0<<")):
                reads.append(target)
            i += 1
            continue
        out.append(w)
        i += 1
    return out, writes


def _unwrap(words: list[str]) -> list[list[str]]:
    """Look through env/timeout/xargs/sh -c/find -exec to the commands they run."""
    while words and words[0] in _KEYWORDS:
        words = words[1:]
    if not words:
        return []
    # VAR=value cmd
    if "=" in words[0] and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        return _unwrap(words[1:]) if len(words) > 1 else []
    head = os.path.basename(words[0])
    if _EXPANSION.search(words[0]) and words[0] not in ("[", "[["):
        raise PolicyError(f"the command name {words[0]!r} is built by the shell and cannot be checked")
    if head in _SHELLS:
        flag = next((i for i, w in enumerate(words[1:], 1)
                     if re.fullmatch(r"-[a-z]*c[a-z]*", w)), None)
        operands = [w for w in words[1:] if not w.startswith("-")]
        if flag is not None:
            # every word after -c that is not an option may be the command string: check them all
            inner = [w for w in words[flag + 1:] if w != "--" and not w.startswith("-")]
            if not inner:
                raise PolicyError(f"{head} -c without a command")
            return [c for text in inner for sub in split_commands(text)
                    for c in _unwrap(_strip_redirections(sub)[0])]
        if not operands:
            raise PolicyError(f"{head} would read its commands from its input, which cannot be checked")
        return [words]
    if head in _WRAPPERS:
        rest = words[1:]
        takes_value = _VALUE_OPTIONS.get(head, set())
        inner_text: list[str] = []
        # skip the wrapper's own options and VAR=value / durations
        while rest and (rest[0].startswith("-") or "=" in rest[0] or
                        (head in ("timeout", "watch") and re.fullmatch(r"[\d.]+[smhd]?", rest[0]))):
            opt = rest.pop(0)
            if head == "env" and (opt in ("-S", "--split-string") or opt.startswith(("-S", "--split-string="))):
                value = opt.split("=", 1)[1] if "=" in opt else (opt[2:] if len(opt) > 2 else
                                                                   (rest.pop(0) if rest else ""))
                inner_text.append(value)  # env -S 'curl x' runs that string split into words
            elif opt in takes_value and rest:
                rest.pop(0)
        units = [c for text in inner_text for sub in split_commands(text) for c in _unwrap(sub)]
        if not rest:
            return units or [words[:1]]
        return units + _unwrap(rest)
    if head == "find":  # find ... -exec cmd {} ; runs cmd
        out = [words]
        for i, w in enumerate(words):
            if w in ("-exec", "-execdir", "-ok", "-okdir") and i + 1 < len(words):
                inner = words[i + 1:]
                end = next((k for k, x in enumerate(inner) if x in (";", "+")), len(inner))
                out += _unwrap(inner[:end])
        return out
    if head == "git":  # drop the options before the subcommand
        rest = words[1:]
        kept = ["git"]
        while rest and rest[0].startswith("-"):
            opt = rest.pop(0)
            if opt.split("=", 1)[0] in ("-c", "--config-env", "--exec-path"):
                # configuration on the command line can make git run any program (aliases
                # with `!`, core.sshCommand, core.pager, diff.external...)
                raise PolicyError(f"git {opt} is not allowed: it can make git run other programs")
            if opt in _GIT_VALUE_OPTIONS and rest:
                rest.pop(0)
        return [kept + rest] if rest != words[1:] else [words]
    return [words]


@dataclass
class ShellPolicy:
    deny: tuple[str, ...] = DEFAULT_DENY
    ask: tuple[str, ...] = DEFAULT_ASK
    allow: tuple[str, ...] = DEFAULT_ALLOW
    # verdict for a command on no list
    default: Verdict = Verdict.ASK

    def check(self, line: str, workspace: Path) -> Decision:
        """The verdict for a whole command line (the worst of its parts)."""
        if not line.strip():
            return Decision(Verdict.DENY, ["empty command"])
        try:
            simple = split_commands(line)
        except PolicyError as exc:
            return Decision(Verdict.DENY, [str(exc)])
        decision = Decision(Verdict.ALLOW)
        root = workspace.resolve()
        for raw in simple:
            reads: list[str] = []
            words, writes = _strip_redirections(raw, reads)
            outside = [t for t in reads if _points_outside(t, root)]
            if outside and decision.verdict is Verdict.ALLOW:
                decision.verdict = Verdict.ASK
                decision.reasons.append(f"reads outside the workspace: {outside[0]}")
            for target in writes:
                if target == "/dev/null":
                    continue
                dest = Path(os.path.realpath(target if os.path.isabs(target) else root / target))
                if not dest.is_relative_to(root):
                    decision.verdict = Verdict.DENY
                    decision.reasons.append(f"writes outside the workspace: {target}")
            try:
                units = _unwrap(words)
            except PolicyError as exc:
                decision.verdict = Verdict.DENY
                decision.reasons.append(str(exc))
                continue
            for unit in units:
                if not unit:
                    continue
                unit = [os.path.basename(unit[0]), *unit[1:]]
                decision.commands.append(unit)
                verdict, why = self._verdict(unit, root)
                if _ORDER[verdict] > _ORDER[decision.verdict]:
                    decision.verdict = verdict
                if verdict is not Verdict.ALLOW:
                    decision.reasons.append(why)
        return decision

    def _verdict(self, words: list[str], root: Path) -> tuple[Verdict, str]:
        text = " ".join(words)
        for pat in self.deny:
            if _deny_matches(pat, words):
                return Verdict.DENY, f"'{text[:60]}' is denied by the policy ({pat})"
        # The most specific matching pattern decides; on a tie, "ask" wins.
        best: tuple[int, int, Verdict, str] | None = None
        for verdict, patterns in ((Verdict.ALLOW, self.allow), (Verdict.ASK, self.ask)):
            for pat in patterns:
                if _pattern_matches(pat, words):
                    cand = (len(pat.split()), _ORDER[verdict], verdict, pat)
                    if best is None or cand[:2] > best[:2]:
                        best = cand
        writers = ("rm", "mv", "cp", "tee", "touch", "mkdir", "chmod", "ln", "truncate", "rmdir")
        if words[0] in writers and any(_points_outside(w, root) for w in words[1:]):
            return Verdict.DENY, f"'{text[:60]}' writes outside the workspace"
        if best is None:
            return self.default, f"'{text[:60]}' is not on the allow list"
        if best[2] is Verdict.ALLOW:
            # an allowed reader (cat, grep, ls...) pointed outside the workspace (a path, ~,
            # .., a symlink that leads out) is asked about: the file tools cannot read there
            outside = next((w for w in words[1:] if _points_outside(w, root, follow_links=True)), None)
            if outside is not None:
                return Verdict.ASK, f"'{text[:60]}' reads outside the workspace ({outside})"
            return Verdict.ALLOW, ""
        return Verdict.ASK, f"'{text[:60]}' needs approval ({best[3]})"


def _points_outside(word: str, root: Path, follow_links: bool = False) -> bool:
    """Does `word` name a path outside `root`? (`--opt=/path` counts; with
    follow_links, so does a relative path through a symlink that leads out.)"""
    if word.startswith("-"):
        if "=" not in word:
            return False
        word = word.split("=", 1)[1]
    if "://" in word or word in ("/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"):
        return False
    if not (word.startswith(("/", "~", "..")) or "/../" in word):
        if not (follow_links and word and os.path.lexists(root / word)):
            return False
    path = os.path.expanduser(word)
    target = Path(os.path.realpath(path if os.path.isabs(path) else root / path))
    return not target.is_relative_to(root)


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

    def render(self) -> str:
        head = f"$ {self.command}\n"
        if self.timed_out:
            tail = "\n[timed out]"
        else:
            tail = f"\n[exit code {self.exit_code}]"
        note = "" if self.sandboxed else "\n[ran without a sandbox: bubblewrap is not installed]"
        cut = "\n[output truncated]" if self.truncated else ""
        return head + self.output + cut + tail + note


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_prefix(workspace: Path) -> list[str] | None:
    """bwrap arguments: read-only system, writable workspace and /tmp, no network."""
    bwrap = bwrap_path()
    if bwrap is None:
        return None
    ws = str(workspace.resolve())
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--bind", ws, ws, "--unshare-net", "--unshare-pid",
            "--unshare-ipc", "--die-with-parent", "--new-session", "--chdir", ws]
    return args


_sandbox_ok: dict[str, bool] = {}


def sandbox_works(workspace: Path) -> bool:
    """bwrap is installed and can create namespaces here (not in every container)."""
    prefix = sandbox_prefix(workspace)
    if prefix is None:
        return False
    key = prefix[0]
    if key not in _sandbox_ok:
        try:
            r = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
            _sandbox_ok[key] = r.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _sandbox_ok[key] = False
    return _sandbox_ok[key]


def run_command(command: str, workspace: Path, *, timeout: float = 60.0, max_output: int = 12_000,
                sandbox: bool = True, env: dict[str, str] | None = None) -> CommandResult:
    """Run a command line (already approved) in the workspace; output is capped."""
    use_sandbox = sandbox and sandbox_works(workspace)
    argv = ["/bin/sh", "-c", command]
    if use_sandbox:
        prefix = sandbox_prefix(workspace)
        assert prefix is not None
        argv = [*prefix, *argv]
    run_env = {k: v for k, v in os.environ.items()
               if not re.search(r"(TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL)", k)}
    run_env.update({"GIT_TERMINAL_PROMPT": "0", "PAGER": "cat", "GIT_PAGER": "cat",
                    "NO_COLOR": "1", "TERM": "dumb"})
    if env:
        run_env.update(env)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=run_env, start_new_session=True)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
    text = out.decode("utf-8", errors="replace")
    truncated = len(text) > max_output
    if truncated:
        half = max_output // 2
        text = text[:half] + "\n…\n" + text[-half:]
    return CommandResult(command, None if timed_out else proc.returncode, text, truncated,
                         timed_out, use_sandbox, time.monotonic() - t0)

"""What each allowed program may be asked to do: capabilities, not names.

A program is allowed only with options known to be read-only for it. Each rule
parses the program's arguments the way the program does (GNU-style short clusters
`-nro/x`, attached and separate values `-o /x`, `--output=/x`, `--` ending options;
long options must be spelled out, since an abbreviation like `--out` could mean
anything), and every option that is not in its table makes the command ASK.
Options that make a program run other programs (`sort --compress-program`,
`git grep -O`, `find -exec`, `go test -exec`...) are DENY or ASK; options and
operands that name files are checked as reads or writes of paths.

Paths: a read outside the workspace, or of a `.git` directory, asks; a write
outside the workspace is refused; a write into what only the user may change
(`.git`, `.vscode`, `.idea`, `.envrc`, `.qwill*`) or over an existing file (which
skips review and the checkpoint) asks; creating a new file inside the workspace is
allowed only where a sandbox confines the command. A word the shell computes (a
variable the line sets, `$1`, `${x:-y}`...) in a path or option position asks; a
glob is expanded here against the file system as the shell would, and every name
it yields is checked as an argument of its own (a file named `--output=x` is an
option to the program that receives it).

Test runners and build tools (pytest, make, npm test, go test, cargo test, ...)
run the project's code: they are allowed only in a sandbox, and only when no file
in the workspace was written outside review since the user last approved
(`unreviewed`); otherwise they ask.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .protected import is_protected
from .shell_syntax import SimpleCommand, Word, parse_line
from .verdict import Verdict

# Environment variables that change what programs do (where they look for code,
# configuration, libraries, what they run): assigning them is refused.
_DANGEROUS_ENV = re.compile(
    r"^(GIT_.*|LD_.*|DYLD_.*|PATH|PYTHON.*|NODE_.*|NPM_CONFIG_.*|npm_config_.*|YARN_.*|PNPM_.*|PERL.*|RUBY.*|"
    r"GEM_.*|BUNDLE_.*|CARGO.*|RUST.*|GO.*|CGO_.*|JAVA_.*|_JAVA_OPTIONS|JDK_.*|MAVEN_.*|GRADLE_.*|CLASSPATH|"
    r"BASH_ENV|ENV|SHELL|SHELLOPTS|BASHOPTS|IFS|PS4|PROMPT_COMMAND|CDPATH|HOME|XDG_.*|TMPDIR|PAGER|.*PAGER|"
    r"EDITOR|VISUAL|BROWSER|LESS.*|MAKE.*|GNUMAKEFLAGS|CC|CXX|CPP|LD|AR|CFLAGS|CXXFLAGS|LDFLAGS|"
    r"RIPGREP_CONFIG_PATH|GREP_OPTIONS|PYTEST_.*|TOX_.*|NOX_.*|MYPY.*|COVERAGE_.*|VIRTUAL_ENV|CONDA_.*|"
    r"SSH_.*|GPG_.*|GNUPGHOME|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|ALL_PROXY|all_proxy|NO_PROXY|"
    r"no_proxy|TERMINFO.*|LOCPATH|NLSPATH|GCONV_PATH|HOSTALIASES|RESOLV_.*|MALLOC_.*|GLIBC_TUNABLES|"
    r"SUDO_.*|TZDIR|MANPATH|INFOPATH|EXINIT|VIMINIT|MYVIMRC|EMACS.*|HISTFILE|INPUTRC|DOCKER_.*|KUBECONFIG|"
    r"AWS_.*|GOOGLE_.*|AZURE_.*)$"
)
# ... and these are known not to: assigning them is fine.
_HARMLESS_ENV = re.compile(
    r"^(LANG|LANGUAGE|LC_[A-Z]+|TZ|NO_COLOR|FORCE_COLOR|CLICOLOR|CLICOLOR_FORCE|COLUMNS|LINES|TERM|CI|"
    r"COLORTERM|DEBUG|VERBOSE|QUIET|PYTHONDONTWRITEBYTECODE_UNUSED)$"
)
# Where a program named by an absolute path counts as that program (`/usr/bin/cat`).
_SYSTEM_DIRS = ("/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin",
                "/opt/homebrew/bin", "/usr/lib/git-core")
# A word that looks like a path even where the program takes text (test operands).
_PATHLIKE = re.compile(r"^(/|~|\.\.?(/|$))|/\.\.(/|$)")
_KEYWORDS = frozenset({"{", "}", "(", ")", "!", "if", "then", "else", "elif", "fi", "do", "done", "while",
                       "until", "for", "in", "case", "esac", "select", "function", "coproc", "[[", "]]"}) - {"[["}
_DEV_OK = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/zero", "/dev/urandom",
                     "/dev/random"})
# bash opens a connection for a redirection to /dev/tcp/HOST/PORT or /dev/udp/HOST/PORT
_NET_DEV = ("/dev/tcp/", "/dev/udp/")
# where a project keeps the programs of its own environment
_ENV_BIN = re.compile(r"^(\.?venv|env|\.tox/[^/]+|\.nox/[^/]+)/bin/|^node_modules/\.bin/")


def assignment_verdict(name: str) -> tuple[Verdict, str]:
    """Assigning an environment variable (VAR=x cmd, export VAR=x, env VAR=x)."""
    if _HARMLESS_ENV.match(name):
        return Verdict.ALLOW, ""
    if _DANGEROUS_ENV.match(name) or name.upper().startswith(("GIT_", "LD_", "PYTHON", "NODE_", "NPM_")):
        return Verdict.DENY, f"setting {name} changes what programs run or where they look for code"
    return Verdict.ASK, f"setting {name} may change what a program does"


# -- option tables ---------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """A program's options, getopt style: short "nrk:" (':' takes a value, '::' an
    attached optional value), long "reverse key=" ('=' takes a value; list a name
    both ways when the value is optional)."""

    short: str = ""
    long: str = ""
    roles: Mapping[str, str] = field(default_factory=dict)  # option -> read|write|deny|ask|exec
    numeric: bool = False  # -5 (head, tail, grep context)
    permute: bool = True  # options may follow operands (GNU); False: the first operand ends them

    def parsed(self) -> tuple[set[str], set[str], set[str], set[str], set[str]]:
        flags, valued, optional = set(), set(), set()
        s = self.short
        i = 0
        while i < len(s):
            c = s[i]
            if s[i + 1:i + 3] == "::":
                optional.add(c)
                i += 3
            elif s[i + 1:i + 2] == ":":
                valued.add(c)
                i += 2
            else:
                if c != " ":
                    flags.add(c)
                i += 1
        lflags: set[str] = set()
        lvalued: set[str] = set()
        for name in self.long.split():
            (lvalued if name.endswith("=") else lflags).add(name.rstrip("="))
        return flags, valued, optional, lflags, lvalued


@dataclass
class Parsed:
    options: list[tuple[str, Word | None]]
    operands: list[Word]

    def has(self, *names: str) -> bool:
        return any(o in names for o, _ in self.options)

    def values(self, *names: str) -> list[Word]:
        return [v for o, v in self.options if o in names and v is not None]


def _suffix(word: Word, start: int) -> Word:
    assert word.value is not None
    return Word(word.source, word.value[start:], glob=word.glob, brace=word.brace)


# -- the judge -------------------------------------------------------------------------
@dataclass
class Outcome:
    verdict: Verdict = Verdict.ALLOW
    reasons: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # workspace-relative paths created
    runs_project_code: bool = False

    def add(self, verdict: Verdict, reason: str) -> None:
        if verdict.rank > self.verdict.rank:
            self.verdict = verdict
        if verdict is not Verdict.ALLOW and reason and reason not in self.reasons:
            self.reasons.append(reason)


Rule = Callable[["Judge", str, list[Word], "Cwd"], bool]


@dataclass
class Cwd:
    """The directories a command may run in (the root, and where `cd` may have gone)."""

    dirs: list[Path]


class Judge:
    """Checks the simple commands of one line against the rules; collects an Outcome."""

    def __init__(self, root: Path, env: Mapping[str, str], *, sandboxed: bool,
                 unreviewed: Iterable[str] = (), deny: Sequence[str] = (), ask: Sequence[str] = (),
                 allow: Sequence[str] = (), default: Verdict = Verdict.ASK,
                 default_ask: Sequence[str] = ()) -> None:
        self.root = root
        self.env = env
        self.sandboxed = sandboxed
        self.unreviewed = sorted(set(unreviewed))
        self.deny_patterns = deny
        self.ask_patterns = ask
        self.allow_patterns = allow
        self.default = default
        self.default_ask = default_ask
        self.out = Outcome()
        self.depth = 0
        self.tails = True  # look for refused commands in the arguments of unknown programs

    # verdicts
    def allow(self) -> None:
        pass

    def ask(self, reason: str) -> None:
        self.out.add(Verdict.ASK, reason)

    def deny(self, reason: str) -> None:
        self.out.add(Verdict.DENY, reason)

    # -- paths -----------------------------------------------------------------------
    def _resolve(self, value: str, cwd: Path) -> Path:
        path = value if os.path.isabs(value) else os.path.join(cwd, value)
        return Path(os.path.realpath(path))

    def rel(self, path: Path) -> str | None:
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else None

    def read(self, word: Word, cwd: Cwd, what: str = "") -> None:
        """`word` names a file or directory the command reads."""
        label = what or word.show()
        if word.value is None:
            self.ask(f"the path {word.source} is computed by the shell ({word.unknown})")
            return
        if word.brace:
            self.ask(f"{word.source}: brace expansion in a path is not checked")
            return
        if word.value in _DEV_OK or word.value == "-":
            return
        if word.value.startswith(_NET_DEV):
            self.deny(f"{label} opens a network connection")
            return
        for d in cwd.dirs:
            for path in self._candidates(word, d):
                rel = self.rel(path)
                if rel is None:
                    self.ask(f"reads outside the workspace ({label})")
                    return
                if ".git" in Path(rel).parts:
                    self.ask(f"reads the repository's .git ({label}); its history is yours to share")
                    return

    def write(self, word: Word, cwd: Cwd, what: str = "") -> None:
        """`word` names a file the command writes (creates, truncates or appends to)."""
        label = what or word.show()
        if word.value is None:
            self.ask(f"writes to {word.source}, a path the shell computes ({word.unknown})")
            return
        if word.glob or word.brace:
            self.ask(f"writes to {word.source}, a pattern the shell expands")
            return
        if word.value in _DEV_OK:
            return
        if word.value.startswith(_NET_DEV):
            self.deny(f"{label} opens a network connection")
            return
        for d in cwd.dirs:
            path = self._resolve(word.value, d)
            rel = self.rel(path)
            if rel is None:
                self.deny(f"writes outside the workspace ({label})")
                return
            lexical = os.path.relpath(os.path.normpath(os.path.join(d, word.value)), self.root)
            if is_protected(rel) or is_protected(lexical):
                self.ask(f"writes into {rel}, which only you may change (git state, editor or tool settings)")
                return
            if os.path.lexists(path):
                self.ask(f"overwrites {rel} without review (edit files with the file tools)")
                return
            if not self.sandboxed:
                self.ask(f"creates {rel} without a sandbox")
                return
            if rel not in self.out.writes:
                self.out.writes.append(rel)

    def _candidates(self, word: Word, cwd: Path) -> list[Path]:
        assert word.value is not None
        if not word.glob:
            return [self._resolve(word.value, cwd)]
        matches, problem = expand_glob(word.value, cwd)
        if problem:
            self.ask(f"{word.source}: {problem}")
            return []
        return [Path(os.path.realpath(m if os.path.isabs(m) else os.path.join(cwd, m))) for m in matches] or \
            [self._resolve(word.value, cwd)]

    # -- arguments ---------------------------------------------------------------------
    def expand(self, words: list[Word], cwd: Cwd) -> list[Word]:
        """Globs replaced by the names they match now (as the shell will), each one its
        own word; names that look like options are asked about."""
        out: list[Word] = []
        for w in words:
            if not w.glob or w.value is None:
                out.append(w)
                continue
            names: list[str] = []
            for d in cwd.dirs:
                found, problem = expand_glob(w.value, d)
                if problem:
                    self.ask(f"{w.source}: {problem}")
                    found = []
                names += [n for n in found if n not in names]
            if not names:
                out.append(w)  # no match: the shell passes the pattern itself
                continue
            for n in names:
                if n.startswith("-"):
                    self.ask(f"{w.source} matches {n}, a file name the program would read as an option")
                out.append(Word(w.source, n))
        return out

    def options(self, prog: str, spec: Spec, words: list[Word], cwd: Cwd) -> Parsed:
        """Parse `words` with `spec`; unknown options ask; option roles are checked."""
        flags, valued, optional, lflags, lvalued = spec.parsed()
        opts: list[tuple[str, Word | None]] = []
        operands: list[Word] = []
        i = 0
        ended = False
        while i < len(words):
            w = words[i]
            i += 1
            v = w.value
            if ended or v is None or not v.startswith("-") or v == "-":
                if v is None and not ended:
                    self.ask(f"{prog}: the argument {w.source} is computed by the shell ({w.unknown})")
                operands.append(w)
                if not spec.permute:
                    ended = True
                continue
            if v == "--":
                ended = True
                continue
            if v.startswith("--"):
                name, eq, _ = v[2:].partition("=")
                if eq and name in lvalued:
                    opts.append(("--" + name, _suffix(w, len(name) + 3)))
                elif not eq and name in lflags:
                    opts.append(("--" + name, None))
                elif not eq and name in lvalued:
                    if i < len(words):
                        opts.append(("--" + name, words[i]))
                        i += 1
                    else:
                        self.ask(f"{prog}: --{name} without its value")
                else:
                    self.ask(f"{prog}: the option --{name} is not known to be safe")
                continue
            k = 1
            while k < len(v):
                c = v[k]
                if c in flags:
                    opts.append(("-" + c, None))
                    k += 1
                elif c in valued or c in optional:
                    if k + 1 < len(v):
                        opts.append(("-" + c, _suffix(w, k + 1)))
                    elif c in valued and i < len(words):
                        opts.append(("-" + c, words[i]))
                        i += 1
                    elif c in valued:
                        self.ask(f"{prog}: -{c} without its value")
                    else:
                        opts.append(("-" + c, None))
                    break
                elif spec.numeric and c.isdigit() and (k == 1 or v[1:k].isdigit()):
                    k += 1
                else:
                    self.ask(f"{prog}: the option -{c} is not known to be safe")
                    break
        parsed = Parsed(opts, operands)
        for opt, arg in opts:
            role = spec.roles.get(opt)
            if role is None:
                continue
            if role == "read" and arg is not None:
                self.read(arg, cwd)
            elif role == "write" and arg is not None:
                self.write(arg, cwd)
            elif role == "deny":
                self.deny(f"{prog} {opt} can run other programs")
            elif role == "ask":
                self.ask(f"{prog} {opt} needs approval")
        return parsed

    # -- commands --------------------------------------------------------------------------
    def command(self, cmd: SimpleCommand, cwd: Cwd) -> None:
        """One simple command of the line (assignments, redirections, words)."""
        for name, _value in cmd.assignments:
            verdict, why = assignment_verdict(name)
            self.out.add(verdict, why)
        for r in cmd.redirects:
            if r.target is None:
                continue
            if r.writes:
                self.write(r.target, cwd)
            elif r.reads:
                self.read(r.target, cwd)
            elif r.op in (">&", "<&") and r.target.value is None:
                self.ask(f"a redirection to {r.target.source}, computed by the shell")
        words = cmd.argv()
        if cmd.words and cmd.words[0].vanishes:
            self.deny(f"the command name {cmd.words[0].source} is built by the shell and cannot be checked")
            return
        if cmd.declaration:
            self.declaration(cmd)
            return
        if words:
            self.run(words, cwd)

    def declaration(self, cmd: SimpleCommand) -> None:
        for w in cmd.words[1:]:
            if w.value is None or (w.value.startswith("-") and set(w.value[1:]) - set("xrgilaAtu")):
                self.ask(f"{cmd.declaration} {w.source} is not checked")

    def deny_only(self, words: list[Word], cwd: Cwd) -> None:
        """Judge `words` as a command, keeping only a refusal (for wrappers whose own
        arguments cannot be told from the command's)."""
        if not words or words[0].value is None or words[0].value.startswith("-"):
            return
        sub = Judge(self.root, self.env, sandboxed=self.sandboxed, unreviewed=self.unreviewed,
                    deny=self.deny_patterns, ask=(), allow=(), default=Verdict.ASK, default_ask=())
        sub.depth = self.depth + 1
        sub.tails = False
        sub.run(words, cwd)
        if sub.out.verdict is Verdict.DENY:
            for r in sub.out.reasons:
                self.deny(r)

    def deny_in_tails(self, args: list[Word], cwd: Cwd) -> None:
        """Any tail of `args` that is a refused command makes this one refused (one level:
        the judges of the tails do not look into their own tails)."""
        if self.tails:
            for k in range(len(args)):
                self.deny_only(args[k:], cwd)

    def run(self, words: list[Word], cwd: Cwd, *, via: str = "") -> None:
        """Words that run a program (a simple command, or what a wrapper runs)."""
        self.depth += 1
        try:
            if self.depth > 12:
                self.ask("commands nested too deeply to check")
                return
            self._run(words, cwd, via)
        finally:
            self.depth -= 1

    def _run(self, words: list[Word], cwd: Cwd, via: str) -> None:
        head = words[0]
        if head.value is None or head.glob or head.brace or head.expanded:
            self.deny(f"the command name {head.source} is built by the shell and cannot be checked")
            return
        name = self.program_name(head.value, cwd)
        if name is None:
            return
        if name in _KEYWORDS:
            # a reserved word where a program should be: bash runs no such program, but
            # what follows it must not hide a refused command
            self.ask(f"'{name}' stands where a program name should be")
            self.deny_in_tails(words[1:], cwd)
            return
        values = [name] + [w.value if w.value is not None else "?" for w in words[1:]]
        self.out.commands.append(values)
        text = " ".join(values)[:80]
        for pat in self.deny_patterns:
            if deny_matches(pat, values):
                self.deny(f"'{text}' is denied by the policy ({pat})")
                return
        for pat in self.ask_patterns:
            if pattern_matches(pat, values):
                self.ask(f"'{text}' needs approval ({pat})")
                break
        for pat in self.allow_patterns:
            if pattern_matches(pat, values):
                # your own allow pattern: the program is yours to trust, its paths still checked
                for w in self.expand(words[1:], cwd):
                    if w.value is not None and (_PATHLIKE.search(w.value) or os.path.lexists(
                            os.path.join(cwd.dirs[0], w.value))):
                        self.read(w, cwd)
                return
        rule = RULES.get(name)
        if rule is not None and rule(self, name, words[1:], cwd):
            return
        # a program with no rule may run its arguments as a command (a wrapper we do not know)
        self.deny_in_tails(words[1:], cwd)
        for pat in self.default_ask:
            if pattern_matches(pat, values):
                self.ask(f"'{text}' needs approval ({pat})")
                return
        if self.default is Verdict.DENY:
            self.deny(f"'{text}' is not on the allow list")
        else:
            self.ask(f"'{text}' is not on the allow list")

    def program_name(self, value: str, cwd: Cwd) -> str | None:
        """The program a command word names; None when that was already judged."""
        if "/" not in value:
            for entry in self.env.get("PATH", os.defpath).split(os.pathsep):
                for d in cwd.dirs:
                    cand = os.path.join(d, entry or ".", value)
                    if os.path.isfile(cand) and os.access(cand, os.X_OK):
                        rel = self.rel(Path(os.path.realpath(cand)))
                        lexical = self.rel(Path(os.path.abspath(cand)))
                        if rel is not None and (rel in self.unreviewed or not _ENV_BIN.match(lexical or rel)):
                            # a program of the project's own environment (.venv/bin) is its
                            # code like any other; anything else found there is a stand-in
                            self.ask(f"{value} is found on PATH inside the workspace ({rel})")
                        break
                else:
                    continue
                break
            return value
        base = os.path.basename(value)
        for d in cwd.dirs:
            path = self._resolve(value, d)
            rel = self.rel(path)
            if rel is not None:
                if rel in self.unreviewed or any(rel.startswith(u + "/") for u in self.unreviewed):
                    self.ask(f"runs {rel}, written outside review")
                if _ENV_BIN.match(rel) and base in RUNNERS:
                    continue  # the project's own test runner: judged as that runner
                self.ask(f"runs {rel}, a program from the workspace")
                return base
            parent = os.path.dirname(os.path.normpath(value if os.path.isabs(value) else os.path.join(d, value)))
            if parent not in _SYSTEM_DIRS:
                self.ask(f"runs {value}, which is not in a system directory")
        return base

    # -- the project's code --------------------------------------------------------------
    def runner(self, what: str) -> None:
        """A test runner or build tool: it runs the project's code."""
        self.out.runs_project_code = True
        if not self.sandboxed:
            self.ask(f"{what} runs the project's code, and no sandbox is available to confine it")
        elif self.unreviewed:
            shown = ", ".join(self.unreviewed[:5]) + (" ..." if len(self.unreviewed) > 5 else "")
            self.ask(f"{what} runs the project's code, and files were written outside review since you "
                     f"last approved: {shown}")

    def script(self, text: str, cwd: Cwd, prog: str) -> None:
        """A shell script given on the command line (sh -c '...'): checked like a line."""
        parsed = parse_line(text, self.env)
        for f in parsed.findings:
            self.out.add(f.verdict, f"{prog} -c: {f.reason}")
        inner = Cwd(list(cwd.dirs))
        for c in parsed.commands:
            self.command(c, inner)
            track_cd(self, c, inner)


def track_cd(judge: Judge, cmd: SimpleCommand, cwd: Cwd) -> None:
    """`cd DIR` inside the workspace moves later relative paths (any of the places it
    may have gone counts); elsewhere it asks."""
    words = cmd.argv()
    if not words or words[0].value not in ("cd", "pushd", "popd", "chdir"):
        return
    if words[0].value != "cd":
        judge.ask(f"{words[0].value} is not checked")
        return
    args = [w for w in words[1:] if w.value not in ("-L", "-P", "-e", "--")]
    if len(args) != 1 or args[0].value is None or args[0].glob or args[0].brace or args[0].value == "-":
        judge.ask("cd to a directory that is not named plainly (cd alone, cd -, a computed path)")
        return
    new = []
    for d in cwd.dirs:
        path = judge._resolve(args[0].value, d)
        if judge.rel(path) is None:
            judge.ask(f"cd leaves the workspace ({args[0].value})")
            return
        new.append(path)
    cwd.dirs.extend(p for p in new if p not in cwd.dirs)


# -- globs -------------------------------------------------------------------------------------
def expand_glob(pattern: str, cwd: Path, limit: int = 2000) -> tuple[list[str], str]:
    """The names an unquoted pattern matches, as bash would list them; a problem when
    the pattern could climb out (`.?` matches `..` in some shells) or is too wide."""
    if "[[:" in pattern or "[=" in pattern or "[." in pattern:
        return [], "character classes in patterns are not checked"
    absolute = pattern.startswith("/")
    parts = [p for p in pattern.split("/") if p]
    bases = ["/"] if absolute else [""]
    for part in parts:
        if not re.search(r"[*?\[]", part):
            bases = [os.path.join(b, part) for b in bases]
            continue
        if part.startswith((".", "[")) and part not in (".", ".."):
            if re.fullmatch(r"\.[*?\[\]!^.]*", part) or part.startswith("["):
                return [], "a pattern that can match '.' or '..' is not checked"
        rx = re.compile(fnmatch.translate(part.replace("[^", "[!")))
        nxt = []
        for b in bases:
            d = b if os.path.isabs(b) else os.path.join(cwd, b or ".")
            try:
                entries = sorted(os.listdir(d))
            except OSError:
                continue
            for e in entries:
                if e.startswith(".") and not part.startswith("."):
                    continue
                if rx.match(e):
                    nxt.append(os.path.join(b, e))
                    if len(nxt) > limit:
                        return [], f"matches more than {limit} names"
        bases = nxt
        if not bases:
            return [], ""
    return [b for b in bases if os.path.lexists(b if os.path.isabs(b) else os.path.join(cwd, b))], ""


# -- patterns from settings ---------------------------------------------------------------
def pattern_matches(pattern: str, words: Sequence[str]) -> bool:
    """Leading words match a prefix of the command (fnmatch); option words
    (`--all`) may stand anywhere after it; a lone `*` spans any words."""
    pat = pattern.split()
    if not pat:
        return False
    if "*" in pat:
        rx = "^" + r"\s".join(
            (r"(\S+\s)*?\S*" if p == "*" else re.escape(p).replace(r"\*", r"\S*")) for p in pat
        )
        return re.search(rx, " ".join(words)) is not None
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


def deny_matches(pattern: str, words: Sequence[str]) -> bool:
    """Like pattern_matches, but the pattern's later words may have options in between
    (`pip --proxy p install`, `git -C dir push`): a deny list errs on the strict side."""
    pat = pattern.split()
    if "*" in pat or len(pat) < 2 or not words:
        return pattern_matches(pattern, words)
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


# -- the rules ---------------------------------------------------------------------------------
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for n in names:
            RULES[n] = fn
        return fn
    return register


def readers(spec: Spec, *names: str, operands: str = "read") -> None:
    """Programs whose operands are files they read (or text)."""
    def check(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
        parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
        for w in parsed.operands:
            if operands == "read":
                j.read(w, cwd)
            elif operands == "text" and w.value is not None and _PATHLIKE.search(w.value):
                j.read(w, cwd)
        return True
    for n in names:
        RULES[n] = check


readers(Spec("AbeEnstTuv", "show-all number-nonblank number squeeze-blank show-ends show-tabs "
             "show-nonprinting"), "cat")
readers(Spec("qvzn:c:", "lines= bytes= quiet silent verbose zero-terminated", numeric=True), "head")
readers(Spec("qvzfFn:c:s:", "lines= bytes= quiet silent verbose zero-terminated follow retry sleep-interval=",
             numeric=True), "tail")
readers(Spec("clmwL", "bytes chars lines words max-line-length files0-from=",
             roles={"--files0-from": "read"}), "wc")
readers(Spec("aAbBcCdfFghHiklLmnNopqQrRsStuUvxX1ZI:w:T:",
             "all almost-all author escape block-size= ignore-backups color color= directory dired classify "
             "file-type format= full-time group-directories-first no-group human-readable si "
             "dereference-command-line dereference-command-line-symlink-to-dir hide= hyperlink hyperlink= "
             "indicator-style= inode ignore= kibibytes dereference numeric-uid-gid literal hide-control-chars "
             "show-control-chars quote-name quoting-style= reverse recursive size sort= time= time-style= "
             "tabsize= width= context zero"), "ls", "dir", "vdir")
readers(Spec("brs:", "before regex separator="), "tac")
readers(Spec("cCdst", "complement delete squeeze-repeats truncate-set1"), "tr", operands="text")
readers(Spec("abBdeEfhilnNpPqrsStTuvwWyZcC:D:F:I:L:S:U:x:X:",
             "normal brief report-identical-files context context= unified unified= ed rcs side-by-side "
             "width= left-column suppress-common-lines show-c-function show-function-line= label= "
             "expand-tabs initial-tab tabsize= suppress-blank-empty paginate recursive no-dereference new-file "
             "unidirectional-new-file ignore-file-name-case no-ignore-file-name-case exclude= exclude-from= "
             "starting-file= from-file= to-file= ignore-case ignore-tab-expansion ignore-trailing-space "
             "ignore-space-change ignore-all-space ignore-blank-lines ignore-matching-lines= text "
             "strip-trailing-cr minimal horizon-lines= speed-large-files color color= palette= "
             "line-format= old-line-format= new-line-format= unchanged-line-format= old-group-format= "
             "new-group-format= changed-group-format= unchanged-group-format=",
             roles={"-X": "read", "--exclude-from": "read", "--from-file": "read", "--to-file": "read"}),
        "diff")
readers(Spec("nrz", ""), "rev")
readers(Spec("bhis:w:", "body-numbering= header-numbering= footer-numbering= number-width= number-separator= "
             "section-delimiter= starting-line-number= line-increment= join-blank-lines= number-format= "
             "no-renumber"), "nl")
readers(Spec("bsw:", "bytes spaces width="), "fold")
readers(Spec("it:", "initial tabs="), "expand", "unexpand")
readers(Spec("123iz", "check-order nocheck-order output-delimiter= total zero-terminated"), "comm")
readers(Spec("szd:", "serial delimiters= zero-terminated"), "paste")
readers(Spec("abcdilnsvxzA:j:N:t:w:", "address-radix= endian= format= output-duplicates read-bytes= skip-bytes= "
             "strings= traditional width= width"), "od")
readers(Spec("afn:t:e:", "all bytes= print-file-name radix= encoding=", numeric=True), "strings")
readers(Spec("bctwz", "binary check ignore-missing quiet status strict tag text warn zero"),
        "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum", "cksum", "sum")
readers(Spec("bcdhiklLnNprsvzZ0S:e:E:F:m:P:f:",
             "brief mime mime-type mime-encoding dereference no-dereference no-pad print0 raw separator= "
             "special-files uncompress keep-going files-from= magic-file= exclude= extension",
             roles={"-f": "read", "--files-from": "read", "-m": "read", "--magic-file": "read"}), "file")
readers(Spec("LftZc:", "dereference file-system format= printf= terse cached="), "stat")
readers(Spec("abcDhHklLmPsSx0B:d:t:X:",
             "all apparent-size block-size= bytes total dereference-args human-readable inodes max-depth= si "
             "summarize separate-dirs one-file-system exclude= exclude-from= threshold= time time= "
             "time-style= null count-links",
             roles={"-X": "read", "--exclude-from": "read", "-L": "ask", "--dereference": "ask"}), "du")
readers(Spec("eLmPqsz", "canonicalize canonicalize-existing canonicalize-missing logical physical quiet "
             "relative-to= relative-base= strip no-symlinks zero"), "realpath", "readlink")
readers(Spec("bilnsvw", ""), "cmp")
readers(Spec("", "version help"), "pwd")
readers(Spec("az s:", "multiple suffix= zero"), "basename", operands="text")
readers(Spec("z", "zero"), "dirname", operands="text")


@rule("uniq")
def _uniq(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("cdDiuzf:s:w:", "count repeated all-repeated all-repeated= group group= ignore-case unique "
                "skip-fields= skip-chars= check-chars= zero-terminated")
    parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
    for k, w in enumerate(parsed.operands):
        (j.read if k == 0 else j.write)(w, cwd)  # uniq INPUT OUTPUT
    return True


readers(Spec("nszb:c:d:f:", "bytes= characters= delimiter= fields= complement only-delimited "
             "output-delimiter= zero-terminated"), "cut")
readers(Spec("aaqs", "all skip-dot skip-tilde show-dot-files show-tilde read-alias read-functions"),
        "which", operands="text")
readers(Spec("f:s:w", "format= separator= equal-width"), "seq", operands="text")
readers(Spec("", ""), "sleep", "true", "false", ":", "exit", "whoami", "nproc", "tty", "arch", operands="text")
readers(Spec("amnoprsvi", "all kernel-name nodename kernel-release kernel-version machine processor "
             "hardware-platform operating-system"), "uname", operands="text")
readers(Spec("aAdfiklmnNpqrstuvxDFCQgSJhRL:P:I:H:T:",
             "help version noreport charset= filelimit= timefmt= du prune dirsfirst filesfirst matchdirs "
             "fromfile gitignore info inodes device sort= ignore-case noreport",
             roles={"-l": "ask", "-R": "ask"}), "tree")


@rule("echo")
def _echo(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    return True  # prints its words; options -n -e -E only change how


@rule("printf")
def _printf(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    first = args[0] if args else None
    if first is not None and (first.value is None or first.value.startswith("-v")):
        j.ask("printf -v sets a shell variable")
    return True


@rule("test", "[", "[[")
def _test(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    for w in args:
        if w.value is not None and _PATHLIKE.search(w.value):
            j.read(w, cwd)
    return True


@rule("date")
def _date(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("uRd:f:I::r:", "utc universal rfc-email rfc-3339= iso-8601 iso-8601= date= file= reference= "
                "debug", roles={"-f": "read", "--file": "read", "-r": "read", "--reference": "read"})
    parsed = j.options(prog, spec, args, cwd)
    for w in parsed.operands:
        if w.value is None or not w.value.startswith("+"):
            j.ask("date with an operand sets the clock")
    return True


@rule("env", "printenv")
def _env(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    if prog == "printenv":
        return True
    rest = list(args)
    while rest:
        v = rest[0].value
        if v is None:
            j.ask(f"env: the argument {rest[0].source} is computed by the shell")
            return True
        if v in ("-i", "--ignore-environment", "-0", "--null", "-"):
            rest.pop(0)
        elif v in ("-u", "--unset"):
            rest = rest[2:]
        elif v.startswith(("-u", "--unset=")):
            rest.pop(0)
        elif v in ("-S", "--split-string") or v.startswith(("-S", "--split-string=")):
            j.ask("env -S splits a string into a command: not checked")
            text = v.split("=", 1)[1] if "=" in v else (v[2:] if len(v) > 2 else
                                                        (rest[1].value or "" if len(rest) > 1 else ""))
            j.script(text, cwd, "env -S")
            return True
        elif v.startswith("-"):
            j.ask(f"env {v} is not known to be safe")
            rest.pop(0)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", v):
            verdict, why = assignment_verdict(v.split("=", 1)[0])
            j.out.add(verdict, why)
            rest.pop(0)
        else:
            break
    if rest:
        j.run(rest, cwd, via="env")
    return True


def _wrapper(spec: Spec, *, transparent: bool, leading: Callable[[str], bool] | None = None) -> Rule:
    """A program that runs the command in its operands (nice, timeout, xargs...)."""
    def check(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
        parsed = j.options(prog, Spec(spec.short, spec.long, spec.roles, spec.numeric, permute=False), args, cwd)
        rest = parsed.operands
        if leading is not None and rest and rest[0].value is not None and leading(rest[0].value):
            rest = rest[1:]
        if not transparent:
            j.ask(f"{prog} runs another command in a way that is not checked")
        if rest:
            j.run(rest, cwd, via=prog)
        return True
    return check


RULES["nice"] = _wrapper(Spec("n:", "adjustment=", numeric=True), transparent=True)
RULES["nohup"] = _wrapper(Spec(), transparent=True)
RULES["time"] = _wrapper(Spec("p"), transparent=True)
RULES["timeout"] = _wrapper(Spec("vk:s:", "preserve-status foreground kill-after= signal= verbose"),
                            transparent=True, leading=lambda v: re.fullmatch(r"[\d.]+[smhd]?", v) is not None)
RULES["stdbuf"] = _wrapper(Spec("i:o:e:", "input= output= error="), transparent=True)


def _opaque(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    """A program that runs a command given somewhere in its arguments, after options of
    its own (setsid, watch, flock, strace...): always asked about; refused when any
    tail of its arguments is a refused command."""
    j.ask(f"{prog} runs another command in a way that is not checked")
    j.deny_in_tails(args, cwd)
    return True


for _name in ("setsid", "flock", "watch", "strace", "ltrace", "unshare", "chroot", "ionice", "chrt",
              "taskset", "proxychains", "proxychains4", "torsocks", "unbuffer", "chronic", "script",
              "faketime", "firejail", "systemd-run", "runuser", "sg", "newgrp", "catchsegv", "doas", "sudo",
              "su", "pkexec", "nsenter", "ssh-agent", "dbus-run-session", "xvfb-run", "parallel", "entr"):
    RULES[_name] = _opaque


@rule("command", "builtin")
def _command(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    while rest and rest[0].value in ("-p", "--"):
        rest.pop(0)
    if rest and rest[0].value in ("-v", "-V"):
        return True  # only says where a command is
    if rest:
        j.run(rest, cwd, via=prog)
    return True


@rule("type", "hash", "alias", "unalias")
def _lookups(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    if prog != "type" and args:
        j.ask(f"{prog} with arguments changes which program a name runs")
    return True


@rule("cd")
def _cd(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    return True  # where it goes is tracked by track_cd


@rule("xargs")
def _xargs(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("0prtxoa:d:E:e::I:i::L:l::n:P:s:",
                "null arg-file= delimiter= eof= eof replace= replace max-lines= max-lines max-args= "
                "max-procs= max-chars= interactive verbose exit no-run-if-empty open-tty process-slot-var= "
                "show-limits", roles={"-a": "read", "--arg-file": "read"}, permute=False)
    parsed = j.options(prog, spec, args, cwd)
    rest = parsed.operands or [Word("echo", "echo")]
    j.ask("xargs runs a command with arguments from its input, which cannot be checked")
    j.run(rest, cwd, via="xargs")
    return True


_SHELL_SPEC = Spec("abefhkmnptuvxBCEHPTlirsDc",
                   "norc noprofile posix login noediting restricted verbose debugger dump-strings "
                   "dump-po-strings pretty-print rcfile= init-file=", roles={"--rcfile": "ask", "--init-file": "ask"},
                   permute=False)


@rule("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish")
def _shell(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    command_mode = False
    interactive = False
    while rest and rest[0].value is not None and rest[0].value.startswith(("-", "+")) and rest[0].value != "--":
        v = rest.pop(0).value or ""
        if v in ("-o", "+o", "-O", "+O") and rest:
            rest.pop(0)
            continue
        if v.startswith("--"):
            if v in ("--rcfile", "--init-file"):
                j.ask(f"{prog} {v} runs a file of commands")
                if rest:
                    rest.pop(0)
            elif v not in ("--norc", "--noprofile", "--posix", "--login", "--noediting"):
                j.ask(f"{prog} {v} is not known to be safe")
            continue
        if "c" in v:
            command_mode = True
        if "i" in v or "s" in v:
            interactive = True
    if rest and rest[0].value == "--":
        rest.pop(0)
    if prog in ("busybox", "fish", "zsh", "ksh", "mksh"):
        j.ask(f"{prog} scripts are not checked")
    if command_mode:
        if not rest:
            j.deny(f"{prog} -c without a command")
            return True
        if rest[0].value is None:
            j.deny(f"{prog} -c with a script the shell computes ({rest[0].source})")
            return True
        j.script(rest[0].value, cwd, prog)
        return True
    if interactive or not rest:
        j.deny(f"{prog} would read its commands from its input, which cannot be checked")
        return True
    j.ask(f"{prog} runs the script {rest[0].show()}")
    j.read(rest[0], cwd)
    return True


# -- find ----------------------------------------------------------------------------------
_FIND_TESTS_VALUED = {"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex",
                      "-type", "-xtype", "-maxdepth", "-mindepth", "-size", "-mtime", "-mmin", "-atime", "-amin",
                      "-ctime", "-cmin", "-perm", "-user", "-group", "-uid", "-gid", "-links", "-inum",
                      "-regextype", "-printf", "-lname", "-ilname", "-used", "-fstype", "-context"}
_FIND_TESTS_PATH = {"-newer", "-anewer", "-cnewer", "-samefile"}
_FIND_FLAGS = {"-empty", "-readable", "-writable", "-executable", "-true", "-false", "-prune", "-print",
               "-print0", "-ls", "-depth", "-d", "-mount", "-xdev", "-nouser", "-nogroup", "-quit", "-noleaf",
               "-daystart", "-a", "-o", "-and", "-or", "-not", "!", "(", ")", ",", "-ignore_readdir_race",
               "-noignore_readdir_race", "-warn", "-nowarn"}


@rule("find")
def _find(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    while rest and rest[0].value in ("-H", "-L", "-P", "-O1", "-O2", "-O3"):
        if rest[0].value in ("-H", "-L"):
            j.ask("find -L / -H follows symbolic links (they may lead out of the workspace)")
        rest.pop(0)
    if rest and rest[0].value == "-D":
        rest = rest[2:]
    starts = []
    while rest and (rest[0].value is None or not (rest[0].value.startswith("-") or rest[0].value in "()!,")):
        starts.append(rest.pop(0))
    for w in j.expand(starts, cwd) or [Word(".", ".")]:
        j.read(w, cwd)
    i = 0
    while i < len(rest):
        w = rest[i]
        v = w.value
        i += 1
        if v is None:
            j.ask(f"find: the argument {w.source} is computed by the shell")
            continue
        if v in _FIND_FLAGS:
            continue
        if v in _FIND_TESTS_VALUED:
            i += 1
            continue
        if v in _FIND_TESTS_PATH:
            if i < len(rest):
                j.read(rest[i], cwd)
            i += 1
            continue
        if v == "-follow":
            j.ask("find -follow follows symbolic links (they may lead out of the workspace)")
            continue
        if v in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((k for k in range(i, len(rest)) if rest[k].value in (";", "+")), len(rest))
            inner = [x for x in rest[i:end]]
            j.ask(f"find {v} runs a command on every file found")
            if inner:
                j.run(inner, cwd, via="find")
            i = end + 1
            continue
        if v == "-delete":
            j.ask("find -delete removes files")
            continue
        if v in ("-fprint", "-fprint0", "-fls", "-fprintf"):
            if i < len(rest):
                j.write(rest[i], cwd)
            i += 2 if v == "-fprintf" else 1
            continue
        j.ask(f"find {v} is not known to be safe")
    return True


# -- grep, rg --------------------------------------------------------------------------------
_GREP = Spec("EFGPiyvwxcLlmoqsbHhnTZzrRUaIuVe:f:m:A:B:C:d:D:",
             "extended-regexp fixed-strings basic-regexp perl-regexp regexp= file= ignore-case no-ignore-case "
             "word-regexp line-regexp null-data no-messages invert-match version help max-count= byte-offset "
             "line-number no-line-number line-buffered with-filename no-filename label= only-matching quiet "
             "silent binary-files= text directories= devices= recursive dereference-recursive include= "
             "exclude= exclude-from= exclude-dir= files-without-match files-with-matches count initial-tab "
             "null before-context= after-context= context= color color= colour colour=",
             roles={"-f": "read", "--file": "read", "--exclude-from": "read", "-R": "ask",
                    "--dereference-recursive": "ask"}, numeric=True)


@rule("grep", "egrep", "fgrep", "zgrep")
def _grep(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    parsed = j.options(prog, _GREP, j.expand(args, cwd), cwd)
    operands = parsed.operands
    if not parsed.has("-e", "--regexp", "-f", "--file") and operands:
        operands = operands[1:]  # the pattern
    for w in operands:
        j.read(w, cwd)
    return True


_RG = Spec("abcFhHiIjlLnNopqrsStuUvVwxzA:B:C:d:e:E:f:g:j:m:M:r:t:T:0.",
           "after-context= before-context= context= binary block-buffered byte-offset case-sensitive color= "
           "colors= column context-separator= count count-matches crlf dfa-size-limit= encoding= engine= "
           "field-context-separator= field-match-separator= file= files files-with-matches "
           "files-without-match fixed-strings follow glob= glob-case-insensitive heading help hidden iglob= "
           "ignore-case ignore-file= ignore-file-case-insensitive include-zero invert-match json line-buffered "
           "line-number line-regexp max-columns= max-columns-preview max-count= max-depth= max-filesize= "
           "mmap multiline multiline-dotall no-config no-filename no-heading no-ignore no-ignore-dot "
           "no-ignore-exclude no-ignore-files no-ignore-global no-ignore-parent no-ignore-vcs no-line-number "
           "no-messages no-mmap no-pcre2-unicode no-require-git no-unicode null null-data one-file-system "
           "only-matching passthru path-separator= pcre2 pretty quiet regex-size-limit= regexp= replace= "
           "search-zip smart-case sort= sortr= stats text threads= trim type= type-list type-not= unrestricted "
           "vimgrep with-filename word-regexp auto-hybrid-regex no-column no-context-separator "
           "no-include-zero no-search-zip no-trim version",
           roles={"--pre": "deny", "--pre-glob": "deny", "-f": "read", "--file": "read", "--ignore-file": "read",
                  "-L": "ask", "--follow": "ask", "-z": "ask", "--search-zip": "ask"}, numeric=False)


@rule("rg")
def _rg(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    parsed = j.options(prog, _RG, j.expand(args, cwd), cwd)
    for w in args:
        if w.value is not None and w.value.startswith("--pre"):
            j.deny("rg --pre runs a program on every file")
    operands = parsed.operands
    if not parsed.has("-e", "--regexp", "-f", "--file", "--files", "--type-list") and operands:
        operands = operands[1:]
    for w in operands:
        j.read(w, cwd)
    return True


# -- sort, sed ---------------------------------------------------------------------------------
_SORT = Spec("bcCdfghiMmnRrsuVzk:o:S:t:T:",
             "ignore-leading-blanks check check= dictionary-order ignore-case general-numeric-sort "
             "human-numeric-sort ignore-nonprinting month-sort merge numeric-sort random-sort reverse stable "
             "unique version-sort zero-terminated key= output= buffer-size= field-separator= "
             "temporary-directory= compress-program= files0-from= random-source= batch-size= parallel= sort= "
             "debug",
             roles={"-o": "write", "--output": "write", "-T": "write", "--temporary-directory": "write",
                    "--compress-program": "deny", "--files0-from": "read", "--random-source": "read"})


@rule("sort")
def _sort(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    parsed = j.options(prog, _SORT, j.expand(args, cwd), cwd)
    for w in parsed.operands:
        j.read(w, cwd)
    return True


_SED = Spec("nrEsuzl:e:f:i::", "quiet silent regexp-extended separate unbuffered null-data line-length= "
            "expression= file= in-place in-place= posix debug sandbox follow-symlinks",
            roles={"-f": "ask", "--file": "ask", "-i": "ask", "--in-place": "ask"})


@rule("sed")
def _sed(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    words = j.expand(args, cwd)
    parsed = j.options(prog, _SED, words, cwd)
    scripts = parsed.values("-e", "--expression")
    operands = parsed.operands
    if not scripts and not parsed.has("-f", "--file"):
        if not operands:
            return True
        scripts, operands = [operands[0]], operands[1:]
    for s in scripts:
        if s.value is None:
            j.ask(f"sed: the script {s.source} is computed by the shell")
            continue
        problem = sed_script_problem(s.value)
        if problem:
            j.out.add(Verdict.ASK, f"sed: {problem}")
    for w in operands:
        j.read(w, cwd)
    return True


def sed_script_problem(script: str) -> str:
    """Why a sed script is not plainly read-only ("" when it is): GNU sed's commands
    `e` (run a command), `w`/`W` (write a file), `r`/`R` (read a file), and the `e`/`w`
    flags of `s`. The regex is read both bracket-aware (as GNU sed does) and not; both
    readings must agree, so a mistake in this reading cannot hide a command."""
    a = _sed_scan(script, brackets=True)
    b = _sed_scan(script, brackets=False)
    if a != b:
        return "the script reads differently depending on bracket expressions; not checked"
    return a


def _sed_scan(s: str, brackets: bool) -> str:
    i, n = 0, len(s)

    def skip_ws(k: int) -> int:
        while k < n and s[k] in " \t":
            k += 1
        return k

    def regex_end(k: int, delim: str) -> int:
        """Index of the closing delimiter of a regex starting at k (-1: none)."""
        while k < n:
            c = s[k]
            if c == "\\":
                k += 2
                continue
            if brackets and c == "[":
                m = k + 1
                if m < n and s[m] == "^":
                    m += 1
                if m < n and s[m] == "]":
                    m += 1
                while m < n and s[m] != "]":
                    if s[m] == "[" and m + 1 < n and s[m + 1] in ":.=":
                        close = s.find(s[m + 1] + "]", m + 2)
                        if close < 0:
                            return -1
                        m = close + 2
                        continue
                    m += 1
                if m >= n:
                    return -1
                k = m + 1
                continue
            if c == delim:
                return k
            if c == "\n" and delim != "\n":
                return -1
            k += 1
        return -1

    def address(k: int) -> int:
        if k < n and (s[k].isdigit() or s[k] == "$"):
            k += 1
            while k < n and (s[k].isdigit() or s[k] == "~"):
                k += 1
            return k
        if k < n and s[k] in "/\\":
            delim = "/"
            if s[k] == "\\":
                if k + 1 >= n:
                    return -1
                delim = s[k + 1]
                k += 1
            end = regex_end(k + 1, delim)
            if end < 0:
                return -1
            k = end + 1
            while k < n and s[k] in "IM":
                k += 1
        return k

    while i < n:
        i = skip_ws(i)
        if i >= n:
            break
        c = s[i]
        if c in ";\n}":
            i += 1
            continue
        if c == "#":
            nl = s.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        start = i
        i = address(i)
        if i < 0:
            return "an address this reading does not understand"
        if i > start:
            i = skip_ws(i)
            if i < n and s[i] == ",":
                i = skip_ws(i + 1)
                if i < n and s[i] in "+~":
                    i += 1
                    while i < n and s[i].isdigit():
                        i += 1
                else:
                    j2 = address(i)
                    if j2 < 0 or j2 == i:
                        return "an address range this reading does not understand"
                    i = j2
        i = skip_ws(i)
        while i < n and s[i] == "!":
            i = skip_ws(i + 1)
        if i >= n:
            return "a script that ends after an address"
        c = s[i]
        i += 1
        if c in "=dDgGhHlnNpPxzFL{}":
            if c == "l" or c == "L":
                while i < n and s[i].isdigit():
                    i += 1
            continue
        if c in "qQ":
            i = skip_ws(i)
            while i < n and s[i].isdigit():
                i += 1
            continue
        if c in ":btTv":
            while i < n and s[i] not in ";\n":
                i += 1
            continue
        if c in "aic":
            nl = s.find("\n", i)
            if s[i:i + 1] == "\\" and s[i + 1:i + 2] == "\n":  # a\ newline text (continued by \ newline)
                k = i + 2
                while True:
                    nl = s.find("\n", k)
                    if nl < 0 or s[nl - 1] != "\\":
                        break
                    k = nl + 1
            i = n if nl < 0 else nl + 1
            continue
        if c in "sy":
            if i >= n or s[i] in "\n\\":
                return f"an {c} command this reading does not understand"
            delim = s[i]
            end1 = regex_end(i + 1, delim) if c == "s" else s.find(delim, i + 1)
            if end1 < 0:
                return f"an unterminated {c} command"
            k = end1 + 1
            while k < n and s[k] != delim:
                if s[k] == "\\":
                    k += 1
                k += 1
            if k >= n:
                return f"an unterminated {c} command"
            i = k + 1
            if c == "s":
                while i < n and s[i] not in ";\n} #":
                    f = s[i]
                    if f == "e":
                        return "the s command's e flag runs the pattern space as a command"
                    if f == "w":
                        return "the s command's w flag writes a file"
                    if f not in "gpiImM0123456789":
                        return f"the s flag {f!r} is not known to be safe"
                    i += 1
            continue
        if c == "e":
            return "the e command runs a shell command"
        if c in "wW":
            return "the w command writes a file"
        if c in "rR":
            return "the r command reads a file"
        return f"the command {c!r} is not known to be safe"
    return ""


# -- git ---------------------------------------------------------------------------------------
_GIT_GLOBAL = Spec("pPC:c:", "paginate no-pager git-dir= work-tree= namespace= bare no-replace-objects "
                   "literal-pathspecs glob-pathspecs noglob-pathspecs icase-pathspecs no-optional-locks "
                   "super-prefix= config-env= exec-path exec-path= list-cmds= version help html-path man-path "
                   "info-path no-lazy-fetch",
                   roles={"-c": "deny", "--config-env": "deny", "--exec-path": "deny", "--git-dir": "ask",
                          "--work-tree": "ask", "--namespace": "ask", "--super-prefix": "ask", "--bare": "ask"},
                   permute=False)
_PRETTY = ("oneline format= pretty pretty= abbrev-commit no-abbrev-commit abbrev abbrev= encoding= expand-tabs "
           "expand-tabs= no-expand-tabs notes no-notes show-signature relative-date date= parents children "
           "left-right graph show-linear-break decorate decorate= no-decorate source mailmap no-mailmap "
           "use-mailmap log-size color color= no-color ")
_DIFF_OPTS = ("patch no-patch unified= output-indicator-new= output-indicator-old= output-indicator-context= "
              "raw patch-with-raw indent-heuristic no-indent-heuristic minimal patience histogram anchored= "
              "diff-algorithm= stat stat= compact-summary numstat shortstat dirstat dirstat= cumulative summary "
              "patch-with-stat name-only name-status submodule submodule= word-diff word-diff= word-diff-regex= "
              "color-words color-words= color-moved color-moved= no-color-moved color-moved-ws= no-renames "
              "rename-empty no-rename-empty check ws-error-highlight= full-index binary abbrev abbrev= "
              "break-rewrites break-rewrites= find-renames find-renames= find-copies find-copies= "
              "find-copies-harder irreversible-delete diff-filter= find-object= pickaxe-all pickaxe-regex "
              "skip-to= rotate-to= relative relative= text ignore-cr-at-eol ignore-space-at-eol "
              "ignore-space-change ignore-all-space ignore-blank-lines ignore-matching-lines= "
              "ignore-submodules ignore-submodules= inter-hunk-context= function-context exit-code quiet "
              "no-ext-diff no-textconv src-prefix= dst-prefix= no-prefix default-prefix line-prefix= "
              "ita-invisible-in-index ita-visible-default output= ")
_LOG_LIMIT = ("max-count= skip= since= after= since-as-filter= until= before= author= committer= "
              "grep-reflog= grep= all-match invert-grep regexp-ignore-case basic-regexp extended-regexp "
              "fixed-strings perl-regexp remove-empty merges no-merges min-parents= max-parents= no-min-parents "
              "no-max-parents first-parent exclude-first-parent-only not ancestry-path simplify-by-decoration "
              "show-pulls full-history dense sparse simplify-merges topo-order date-order author-date-order "
              "reverse follow full-diff log-size no-walk no-walk= do-walk cherry-mark cherry-pick left-only "
              "right-only cherry boundary "
              "all branches branches= tags tags= remotes remotes= glob= exclude= reflog walk-reflogs bisect "
              "stdin alternate-refs indexed-objects exclude-hidden= ignore-missing ")
_HISTORY = {"--all": "", "--branches": "", "--tags": "", "--remotes": "", "--glob": "", "--exclude": "",
            "--reflog": "", "--walk-reflogs": "", "-g": "", "--bisect": "", "--stdin": "",
            "--alternate-refs": "", "--indexed-objects": "", "--exclude-hidden": "", "--grep-reflog": "",
            "--disambiguate": "", "--ext-diff": ""}
_HISTORY_ROLES = {k: "history" for k in _HISTORY} | {"--output": "write"}
_GIT_SUBCOMMANDS: dict[str, Spec] = {
    "status": Spec("sbvzu::", "short branch show-stash porcelain porcelain= long verbose untracked-files "
                   "untracked-files= ignore-submodules ignore-submodules= ignored ignored= null column column= "
                   "no-column ahead-behind no-ahead-behind renames no-renames find-renames find-renames="),
    "diff": Spec("pusazRwbWqGS:U:M::C::B::D l:O:X::", _DIFF_OPTS + "cached staged merge-base no-index",
                 roles=_HISTORY_ROLES | {"-O": "read"}),
    "log": Spec("pusqLgiEFPn:S:G:U:M::C::B::", _PRETTY + _DIFF_OPTS + _LOG_LIMIT, roles=_HISTORY_ROLES | {"-L": "ask"},
                numeric=True),
    "show": Spec("pusqgn:S:G:U:M::C::", _PRETTY + _DIFF_OPTS + _LOG_LIMIT, roles=_HISTORY_ROLES, numeric=True),
    "blame": Spec("bfcelnpstwL:M::C::S:", "root show-stats score-debug show-name show-number porcelain "
                  "line-porcelain incremental encoding= contents= date= progress no-progress ignore-rev= "
                  "ignore-revs-file= color-lines color-by-age minimal abbrev abbrev=",
                  roles={"--contents": "read", "--ignore-revs-file": "read", "-S": "ask"}),
    "ls-files": Spec("cdmoiskuvftzX:x:", "cached deleted modified others ignored stage directory no-empty-directory "
                     "unmerged killed exclude= exclude-from= exclude-per-directory= exclude-standard "
                     "error-unmatch with-tree= full-name recurse-submodules abbrev abbrev= debug eol deduplicate "
                     "sparse format= resolve-undo", roles={"-X": "read", "--exclude-from": "read"}),
    "grep": Spec("aiIvwEGFPnhHlLcoqzWrf:e:m:A:B:C:O::", "cached no-index untracked no-exclude-standard "
                 "exclude-standard recurse-submodules text textconv no-textconv ignore-case max-depth= recursive "
                 "no-recursive word-regexp invert-match full-name extended-regexp basic-regexp perl-regexp "
                 "fixed-strings line-number column files-with-matches name-only files-without-match "
                 "open-files-in-pager open-files-in-pager= null only-matching count color color= no-color break "
                 "heading show-function context= before-context= after-context= threads= function-context "
                 "max-count= and or not all-match quiet", numeric=True,
                 roles={"-O": "deny", "--open-files-in-pager": "deny", "-f": "read", "--textconv": "ask"}),
    "rev-parse": Spec("q", "verify quiet sq short short= abbrev-ref abbrev-ref= symbolic symbolic-full-name "
                      "show-toplevel show-prefix show-cdup git-dir git-common-dir absolute-git-dir "
                      "is-inside-git-dir is-inside-work-tree is-bare-repository is-shallow-repository "
                      "show-superproject-working-tree show-object-format show-object-format= default= prefix= "
                      "local-env-vars path-format= revs-only no-revs flags no-flags "
                      "all branches branches= tags tags= remotes remotes= glob= exclude= disambiguate= "
                      "since= after= until= before=", roles=_HISTORY_ROLES),
    "branch": Spec("vl", "show-current list verbose no-color color color= sort= no-column column column= "
                   "contains= no-contains= merged= no-merged= points-at= format= omit-empty abbrev= no-abbrev "
                   "ignore-case all remotes", roles={"--all": "ask", "--remotes": "ask"}),
}
_REVISION = re.compile(r"^\^?(HEAD|@|FETCH_HEAD_NO|[0-9a-f]{7,40})([~^]\d*)*$")


@rule("git")
def _git(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    parsed = j.options(prog, _GIT_GLOBAL, args, cwd)
    here = Cwd(list(cwd.dirs))
    for d in parsed.values("-C"):
        j.read(d, cwd)
        if d.value is not None:
            here = Cwd([j._resolve(d.value, x) for x in here.dirs])
    rest = parsed.operands
    if not rest:
        return True  # git, git --version
    sub = rest[0].value
    spec = _GIT_SUBCOMMANDS.get(sub or "")
    if spec is None:
        return False  # the lists decide (git commit asks, git push is denied, ...)
    sp = j.options(f"git {sub}", Spec(spec.short, spec.long, spec.roles, spec.numeric), rest[1:], here)
    for opt, _arg in sp.options:
        if spec.roles.get(opt) == "history" or (opt == "-g" and sub in ("log", "show")):
            j.deny(f"git {sub} {opt} looks into history beyond the current branch (reflogs, all refs), "
                   "which the policy keeps out of reach")
    operands = sp.operands
    words_after_dashdash = _after_dashdash(rest[1:])
    if sub == "grep" and not sp.has("-e", "-f") and operands:
        operands = operands[1:]
    if sub == "branch":
        if operands and not sp.has("--list", "-l"):
            j.ask("git branch with a name creates or changes a branch")
        return True
    for w in operands:
        v = w.value
        if v is None:
            j.ask(f"git {sub}: the argument {w.source} is computed by the shell")
            continue
        if w in words_after_dashdash or v.startswith(":") or any(
                os.path.lexists(os.path.join(d, v)) for d in here.dirs) or sub in ("ls-files", "status"):
            if not v.startswith(":"):
                j.read(w, here)
            continue
        revision_check(j, sub or "", v)
    return True


def _after_dashdash(words: list[Word]) -> list[Word]:
    for k, w in enumerate(words):
        if w.value == "--":
            return words[k + 1:]
    return []


def revision_check(j: Judge, sub: str, value: str) -> None:
    """A revision argument of git: HEAD-relative names and commit ids are fine; reflog
    syntax is refused; other names (branches, tags, remotes) ask."""
    rev, _, _path = value.partition(":")
    if "@{" in value:
        j.deny(f"git {sub} {value}: @{{...}} reads the reflog, which the policy keeps out of reach")
        return
    parts = [p for p in re.split(r"\.\.\.?", rev) if p] or ["HEAD"]
    for p in parts:
        if not _REVISION.match(p):
            j.ask(f"git {sub} {value}: a revision other than HEAD's (branches, tags and remotes are asked about)")
            return


# -- the project's code: test runners and build tools -------------------------------------------
RUNNERS = {"pytest", "py.test", "python", "python3", "mypy", "go", "cargo", "npm", "pnpm", "yarn", "node", "jest",
           "vitest", "make", "gmake", "tox", "nox", "tsc"}
_PYTEST = Spec("qvxslr:k:m:p:n:c:W:o:", "lf ff nf sw sw-skip co collect-only no-header no-summary quiet verbose "
               "exitfirst last-failed failed-first new-first stepwise stepwise-skip showlocals strict-markers "
               "strict-config disable-warnings disable-pytest-warnings tb= maxfail= durations= durations-min= "
               "color= code-highlight= deselect= ignore= ignore-glob= junitxml= junit-xml= rootdir= "
               "basetemp= import-mode= timeout= capture= runxfail doctest-modules doctest-glob= setup-show "
               "setup-only setup-plan fixtures fixtures-per-test markers cache-clear cache-show version help "
               "log-level= log-cli-level= numprocesses= dist= continue-on-collection-errors co trace-config "
               "debug no-cov cov cov= cov-report= full-trace showcapture= show-capture= pyargs "
               "confcutdir= config-file= override-ini= keep-duplicates noconftest",
               roles={"--ignore": "read", "--ignore-glob": "read", "--rootdir": "read", "-c": "read",
                      "--config-file": "read", "--confcutdir": "read", "--junitxml": "write",
                      "--junit-xml": "write", "--basetemp": "write", "--cov-report": "ask",
                      "-o": "ask", "--override-ini": "ask", "--pyargs": "ask"})


def _pytest_args(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> None:
    parsed = j.options(prog, _PYTEST, j.expand(args, cwd), cwd)
    for v in parsed.values("-p"):
        if v.value is None or not v.value.startswith("no:"):
            j.ask(f"{prog} -p {v.show()} loads a plugin")
    for w in parsed.operands:
        if w.value is not None and "::" in w.value:
            w = Word(w.source, w.value.split("::", 1)[0])
        j.read(w, cwd)
    j.runner(prog)


@rule("pytest", "py.test")
def _pytest(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    _pytest_args(j, prog, args, cwd)
    return True


_PYTHON = Spec("bBdEhiIOPqsSuvVx?W:X:", "version help", permute=False)


@rule("python", "python3", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
def _python(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    while rest and rest[0].value is not None and rest[0].value.startswith("-") and rest[0].value not in ("-m", "-c"):
        v = rest.pop(0).value or ""
        if v in ("-V", "--version", "-VV"):
            return True
        if v.startswith(("-W", "-X")) and len(v) == 2 and rest:
            rest.pop(0)
        if v[1:2] in "iI" or set(v[1:]) - set("bBdEIOPqsSuvWX"):
            return False
    if len(rest) >= 2 and rest[0].value == "-m" and rest[1].value in ("pytest", "unittest"):
        if rest[1].value == "pytest":
            _pytest_args(j, f"{prog} -m pytest", rest[2:], cwd)
        else:
            spec = Spec("vqfbck:p:s:t:", "verbose quiet failfast catch buffer locals durations= start-directory= "
                        "pattern= top-level-directory=", roles={"-s": "read", "-t": "read",
                                                                "--start-directory": "read"})
            parsed = j.options(f"{prog} -m unittest", spec, rest[2:], cwd)
            for w in parsed.operands:
                if w.value is not None and (os.sep in w.value or w.value.endswith(".py")):
                    j.read(w, cwd)
            j.runner(f"{prog} -m unittest")
        return True
    return False


@rule("mypy", "dmypy")
def _mypy(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    if prog == "dmypy":
        return False
    spec = Spec("vVhp:m:c:", "strict ignore-missing-imports no-error-summary show-error-codes hide-error-codes "
                "pretty no-incremental incremental follow-imports= python-version= config-file= cache-dir= "
                "no-implicit-optional warn-unused-ignores warn-return-any check-untyped-defs "
                "disallow-untyped-defs show-column-numbers show-error-context no-color-output "
                "explicit-package-bases namespace-packages exclude= package= module= version help "
                "install-types non-interactive",
                roles={"--config-file": "read", "--cache-dir": "write", "--install-types": "deny",
                       "-c": "ask"})
    parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
    for w in parsed.operands:
        j.read(w, cwd)
    j.runner(prog)  # mypy plugins in the project's configuration are code
    return True


@rule("go")
def _go(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    if not args or args[0].value not in ("test", "build", "vet"):
        if args and args[0].value in ("version", "env") and len(args) == 1:
            return True
        return False
    sub = args[0].value
    words = [Word(w.source, "-" + w.value[2:]) if w.value and w.value.startswith("--") else w for w in args[1:]]
    allowed_flag = {"-v", "-race", "-short", "-cover", "-benchmem", "-failfast", "-json", "-trimpath", "-x", "-n",
                    "-a", "-modcacherw", "-buildvcs=false", "-i"}
    allowed_valued = {"-run", "-count", "-timeout", "-bench", "-benchtime", "-tags", "-p", "-mod", "-covermode",
                      "-coverpkg", "-cpu", "-parallel", "-shuffle", "-skip", "-list", "-vet", "-o",
                      "-coverprofile", "-cpuprofile", "-memprofile", "-outputdir"}
    write_opts = {"-o", "-coverprofile", "-cpuprofile", "-memprofile", "-outputdir"}
    i = 0
    while i < len(words):
        w = words[i]
        v = w.value
        i += 1
        if v is None:
            j.ask(f"go {sub}: the argument {w.source} is computed by the shell")
            continue
        if v == "-args":
            break  # the rest goes to the test binary, which is the project's code
        if not v.startswith("-"):
            if v.startswith((".", "/")):
                j.read(Word(w.source, v.rstrip(".").rstrip("/") or "."), cwd)
            continue
        name, eq, val = v.partition("=")
        if name in ("-exec", "-toolexec"):
            j.deny(f"go {sub} {name} runs another program")
        elif v in allowed_flag:
            pass
        elif name in allowed_valued:
            value = Word(w.source, val) if eq else (words[i] if i < len(words) else Word("", ""))
            if not eq:
                i += 1
            if name in write_opts:
                j.write(value, cwd)
        else:
            j.ask(f"go {sub} {name} is not known to be safe")
    j.runner(f"go {sub}")
    return True


@rule("cargo")
def _cargo(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    before = args
    for k, w in enumerate(args):
        if w.value == "--":
            before = args[:k]
            break
    for w in before:
        if w.value is None or w.value.startswith(("--config", "-Z", "+")):
            j.deny(f"cargo {w.show()}: configuration on the command line can make cargo run other programs")
            return True
    subs = [w for w in before if not (w.value or "").startswith("-")]
    if not subs or subs[0].value not in ("test", "build", "check", "clippy", "t", "b", "c"):
        return bool(before) and before[0].value in ("--version", "-V") and len(before) == 1
    sub = subs[0].value
    spec = Spec("qvrpjF:", "release lib bins bin= tests test= examples example= benches bench= all-targets "
                "workspace all package= exclude= features= all-features no-default-features no-fail-fast "
                "no-run quiet verbose frozen locked offline jobs= doc message-format= color= manifest-path= "
                "target-dir= keep-going timings profile= ignore-rust-version",
                roles={"--manifest-path": "read", "--target-dir": "write"})
    parsed = j.options(f"cargo {sub}", spec, [w for w in before if w is not subs[0]], cwd)
    if parsed.operands:
        j.ask(f"cargo {sub}: unexpected arguments {' '.join(w.show() for w in parsed.operands)}")
    if len(before) < len(args) and sub == "clippy":
        j.ask("cargo clippy -- options are not checked")
    j.runner(f"cargo {sub}")
    return True


_SCRIPTS = {"test", "tests", "lint", "build", "check", "typecheck", "type-check", "unit", "test:unit"}


@rule("npm", "pnpm", "yarn")
def _npm(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    words = list(args)
    flags = [w for w in words if w.value is not None and w.value.startswith("-") and w.value != "--"]
    operands = [w for w in words if w not in flags]
    if not operands:
        return False
    sub = operands[0].value
    if sub in ("test", "t", "tst"):
        script = "test"
        extra = operands[1:]
    elif sub in ("run", "run-script") and len(operands) >= 2:
        script = operands[1].value or "?"
        extra = operands[2:]
    else:
        return False
    if script not in _SCRIPTS:
        j.ask(f"{prog} run {script}: only test, lint, build and check scripts run unasked")
    for w in flags:
        if w.value not in ("-s", "--silent", "-q", "--quiet", "--if-present"):
            j.ask(f"{prog} {w.value} is not known to be safe")
    del extra  # words after `--` go to the script, which is the project's code
    j.runner(f"{prog} {script}")
    return True


@rule("node")
def _node(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    if not args or args[0].value not in ("--test", "--version", "-v"):
        return False
    if args[0].value != "--test":
        return True
    spec = Spec("", "test test-name-pattern= test-reporter= test-reporter-destination= test-only "
                "experimental-test-coverage test-concurrency= test-timeout= test-skip-pattern=",
                roles={"--test-reporter-destination": "write"})
    parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
    for w in parsed.operands:
        j.read(w, cwd)
    j.runner("node --test")
    return True


@rule("jest", "vitest")
def _jest(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    if prog == "vitest" and rest and rest[0].value in ("run", "related"):
        rest = rest[1:]
    spec = Spec("it:c:", "run ci coverage verbose silent bail passWithNoTests runInBand watch=false watchAll=false "
                "testNamePattern= reporter= config= no-watch no-cache clearCache detectOpenHandles "
                "testPathPattern= t= maxWorkers= json",
                roles={"-c": "read", "--config": "read"})
    parsed = j.options(prog, spec, j.expand(rest, cwd), cwd)
    for w in parsed.operands:
        if w.value is not None and (os.path.lexists(os.path.join(cwd.dirs[0], w.value)) or "/" in w.value):
            j.read(w, cwd)
    j.runner(prog)
    return True


_MAKE_TARGETS = {"test", "tests", "check", "lint", "typecheck", "build", "unit", "test-unit", "all"}


@rule("make", "gmake")
def _make(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("ikqrRsSwBnj::l::f:C:I:", "silent quiet keep-going jobs jobs= no-print-directory print-directory "
                "always-make dry-run just-print recon question file= makefile= directory= include-dir= "
                "warn-undefined-variables", roles={"-f": "read", "--file": "read", "--makefile": "read",
                                                   "-C": "read", "--directory": "read", "-I": "read",
                                                   "--include-dir": "read"})
    for w in args:
        if w.value is not None and w.value.startswith(("--eval", "-E")):
            j.deny(f"{prog} {w.value} runs make code from the command line")
    parsed = j.options(prog, spec, args, cwd)
    targets = parsed.operands
    if not targets:
        j.ask(f"{prog} without a target builds the default target")
    for t in targets:
        v = t.value
        if v is None or "=" in v:
            j.ask(f"{prog} {t.source}: overriding a Makefile variable changes what its recipes run")
        elif v not in _MAKE_TARGETS:
            j.ask(f"{prog} {v}: only test, check, lint, typecheck and build targets run unasked")
    j.runner(f"{prog} {' '.join(t.show() for t in targets)}".strip())
    return True


@rule("tox", "nox")
def _tox(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("qvre:s:p::", "quiet verbose recreate session= sessions= parallel parallel= no-install "
                "reuse-existing-virtualenvs list", permute=False)
    parsed = j.options(prog, spec, args, cwd)
    if parsed.operands:
        j.ask(f"{prog}: arguments passed on to the environments are not checked")
    j.runner(prog)
    return True


@rule("tsc")
def _tsc(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("bp:", "noEmit build project= pretty strict incremental listFiles version help "
                "skipLibCheck", roles={"-p": "read", "--project": "read"})
    parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
    for w in parsed.operands:
        j.read(w, cwd)
    j.runner(prog)
    return True


@rule("ruff")
def _ruff(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    rest = list(args)
    sub = rest[0].value if rest else None
    if sub not in ("check", "format", "--version", "version", None) and not (sub or "").startswith("-"):
        return False
    if sub in ("check", "format"):
        rest = rest[1:]
    spec = Spec("eqsn", "select= ignore= extend-select= extend-ignore= exit-zero quiet silent no-cache "
                "output-format= statistics show-fixes no-fix diff check config= line-length= target-version= "
                "exclude= extend-exclude= respect-gitignore no-respect-gitignore preview version",
                roles={"--config": "read", "--fix": "ask", "--unsafe-fixes": "ask", "--add-noqa": "ask",
                       "--output-file": "write", "-o": "write", "--cache-dir": "write"})
    parsed = j.options(prog, spec, j.expand(rest, cwd), cwd)
    if sub == "format" and not parsed.has("--check", "--diff"):
        j.ask("ruff format rewrites files without review (--check or --diff only show)")
    for w in parsed.operands:
        j.read(w, cwd)
    return True


@rule("black")
def _black(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    spec = Spec("qvlSCt:", "check diff color no-color quiet verbose line-length= target-version= "
                "skip-string-normalization skip-magic-trailing-comma fast safe preview config= include= "
                "exclude= extend-exclude= version", roles={"--config": "read"})
    parsed = j.options(prog, spec, j.expand(args, cwd), cwd)
    if not parsed.has("--check", "--diff"):
        j.ask("black rewrites files without review (--check or --diff only show)")
    for w in parsed.operands:
        j.read(w, cwd)
    return True



@rule("rm", "rmdir", "mv", "cp", "tee", "touch", "mkdir", "chmod", "chgrp", "ln", "truncate", "install",
      "shred", "unlink", "link", "rsync", "dd")
def _writers(j: Judge, prog: str, args: list[Word], cwd: Cwd) -> bool:
    """Programs that change files: always asked about (the lists), refused outright when
    a path they name lies outside the workspace or is computed by the shell."""
    for w in j.expand(args, cwd):
        v = w.value
        if v is None:
            continue
        if v.startswith("-"):
            if "=" not in v:
                continue
            v = v.split("=", 1)[1]
        if v in _DEV_OK:
            continue
        for d in cwd.dirs:
            if j.rel(j._resolve(v, d)) is None:
                j.deny(f"{prog} {w.show()}: outside the workspace")
                break
    return False


_NOT_ALLOWING = {"rm", "rmdir", "mv", "cp", "tee", "touch", "mkdir", "chmod", "chgrp", "ln", "truncate",
                 "install", "shred", "unlink", "link", "rsync", "dd", "setsid", "flock", "watch", "xargs"}
# Programs that can run without asking (with the options their rule allows).
ALLOWED_PROGRAMS = tuple(sorted(n for n in RULES if n not in _NOT_ALLOWING))

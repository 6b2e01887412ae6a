"""Command lines read the way bash reads them, into simple commands with known words.

The policy must judge what the shell will run, not what a line looks like, so the
line is parsed with a real shell grammar (tree-sitter-bash) after bash itself has
normalised it: `bash --pretty-print` (bash >= 5.2) reads the line without running
anything and prints its own parse (line continuations joined, `$'…'` decoded,
redirections spelled out), which tree-sitter then parses. Without such a bash, line
continuations are joined here as bash would.

Every word is evaluated the way the shell would expand it, as far as that can be
known before it runs: quotes and escapes removed, `$NAME` / `${NAME}` taken from the
environment the command will get (unless the line assigns the name), `~` from HOME;
unquoted glob characters and brace expansions are flagged; anything else (special
parameters, `${x:-y}`, arithmetic) makes the word's value unknown. Command and
process substitution anywhere are reported as DENY (what would run cannot be
checked word by word), and every construct this module does not fully understand
(a parse error, a function definition, an arithmetic command...) is reported as ASK,
never ignored.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .verdict import Verdict

MAX_LINE = 20_000
MAX_DEPTH = 150


@dataclass(frozen=True)
class Word:
    """One word of a command after expansion, as far as it can be known."""

    source: str
    value: str | None  # None: the shell computes it at run time (see `unknown`)
    glob: bool = False  # unquoted *, ? or [: the shell may replace it by file names
    brace: bool = False  # unquoted {a,b} or {1..3}: the shell makes several words of it
    vanishes: bool = False  # an unquoted expansion to nothing: the shell drops the word
    expanded: tuple[str, ...] = ()  # the parameters it expands
    unknown: str = ""

    @property
    def static(self) -> bool:
        """The word is exactly one known string."""
        return self.value is not None and not self.glob and not self.brace and not self.vanishes

    def show(self) -> str:
        return self.value if self.value is not None and not (self.glob or self.brace) else self.source


@dataclass(frozen=True)
class Redirect:
    op: str  # >, >>, >|, &>, &>>, <, <>, >&, <&, <<, <<-, <<<
    fd: str | None
    target: Word | None  # None for here-documents

    @property
    def writes(self) -> bool:
        if self.op in (">", ">>", ">|", "&>", "&>>", "<>"):
            return True
        if self.op == ">&" and self.target is not None:
            return not _is_fd(self.target)
        return False

    @property
    def reads(self) -> bool:
        if self.op in ("<", "<>"):
            return True
        if self.op == "<&" and self.target is not None:
            return not _is_fd(self.target)
        return False


def _is_fd(word: Word) -> bool:
    return word.value is not None and re.fullmatch(r"\d+-?|-", word.value) is not None


@dataclass
class SimpleCommand:
    """One simple command: its prefix assignments, its words, its redirections."""

    words: list[Word] = field(default_factory=list)
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    declaration: str = ""  # export / declare / local / readonly / typeset

    def argv(self) -> list[Word]:
        return [w for w in self.words if not w.vanishes]


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    reason: str


@dataclass
class ParsedLine:
    commands: list[SimpleCommand]
    findings: list[Finding]
    assigned: frozenset[str]  # names the line itself assigns (their values are not known)
    text: str  # what was parsed (bash's normalised form when available)


# -- normalising ------------------------------------------------------------------
@functools.cache
def bash_path() -> str | None:
    """The bash that commands run with (and that normalises lines), if any."""
    for cand in ("/bin/bash", "/usr/bin/bash", shutil.which("bash")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def _pretty_print(bash: str, text: str) -> subprocess.CompletedProcess[bytes] | None:
    """bash's own printing of its parse of `text`, read from a file (so nothing runs)."""
    with tempfile.TemporaryDirectory(prefix="qwill-sh-") as tmp:
        path = os.path.join(tmp, "line")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        try:
            return subprocess.run([bash, "--norc", "--noprofile", "--pretty-print", path], capture_output=True,
                                  timeout=10, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        except (OSError, subprocess.TimeoutExpired):
            return None


@functools.cache
def _pretty_printer() -> str | None:
    """bash >= 5.2 with `--pretty-print` (prints its parse of a file without running it)."""
    bash = bash_path()
    r = _pretty_print(bash, "a\\\nb\n") if bash else None
    return bash if r is not None and r.returncode == 0 and r.stdout.strip() == b"ab" else None


def normalise(line: str) -> tuple[str, str]:
    """(the line as bash parses it, a problem or ""): bash's own pretty-print when it
    can, else line continuations joined the way bash joins them."""
    bash = _pretty_printer()
    if bash is None:
        return _join_continuations(line), ""
    r = _pretty_print(bash, line)
    if r is None:
        return _join_continuations(line), "bash could not read the line"
    if r.returncode == 0:
        return r.stdout.decode("utf-8", errors="surrogateescape"), ""
    err = r.stderr.decode("utf-8", errors="replace").strip().splitlines()
    why = err[0].split(": ", 2)[-1] if err else "syntax error"
    return _join_continuations(line), f"bash cannot parse the line ({why})"


def _join_continuations(line: str) -> str:
    """Remove backslash-newline pairs outside single quotes and comments, as bash does."""
    out: list[str] = []
    i, n = 0, len(line)
    quote = ""  # "'", '"', "$'"
    while i < n:
        c = line[i]
        if quote == "'":
            out.append(c)
            if c == "'":
                quote = ""
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if line[i + 1] == "\n":
                i += 2
                continue
            out.append(line[i:i + 2])
            i += 2
            continue
        if quote in ("$'", '"'):
            out.append(c)
            if c == quote[-1]:
                quote = ""
            i += 1
            continue
        if c == "'":
            quote = "'"
        elif c == '"':
            quote = '"'
        elif c == "$" and line[i + 1:i + 2] == "'":
            out.append("$'")
            quote = "$'"
            i += 2
            continue
        elif c == "#" and (not out or out[-1][-1:] in " \t\n;&|()<>"):
            end = line.find("\n", i)
            end = n if end < 0 else end
            out.append(line[i:end])
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


# -- parsing ----------------------------------------------------------------------
@functools.cache
def _language():  # type: ignore[no-untyped-def]
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Language(tree_sitter_bash.language())


def _parse_tree(text: str):  # type: ignore[no-untyped-def]
    import tree_sitter

    return tree_sitter.Parser(_language()).parse(text.encode("utf-8", errors="surrogateescape"))


# bash sets these itself, whatever the environment says
_SHELL_VARIABLES = frozenset({
    "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0", "BASH_CMDS",
    "BASH_COMMAND", "BASH_LINENO", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL", "BASH_VERSINFO",
    "BASH_VERSION", "COLUMNS", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME", "GROUPS",
    "HISTCMD", "HOSTNAME", "HOSTTYPE", "IFS", "LINENO", "LINES", "MACHTYPE", "OLDPWD", "OPTARG", "OPTIND",
    "OSTYPE", "PIPESTATUS", "PPID", "PS1", "PS2", "PS4", "PWD", "RANDOM", "REPLY", "SECONDS", "SHELLOPTS",
    "SHLVL", "SRANDOM", "UID", "_",
})
_WORD_TYPES = frozenset({"word", "string", "raw_string", "ansi_c_string", "translated_string", "concatenation",
                         "simple_expansion", "expansion", "number", "command_substitution",
                         "process_substitution", "arithmetic_expansion", "brace_expression", "extglob_pattern",
                         "string_content", "array", "special_variable_name", "variable_name"})
_RESERVED = frozenset({"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for",
                       "in", "case", "esac", "select", "function", "time", "coproc", "[[", "]]"})
_WORDISH = _WORD_TYPES | {"command_name", "variable_assignment"}
_ASSIGNERS = frozenset({"read", "mapfile", "readarray", "getopts", "printf", "let", "declare", "typeset",
                        "local", "export", "readonly", "unset", "cd", "pushd", "popd"})


class _Walker:
    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.src = text.encode("utf-8", errors="surrogateescape")
        self.env = env
        self.commands: list[SimpleCommand] = []
        self.findings: list[Finding] = []
        self.assigned: set[str] = set()

    def text(self, node) -> str:  # type: ignore[no-untyped-def]
        return self.src[node.start_byte:node.end_byte].decode("utf-8", errors="surrogateescape")

    def note(self, verdict: Verdict, reason: str) -> None:
        if not any(f.reason == reason for f in self.findings):
            self.findings.append(Finding(verdict, reason))

    # first pass: what no position may hold, and the names the line assigns
    def scan(self, root) -> None:  # type: ignore[no-untyped-def]
        stack = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.note(Verdict.ASK, "the line nests too deeply to be checked")
                continue
            t = node.type
            if node.is_error or node.is_missing or t == "ERROR":
                self.note(Verdict.ASK, "the shell grammar does not fully understand the line")
            kids = node.children
            for a, b in pairwise(kids):
                if a.end_byte == b.start_byte and (
                        (a.type in _RESERVED and not a.is_named and (b.is_named or b.type in _RESERVED))
                        or (b.type in _RESERVED and not b.is_named and a.is_named and a.type != "comment")):
                    # a reserved word is one only as a word of its own (`!x` is a word to bash)
                    self.note(Verdict.ASK, f"the shell grammar reads '{a.type if a.type in _RESERVED else b.type}'"
                                           " as a reserved word where bash may not")
            if node.child_count and t not in ("heredoc_body", "string", "raw_string", "ansi_c_string",
                                                 "translated_string") and self._gap(node):
                self.note(Verdict.ASK, "the shell grammar skipped part of the line")
            if t == "expansion" and re.search(r"@\s*P", self.text(node)):
                # ${X@P} expands X as a prompt string, and prompts run their command substitutions
                self.note(Verdict.ASK, "prompt expansion (${X@P}) can run the commands in a variable's value")
            if t in ("command_substitution", "process_substitution"):
                what = "command substitution ($(...) or backticks)" if t == "command_substitution" \
                    else "process substitution (<(...) or >(...))"
                self.note(Verdict.DENY, f"{what} is not allowed: its output becomes words that cannot be checked")
            elif t == "variable_assignment":
                name = node.child_by_field_name("name")
                if name is not None:
                    if name.type == "subscript":
                        name = name.child_by_field_name("name") or name
                    self.assigned.add(self.text(name))
            elif t == "for_statement" or t == "select_statement":
                var = node.child_by_field_name("variable")
                if var is not None:
                    self.assigned.add(self.text(var))
            elif t == "declaration_command" or t == "unset_command":
                for c in node.named_children:
                    if c.type == "variable_name":
                        self.assigned.add(self.text(c))
            elif t == "command":
                name = node.child_by_field_name("name")
                if name is not None and self.text(name) in _ASSIGNERS:
                    # read X, printf -v X, cd (PWD): every operand may be a name it sets
                    for arg in node.children_by_field_name("argument"):
                        self.assigned.add(self.text(arg))
                    if self.text(name) in ("cd", "pushd", "popd"):
                        self.assigned.update(("PWD", "OLDPWD"))
            stack.extend((c, depth + 1) for c in node.children)

    def _gap(self, node) -> bool:  # type: ignore[no-untyped-def]
        """Does `node` hold text that none of its children covers (tree-sitter drops some
        tokens, such as a word made of an escaped space, without an error)?"""
        pos = node.start_byte
        for c in node.children:
            if _visible(self.src[pos:c.start_byte]):
                return True
            pos = max(pos, c.end_byte)
        return _visible(self.src[pos:node.end_byte])

    # second pass: statements
    def statement(self, node, depth: int = 0) -> None:  # type: ignore[no-untyped-def]
        if depth > MAX_DEPTH:
            return
        t = node.type
        if not node.is_named:
            return
        if t in ("program", "list", "pipeline", "subshell", "do_group", "negated_command", "if_statement",
                 "elif_clause", "else_clause", "while_statement", "case_statement", "case_item"):
            for i, c in enumerate(node.children):
                field_name = node.field_name_for_child(i)
                if field_name == "value" or (t == "case_item" and c.type in _WORD_TYPES):
                    self.word(c)  # the case subject, the patterns: words, not commands
                elif c.type in _WORD_TYPES:
                    self.word(c)
                else:
                    self.statement(c, depth + 1)
        elif t == "compound_statement":
            if node.children and node.children[0].type == "((":
                self.note(Verdict.ASK, "arithmetic commands ((...)) are not checked")
            for c in node.children:
                self.statement(c, depth + 1)
        elif t == "for_statement":
            for i, c in enumerate(node.children):
                if node.field_name_for_child(i) == "value" or c.type in _WORD_TYPES:
                    self.word(c)
                elif c.type != "variable_name":
                    self.statement(c, depth + 1)
        elif t == "redirected_statement":
            body = node.child_by_field_name("body")
            redirects = [r for c in node.children_by_field_name("redirect") for r in self.redirects(c)]
            if body is not None and body.type == "command":
                self.command(body, extra_redirects=redirects)
            else:
                if body is not None:
                    self.statement(body, depth + 1)
                self.commands.append(SimpleCommand(redirects=redirects))
        elif t == "command":
            self.command(node)
        elif t in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
            # a redirection where the grammar did not attach it to a command (inside a part it
            # did not understand): still one bash may perform, judged as such
            self.note(Verdict.ASK, "the shell grammar does not fully understand the line")
            self.commands.append(SimpleCommand(redirects=self.redirects(node)))
        elif t in ("variable_assignment", "variable_assignments"):
            cmd = SimpleCommand()
            for a in ([node] if t == "variable_assignment" else node.named_children):
                if a.type == "variable_assignment":
                    cmd.assignments.append(self.assignment(a))
            self.commands.append(cmd)
        elif t == "declaration_command":
            self.declaration(node)
        elif t == "unset_command":
            words = [Word(self.text(c), self.text(c)) for c in node.children]
            self.commands.append(SimpleCommand(words=words))
        elif t == "test_command":
            words = [Word("[[", "[[")] + [self.word(c) for c in self._leaf_words(node)]
            self.commands.append(SimpleCommand(words=words))
        elif t == "comment" or t in ("heredoc_body", "heredoc_end", "heredoc_start"):
            return
        elif t == "function_definition":
            self.note(Verdict.ASK, "function definitions are not checked (a function can stand in for a command)")
            for c in node.named_children:
                if c.type != "word":
                    self.statement(c, depth + 1)
        else:
            if t == "ERROR":
                self.note(Verdict.ASK, "the shell grammar does not fully understand the line")
            else:
                self.note(Verdict.ASK, f"the shell construct '{t}' is not checked")
            for c in node.children:
                if c.type in _WORD_TYPES:
                    self.word(c)
                else:
                    self.statement(c, depth + 1)

    def _leaf_words(self, node) -> Iterator[Any]:  # type: ignore[no-untyped-def]
        for c in node.named_children:
            if c.type in _WORD_TYPES:
                yield c
            elif c.type not in ("test_operator",):
                yield from self._leaf_words(c)

    def command(self, node, extra_redirects: list[Redirect] | None = None) -> None:  # type: ignore[no-untyped-def]
        cmd = SimpleCommand()
        children = list(node.children)
        for a, b in pairwise(children):
            if a.type in _WORDISH and b.type in _WORDISH and a.end_byte == b.start_byte:
                # one word to bash, two to the grammar (`${HOME}\c`)
                self.note(Verdict.ASK, "the shell grammar splits a word that bash reads as one")
        for i, c in enumerate(children):
            fname = node.field_name_for_child(i)
            if c.type == "variable_assignment":
                cmd.assignments.append(self.assignment(c))
            elif c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                cmd.redirects.extend(self.redirects(c))
            elif fname == "name" or c.type == "command_name":
                inner = c.named_children[0] if c.named_children else c
                cmd.words.append(self.word(inner))
            elif c.type in _WORD_TYPES:
                nxt = children[i + 1] if i + 1 < len(children) else None
                if (c.type == "number" and nxt is not None and nxt.type == "file_redirect"
                        and nxt.start_byte == c.end_byte and nxt.child_by_field_name("descriptor") is None):
                    continue  # `0<x`: a file descriptor the grammar read as a word
                cmd.words.append(self.word(c))
            elif c.is_named:
                self.note(Verdict.ASK, f"the shell construct '{c.type}' in a command is not checked")
                self.statement(c)  # what it holds is still judged
            else:
                self.note(Verdict.ASK, f"the shell grammar reads '{c.type}' in a command as an operator")
        cmd.redirects.extend(extra_redirects or [])
        if (not cmd.assignments and not cmd.redirects and [w.source for w in cmd.words] in (["time"], ["time", "-p"])
                and self._starts_pipeline(node)):
            return  # bash's reserved word timing an empty pipeline: no command runs
        self.commands.append(cmd)

    @staticmethod
    def _starts_pipeline(node) -> bool:  # type: ignore[no-untyped-def]
        """`node` is the first command of its pipeline (where `time` is bash's reserved word)."""
        parent = node.parent
        return parent is None or parent.type != "pipeline" or parent.named_children[0].id == node.id

    def declaration(self, node) -> None:  # type: ignore[no-untyped-def]
        keyword = node.children[0].type if node.children else "declare"
        cmd = SimpleCommand(declaration=keyword, words=[Word(keyword, keyword)])
        for c in node.children[1:]:
            if c.type == "variable_assignment":
                cmd.assignments.append(self.assignment(c))
            elif c.type == "variable_name":
                cmd.words.append(Word(self.text(c), self.text(c)))
            elif c.type in _WORD_TYPES:
                cmd.words.append(self.word(c))
        self.commands.append(cmd)

    def assignment(self, node) -> tuple[str, Word]:  # type: ignore[no-untyped-def]
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        text = self.text(name) if name is not None else "?"
        if name is not None and name.type == "subscript":
            self.note(Verdict.ASK, "array element assignments are not checked")
        if any(c.type == "+=" for c in node.children):
            self.note(Verdict.ASK, f"appending to {text} (+=) is not checked")
        if value is None:
            return text, Word("", "")
        if value.type == "array":
            for c in value.named_children:
                self.word(c)
            return text, Word(self.text(value), None, unknown="an array")
        return text, self.word(value)

    def redirects(self, node) -> list[Redirect]:  # type: ignore[no-untyped-def]
        """A redirection node as the redirections bash performs. A here-document's node holds
        what follows its marker on the line (`cat <<EOF > out`, `cat <<EOF | tee out`): those
        redirections and commands are the line's too."""
        if node.type != "heredoc_redirect":
            return [self.redirect(node)]
        op = next((c.type for c in node.children if c.type in ("<<", "<<-")), "<<")
        out = [Redirect(op, None, None)]
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        quoted = start is not None and any(q in self.text(start) for q in "'\"\\")
        for c in node.children:
            if c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                out.extend(self.redirects(c))
            elif c.type == "heredoc_body":
                if not quoted and "`" in self.text(c):
                    # bash runs backticks in an unquoted here-document; the grammar leaves them text
                    self.note(Verdict.DENY, "command substitution ($(...) or backticks) is not allowed: "
                                            "its output becomes words that cannot be checked")
            elif c.is_named and c.type not in ("heredoc_start", "heredoc_end", "comment"):
                self.statement(c)
        return out

    def redirect(self, node) -> Redirect:  # type: ignore[no-untyped-def]
        t = node.type
        if t == "herestring_redirect":
            words = [c for c in node.named_children if c.type in _WORD_TYPES]
            for w in words:
                self.word(w)
            return Redirect("<<<", None, None)
        fd_node = node.child_by_field_name("descriptor")
        dests = node.children_by_field_name("destination")
        op = next((c.type for c in node.children if not c.is_named), "")
        if len(dests) != 1:
            self.note(Verdict.ASK, "a redirection the shell grammar does not fully understand")
            for d in dests:
                self.word(d)
            target = None if not dests else Word(self.text(node), None, unknown="an unclear redirection")
            return Redirect(op or ">", None, target or Word(self.text(node), None, unknown="no target"))
        return Redirect(op, self.text(fd_node) if fd_node is not None else None, self.word(dests[0]))

    # -- words ---------------------------------------------------------------------------
    def word(self, node) -> Word:  # type: ignore[no-untyped-def]
        ev = _Eval(self)
        ev.node(node, quoted=False, top=True)
        return ev.result(self.text(node))


class _Eval:
    """Expands one word: a list of (text, quoted) pieces, or unknown."""

    def __init__(self, walker: _Walker) -> None:
        self.w = walker
        self.pieces: list[tuple[str, bool]] = []
        self.unknown = ""
        self.expanded: list[str] = []
        self.glob = False
        self.brace = False
        self.had_quotes = False
        self.only_expansions = True

    def fail(self, why: str) -> None:
        if not self.unknown:
            self.unknown = why

    def node(self, node, quoted: bool, top: bool = False) -> None:  # type: ignore[no-untyped-def]
        t = node.type
        text = self.w.text(node)
        if t == "word" or t == "number" or (t == "variable_name" and not quoted):
            self.only_expansions = False
            self._literal(text, quoted)
        elif t == "raw_string":
            self.only_expansions = False
            self.had_quotes = True
            self.pieces.append((text[1:-1], True))
        elif t == "ansi_c_string":
            self.only_expansions = False
            self.had_quotes = True
            self.pieces.append((_ansi_c(text[2:-1]), True))
        elif t in ("string", "translated_string"):
            self.only_expansions = False
            self.had_quotes = True
            pos = None
            for c in node.children:
                if pos is not None and c.start_byte > pos:  # text the grammar left between children
                    self._dquoted(self.w.src[pos:c.start_byte].decode("utf-8", errors="surrogateescape"))
                pos = c.end_byte
                if not c.is_named:
                    if c.type not in ('"', '$"'):
                        self.pieces.append((self.w.text(c), True))
                    continue
                self.node(c, quoted=True)
        elif t == "string_content":
            self._dquoted(text)
        elif t == "concatenation":
            for c in node.children:
                self.node(c, quoted)
        elif t in ("simple_expansion", "expansion"):
            self._expansion(node, quoted)
        elif t == "brace_expression":
            self.only_expansions = False
            self.brace = True
            self.pieces.append((text, False))
        elif t in ("command_substitution", "process_substitution"):
            self.fail("command substitution")
        elif t == "arithmetic_expansion":
            self.fail("arithmetic expansion")
        else:
            self.fail(f"'{t}'")

    def _dquoted(self, text: str) -> None:
        """Text inside double quotes: a backslash quotes only $ ` " \\ and newline."""
        self.pieces.append((re.sub(r"\\([$`\"\\\n])", lambda m: "" if m.group(1) == "\n" else m.group(1), text), True))

    def _literal(self, text: str, quoted: bool) -> None:
        """A bare word: backslash escapes quote the next character; unquoted pattern
        characters make it a glob."""
        if quoted:
            self.pieces.append((text, True))
            return
        i = 0
        buf: list[str] = []

        def flush(q: bool) -> None:
            if buf:
                self.pieces.append(("".join(buf), q))
                buf.clear()

        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                flush(False)
                if text[i + 1] != "\n":
                    self.pieces.append((text[i + 1], True))
                self.had_quotes = True
                i += 2
                continue
            if c in "*?[":
                self.glob = True
            if c in "\n \t":
                self.w.note(Verdict.ASK, "the shell grammar and bash split words differently here")
            buf.append(c)
            i += 1
        flush(False)

    def _expansion(self, node, quoted: bool) -> None:  # type: ignore[no-untyped-def]
        names = [c for c in node.named_children]
        plain = (len(names) == 1 and names[0].type == "variable_name"
                 and all(not c.is_named for c in node.children if c is not names[0])
                 and {c.type for c in node.children if not c.is_named} <= {"$", "${", "}"})
        if not plain:
            self.fail(f"the expansion {self.w.text(node)}")
            return
        name = self.w.text(names[0])
        self.expanded.append(name)
        if name in self.w.assigned:
            self.fail(f"${name} is set by the line itself")
            return
        if name in _SHELL_VARIABLES or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.fail(f"${name} is set by the shell")
            return
        value = self.w.env.get(name, "")
        if not quoted:
            if re.search(r"[ \t\n]", value):
                self.fail(f"${name} splits into several words")
                return
            if re.search(r"[*?\[]", value):
                self.glob = True
        self.pieces.append((value, quoted))

    def result(self, source: str) -> Word:
        if self.unknown:
            return Word(source, None, unknown=self.unknown, expanded=tuple(self.expanded))
        pieces = list(self.pieces)
        # tilde expansion: an unquoted ~ or ~user at the start, up to the first slash
        if (source.startswith("~") and pieces and not pieces[0][1] and pieces[0][0].startswith("~")
                and ("/" in pieces[0][0] or len(pieces) == 1)):  # a quoted char in the prefix stops it
            head, sep, rest = pieces[0][0].partition("/")
            if re.search(r"[=:]~", pieces[0][0]):
                # bash also ends the prefix at '=' or ':' when a tilde follows (`~=~` is $HOME=~)
                return Word(source, None, unknown=f"{source} is expanded by the shell")
            home = _tilde(head[1:], self.w.env)
            if home is None:
                return Word(source, None, unknown=f"{head} is expanded by the shell")
            pieces[0] = (home + sep + rest, True)
        if pieces and not pieces[0][1] and re.match(r"[A-Za-z_][A-Za-z0-9_]*=(.*:)?~", pieces[0][0]):
            # bash expands ~ after = and : in a word that looks like an assignment
            return Word(source, None, unknown="a tilde after '=' that bash expands")
        value = "".join(p for p, _ in pieces)
        masked = "".join(p if not q else "\x00" * len(p) for p, q in pieces)
        brace = self.brace or re.search(r"\{[^{}\x00]*(,|\.\.)[^{}\x00]*\}", masked) is not None
        vanishes = value == "" and not self.had_quotes and bool(self.expanded) and self.only_expansions
        return Word(source, value, glob=self.glob, brace=brace, vanishes=vanishes, expanded=tuple(self.expanded))


def _tilde(user: str, env: Mapping[str, str]) -> str | None:
    if user == "":
        home = env.get("HOME")
        if home:
            return home
        user_entry = None
        try:
            user_entry = pwd.getpwuid(os.getuid())
        except KeyError:
            return None
        return user_entry.pw_dir
    if user in ("+", "-"):
        return None
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return "~" + user  # bash leaves an unknown user's tilde as it is


_ANSI = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
         "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def _ansi_c(body: str) -> str:
    """Decode the body of a $'...' string as bash does."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in _ANSI:
            out.append(_ANSI[n])
            i += 2
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(), 8) & 0xFF))
            i += 1 + len(m.group())
        elif n in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[n]
            m = re.match(rf"[0-9a-fA-F]{{1,{width}}}", body[i + 2:])
            if m is None:
                out.append("\\" + n)
                i += 2
            else:
                code = int(m.group(), 16)
                out.append(chr(code) if code < 0x110000 else "\ufffd")
                i += 2 + len(m.group())
        elif n == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + n)
            i += 2
    return "".join(out)


def _visible(gap: bytes) -> bool:
    return gap.replace(b"\\\n", b"").strip(b" \t\n\r") != b""


def _glued_words(node, out: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    if node.type == "word" and b"\n" in node.text:
        out.append(node.start_byte + node.text.index(b"\n"))
    for c in node.children:
        _glued_words(c, out)
    return out


def _parse_fixed(text: str):  # type: ignore[no-untyped-def]
    """tree-sitter-bash glues a word that starts a line with a backslash (`\\curl`)
    onto the command of the line before; bash does not. Indenting such a line (which
    changes nothing for bash) makes tree-sitter read it as bash does."""
    tree = _parse_tree(text)
    for _ in range(20):
        raw = text.encode("utf-8", errors="surrogateescape")
        spots = [i for i in _glued_words(tree.root_node, []) if raw[i + 1:i + 2] in (b"\\", b"\n")]
        if not spots:
            break
        for i in sorted(spots, reverse=True):
            j = i
            while j < len(raw) and raw[j:j + 1] == b"\n":
                j += 1
            raw = raw[:j] + b" " + raw[j:]
        text = raw.decode("utf-8", errors="surrogateescape")
        tree = _parse_tree(text)
    return tree, text


def parse_line(line: str, env: Mapping[str, str] | None = None) -> ParsedLine:
    """Parse a command line into simple commands (see the module docstring)."""
    env = os.environ if env is None else env
    findings: list[Finding] = []
    if "\x00" in line:
        return ParsedLine([], [Finding(Verdict.DENY, "the command contains a NUL byte")], frozenset(), line)
    try:
        line.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return ParsedLine([], [Finding(Verdict.DENY, "the command is not valid text (a lone surrogate)")],
                          frozenset(), line)
    if len(line) > MAX_LINE:
        return ParsedLine([], [Finding(Verdict.DENY, f"the command is longer than {MAX_LINE} characters")],
                          frozenset(), line)
    if re.search(r"[\x01-\x08\x0b-\x1f\x7f]", line):
        # bash reads CR and other control characters as parts of words (tree-sitter as
        # spaces), and its printer doubles some; in a review they can also redraw the line
        findings.append(Finding(Verdict.ASK, "the command contains control characters"))
    text, problem = normalise(line)
    if problem:
        findings.append(Finding(Verdict.ASK, problem))
    if re.search(r"(?<!\\)(\\\\)*\\$", line):
        # bash runs a lone trailing backslash as a command named `\`; its printer drops it
        findings.append(Finding(Verdict.ASK, "the line ends in a backslash"))
    tree, text = _parse_fixed(text)
    walker = _Walker(text, env)
    walker.findings = findings
    walker.scan(tree.root_node)
    walker.statement(tree.root_node)
    return ParsedLine(walker.commands, walker.findings, frozenset(walker.assigned), text)

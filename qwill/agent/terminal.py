"""`qwill agent "task"`: the agent in a terminal, with diff review and approvals.

Each step's change set is shown as a unified diff and written to disk
atomically only after the user says yes (`--yes` approves every change set).
Without a terminal to ask and without `--yes`, nothing is written: the change
is refused and the model is told so. Commands on the policy's "ask" list are
asked about on the terminal, and refused when there is none.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from ..engine.slot import ModelState, ModelStatus
from .appliers import DiskApplier
from .changes import ChangeSet
from .loop import AgentEvent, AgentResult
from .runs import AgentRuns


@dataclass
class TerminalOptions:
    task: str
    root: Path
    yes: bool = False
    json: bool = False
    verbose: bool = False
    checkpoints: bool = True


# What a terminal would act on instead of showing: C0 controls but tab and newline
# (ESC starts a sequence that can move the cursor, recolour or rewrite the screen; a
# CR not ending a line returns to its start and overprints it), DEL, C1 controls,
# and the Unicode bidi and invisible formatting characters ("Trojan Source").
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e"
                       "\u2060-\u2064\u2066-\u2069\ufeff]")


def escape_controls(text: str) -> str:
    """`text` safe to print on a terminal: every control or invisible formatting
    character shown as an escape (`\\x1b`, `\\u202e`); a CR that ends a line is kept."""
    def show(m: re.Match[str]) -> str:
        c = m.group()
        if c == "\r" and text[m.end():m.end() + 1] in ("\n", ""):
            return c
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
    return _CONTROLS.sub(show, text)


def _color(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def colored_diff(diff: str, enabled: bool) -> str:
    out = []
    for line in escape_controls(diff).splitlines():
        if line.startswith(("+++", "---")):
            out.append(_color(line, "1", enabled))
        elif line.startswith("+"):
            out.append(_color(line, "32", enabled))
        elif line.startswith("-"):
            out.append(_color(line, "31", enabled))
        elif line.startswith("@@"):
            out.append(_color(line, "36", enabled))
        else:
            out.append(line)
    return "\n".join(out)


class TerminalReview:
    """Asks on the terminal; `--yes` approves all; no TTY and no --yes refuses."""

    def __init__(self, yes: bool, out: TextIO = sys.stderr, stdin: TextIO = sys.stdin) -> None:
        self.yes = yes
        self.out = out
        self.stdin = stdin
        self.all = False
        self.interactive = stdin.isatty()
        self.color = out.isatty() and not os.environ.get("NO_COLOR")

    async def _ask(self, question: str) -> str:
        self.out.write(question)
        self.out.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return line.strip().lower()

    async def review(self, changes: ChangeSet) -> bool | str:
        print(escape_controls(f"\n--- step {changes.step}: {changes.summary()}"), file=self.out)
        if changes.flagged:
            print(_color(escape_controls(f"!!! changes tests or CI: {', '.join(changes.flagged)}"), "33", self.color),
                  file=self.out)
        print(colored_diff(changes.diff(), self.color), file=self.out)
        if self.yes or self.all:
            return True
        if not self.interactive:
            return "not applied: no terminal to confirm on; run with --yes to approve changes"
        answer = await self._ask("Apply these changes? [y]es / [n]o / [a]ll: ")
        if answer in ("a", "all"):
            self.all = True
            return True
        if answer in ("y", "yes"):
            return True
        reason = await self._ask("Why not (told to the agent, Enter to skip)? ")
        return reason or "the user rejected the change"

    async def approve_command(self, command: str, why: str) -> bool:
        if not self.interactive:
            return False
        shown = escape_controls(command).replace("\n", "\n    ")
        answer = await self._ask(f"\nThe agent wants to run: {shown}\n({escape_controls(why)})\nRun it? [y/N]: ")
        return answer in ("y", "yes")


def print_event(ev: AgentEvent, out: TextIO, verbose: bool) -> None:
    d = ev.data
    if ev.kind == "step":
        print(f"\n== step {ev.step}", file=out)
    elif ev.kind == "text":
        out.write(escape_controls(d["text"]))
        out.flush()
    elif ev.kind == "tool_call":
        args = json.dumps(d["arguments"], ensure_ascii=False)
        print(escape_controls(f"\n-> {d['name']} {args[:200]}"), file=out)
    elif ev.kind == "tool_result" and (verbose or not d["ok"]):
        print(("   " if d["ok"] else "   ! ") + escape_controls(d["output"][:600]).replace("\n", "\n   "), file=out)
    elif ev.kind == "stats" and verbose:
        print(f"   [prompt {d['promptTokens']} tokens, {d['prefillTokens']} evaluated, "
              f"{d['generatedTokens']} generated]", file=out)
    elif ev.kind in ("applied", "rejected"):
        print(escape_controls(f"   [{ev.kind}{': ' + d['reason'] if ev.kind == 'rejected' else ''}]"), file=out)


class TerminalHost(Protocol):
    """What the terminal needs of a qwill.session.Session."""

    agent_runs: AgentRuns

    async def load_model(self) -> ModelStatus: ...

    @property
    def agent_status(self) -> ModelStatus: ...

    def close(self) -> None: ...


async def run_in_terminal(session: TerminalHost, opts: TerminalOptions) -> int:
    """Load the model, run the task, print the answer; exit code 0 when it finished.
    The session is closed at the end."""
    try:
        status = await session.load_model()
        agent_status = session.agent_status
        if status.state is ModelState.ERROR or agent_status.state is ModelState.ERROR:
            print(f"qwill: {agent_status.message or status.message}", file=sys.stderr)
            return 2
        review = TerminalReview(opts.yes)
        agent_session = session.agent_runs.new_session(opts.root, checkpoints=opts.checkpoints)
        result: AgentResult = await session.agent_runs.run(
            agent_session, opts.task, DiskApplier(agent_session.workspace.root, review.review),
            approve_command=review.approve_command,
            on_event=lambda ev: print_event(ev, sys.stderr, opts.verbose))
        if opts.json:
            print(json.dumps({"sessionId": agent_session.id, **result.as_dict()}))
        else:
            message = escape_controls(result.message) if sys.stdout.isatty() else result.message
            print(f"\n\n{message}" if result.reason == "done" else f"\n\nqwill: stopped ({result.reason}): {message}")
            total = sum(s.prompt_eval_tokens for s in result.stats)
            print(f"-- {result.steps} steps, {result.tool_calls} tool calls, {result.applied} change sets "
                  f"applied, {result.rejected} rejected; {total} prompt tokens evaluated", file=sys.stderr)
        return 0 if result.reason == "done" else 1
    finally:
        session.close()

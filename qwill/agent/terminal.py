"""`qwill agent "task"`: the agent in a terminal, with diff review, approvals and a
running account of what it does.

The approval mode (`--mode`, else `agent.approvalMode`) says what is asked:
in `ask` each step's change set is shown as a diff and written to disk
atomically only after the user says yes; `auto-edit` and `yolo` write it at
once (each step is checkpointed); commands the policy asks about are asked on
the terminal, except in `yolo`. `--yes` approves all: it runs in `yolo` (what
the policy denies stays denied). Without a terminal to ask and without
`--yes`, nothing that needs a yes happens: the change or command is refused
and the model is told so. In `plan` the agent only reads and proposes a plan;
on a terminal you may carry it out.

Progress (step, tool calls, results, diffs, test results, tokens) goes to
stderr: with rich formatting on a terminal, as plain lines otherwise (logs,
CI, pipes). The answer goes to stdout (`--json`: the whole result).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..engine.slot import ModelState, ModelStatus
from .appliers import DiskApplier
from .changes import ChangeSet
from .loop import AgentEvent, AgentResult, AgentSession
from .modes import ApprovalMode
from .runs import AgentRuns


@dataclass
class TerminalOptions:
    task: str
    root: Path
    yes: bool = False
    json: bool = False
    verbose: bool = False
    checkpoints: bool = True
    mode: str | None = None  # None: --yes -> yolo, else the agent.approvalMode setting


def terminal_mode(opts: TerminalOptions, default: str) -> ApprovalMode:
    """The mode a terminal run uses: `--mode`, else yolo for `--yes`, else the setting.
    With `--yes` and `--mode plan`, the plan is approved and carried out in yolo."""
    if opts.mode:
        return ApprovalMode.parse(opts.mode)
    return ApprovalMode.YOLO if opts.yes else ApprovalMode.parse(default)


# -- display ----------------------------------------------------------------------------
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


class Display:
    """Events as a person can follow them: rich on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO = sys.stderr, *, verbose: bool = False, rich: bool | None = None) -> None:
        self.out = out
        self.verbose = verbose
        use_rich = out.isatty() and not os.environ.get("NO_COLOR") if rich is None else rich
        self.console: Any = None
        if use_rich:
            from rich.console import Console

            self.console = Console(file=out, highlight=False, soft_wrap=True)
        self._midline = False  # streamed text left the cursor mid-line

    # plain writing, and rich markup when there is a console
    def _line(self, plain: str, styled: str | None = None) -> None:
        """One line: `plain` as text, or `styled` (rich markup whose text parts went
        through `_esc`) on a terminal. Control characters never reach the terminal."""
        if self._midline:
            self._write("\n")
        if self.console is not None and styled is not None:
            self.console.print(styled)
        else:
            print(escape_controls(plain), file=self.out, flush=True)

    def _write(self, text: str) -> None:
        text = escape_controls(text)
        self.out.write(text)
        self.out.flush()
        self._midline = bool(text) and not text.endswith("\n")

    @staticmethod
    def _esc(text: str) -> str:
        from rich.markup import escape

        return str(escape(escape_controls(text)))

    def diff(self, changes: ChangeSet) -> None:
        self._line(f"--- step {changes.step}: {changes.summary()}",
                   f"[bold]--- step {changes.step}: {self._esc(changes.summary())}[/bold]")
        if changes.flagged:
            note = f"!!! changes tests, CI or settings: {', '.join(changes.flagged)}"
            self._line(note, f"[yellow]{self._esc(note)}[/yellow]")
        text = changes.diff()
        if self.console is not None:
            from rich.syntax import Syntax

            self.console.print(Syntax(escape_controls(text), "diff", theme="ansi_dark",
                                      background_color="default"))
        else:
            print(escape_controls(text), file=self.out, flush=True)

    def event(self, ev: AgentEvent) -> None:
        d = ev.data
        k = ev.kind
        if k == "start":
            self._line(f"qwill agent [{d.get('mode', '')}]: {d.get('task', '')}",
                       f"[bold cyan]qwill agent[/bold cyan] [dim]\\[{d.get('mode', '')}][/dim] "
                       f"{self._esc(str(d.get('task', '')))}")
        elif k == "step":
            if self.console is not None:
                if self._midline:
                    self._write("\n")
                self.console.rule(f"step {ev.step}", style="dim")
            else:
                self._line(f"\n== step {ev.step}")
        elif k == "text":
            self._write(d["text"])
        elif k == "tool_call":
            args = json.dumps(d["arguments"], ensure_ascii=False)
            short = args if len(args) <= 200 else args[:200] + "…"
            self._line(f"-> {d['name']} {short}",
                       f"[bold magenta]→ {self._esc(d['name'])}[/bold magenta] [dim]{self._esc(short)}[/dim]")
        elif k == "tool_result":
            if d["ok"] and not self.verbose:
                lines = [ln[:160] for ln in d["output"].strip().splitlines()]
                head = "\n     ".join(lines[:4]) + (f"\n     … {len(lines) - 4} more lines" if len(lines) > 4 else "")
                self._line(f"   ok: {head}", f"   [green]✓[/green] [dim]{self._esc(head)}[/dim]")
            else:
                body = d["output"][:1200].replace("\n", "\n     ")
                mark = "ok" if d["ok"] else "error"
                self._line(f"   {mark}: {body}",
                           f"   {'[green]✓' if d['ok'] else '[red]✗'}[/] {self._esc(body)}")
        elif k == "checks":
            summary = d.get("summary", "")
            ok = d.get("passed") or d.get("noTests")
            self._line(f"[checks] {summary}",
                       f"[bold {'green' if ok else 'red'}]tests:[/] {self._esc(summary)}")
            if not ok and self.verbose:
                self._line(d.get("output", "")[-1500:])
        elif k == "stats":
            line = (f"[tokens] prompt {d['promptTokens']}, evaluated {d['prefillTokens']}, "
                    f"generated {d['generatedTokens']} ({d['promptSeconds'] + d['generateSeconds']:.1f} s)")
            self._line(line, f"[dim]{self._esc(line)}[/dim]")
        elif k == "applied":
            self._line(f"   [applied: {d.get('summary', '')}]",
                       f"   [green]applied[/green] [dim]{self._esc(str(d.get('summary', '')))}[/dim]")
        elif k == "rejected":
            self._line(f"   [not applied: {d.get('reason', '')}]",
                       f"   [yellow]not applied:[/yellow] {self._esc(str(d.get('reason', '')))}")
        elif k == "plan_proposed":
            self._line("\nProposed plan:\n" + d.get("plan", ""),
                       "\n[bold]Proposed plan:[/bold]\n" + self._esc(str(d.get("plan", ""))))
        elif k == "mode":
            self._line(f"[mode: {d.get('mode')}]", f"[cyan]mode: {self._esc(str(d.get('mode')))}[/cyan]")
        elif k == "notice":
            msg = str(d.get("message", ""))
            self._line(f"[note] {msg}", f"[yellow]note:[/yellow] {self._esc(msg)}")
        elif k in ("mcp_error", "error"):
            msg = str(d.get("message", ""))
            self._line(f"! {msg}", f"[red]! {self._esc(msg)}[/red]")
        elif k == "done":
            self._write("\n" if self._midline else "")


# -- asking -------------------------------------------------------------------------------
class TerminalReview:
    """Asks on the terminal what the session's mode leaves to the user; `--yes` approves
    everything; without a TTY and without `--yes` the answer is no."""

    def __init__(self, yes: bool, display: Display | None = None, stdin: TextIO = sys.stdin) -> None:
        self.yes = yes
        self.display = display or Display()
        self.out = self.display.out
        self.stdin = stdin
        self.all = False
        self.interactive = stdin.isatty()
        self.session: AgentSession | None = None

    async def _ask(self, question: str) -> str:
        self.out.write(question)
        self.out.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return line.strip().lower()

    async def review(self, changes: ChangeSet) -> bool | str:
        self.display.diff(changes)
        mode = self.session.mode if self.session is not None else ApprovalMode.ASK
        if self.yes or self.all or not mode.reviews_edits:
            return True
        if not self.interactive:
            return "not applied: no terminal to confirm on; run with --yes (or --mode auto-edit) to apply changes"
        answer = await self._ask("Apply these changes? [y]es / [n]o / [a]ll: ")
        if answer in ("a", "all"):
            self.all = True
            return True
        if answer in ("y", "yes"):
            return True
        reason = await self._ask("Why not (told to the agent, Enter to skip)? ")
        return reason or "the user rejected the change"

    async def approve_command(self, command: str, why: str) -> bool:
        if self.yes:
            return True
        if not self.interactive:
            return False
        shown = escape_controls(command).replace("\n", "\n    ")
        answer = await self._ask(f"\nThe agent wants to run: {shown}\n({escape_controls(why)})\nRun it? [y/N]: ")
        return answer in ("y", "yes")

    async def approve_plan(self, plan: str) -> ApprovalMode | None:
        if self.yes:
            return ApprovalMode.YOLO
        if not self.interactive:
            return None
        answer = await self._ask("\nCarry out this plan? [y]es, reviewing each change / [a]uto-edit / [N]o: ")
        if answer in ("y", "yes"):
            return ApprovalMode.ASK
        if answer in ("a", "auto", "auto-edit"):
            return ApprovalMode.AUTO_EDIT
        return None


class TerminalHost(Protocol):
    """What the terminal needs of a qwill.session.Session."""

    agent_runs: AgentRuns

    @property
    def settings(self) -> Any: ...

    async def load_model(self) -> ModelStatus: ...

    @property
    def agent_status(self) -> ModelStatus: ...

    def close(self) -> None: ...


def _why_not_yes(result: AgentResult) -> str:
    return "" if result.reason in ("done", "plan") else f"qwill: stopped ({result.reason}): {result.message}"


async def run_in_terminal(session: TerminalHost, opts: TerminalOptions) -> int:
    """Load the model, run the task, print the answer; exit code 0 when it finished (or,
    in plan mode, proposed its plan). The session is closed at the end."""
    display = Display(sys.stderr, verbose=opts.verbose)
    try:
        status = await session.load_model()
        agent_status = session.agent_status
        if status.state is ModelState.ERROR or agent_status.state is ModelState.ERROR:
            print(f"qwill: {agent_status.message or status.message}", file=sys.stderr)
            return 2
        try:
            mode = terminal_mode(opts, session.settings.agent.approval_mode)
        except ValueError as exc:
            print(f"qwill: {exc}", file=sys.stderr)
            return 2
        review = TerminalReview(opts.yes, display)
        agent_session = session.agent_runs.new_session(opts.root, checkpoints=opts.checkpoints, mode=mode)
        review.session = agent_session
        try:
            result: AgentResult = await session.agent_runs.run(
                agent_session, opts.task, DiskApplier(agent_session.workspace.root, review.review),
                approve_command=review.approve_command, approve_plan=review.approve_plan,
                on_event=display.event)
        finally:
            await session.agent_runs.aclose()
        if opts.json:
            print(json.dumps({"sessionId": agent_session.id, **result.as_dict()}))
        else:
            stopped = _why_not_yes(result)
            message = stopped or result.message
            print("\n" + (escape_controls(message) if sys.stdout.isatty() else message))
            total = sum(s.prompt_eval_tokens for s in result.stats)
            print(f"-- {result.steps} steps, {result.tool_calls} tool calls, {result.applied} change sets "
                  f"applied, {result.rejected} rejected; {total} prompt tokens evaluated"
                  + (f"; {result.checks}" if result.checks else ""), file=sys.stderr)
        return 0 if result.reason in ("done", "plan") else 1
    finally:
        session.close()

"""The agent loop: prompt, generate, parse tool calls, run tools, review edits, repeat.

KV reuse: the system prompt and the tool list are rendered once per session
and never change; history is append-only (the assistant's raw output is kept
byte for byte, tool results are appended after it), so each step's prompt
extends the previous one and the engine only evaluates the new tail. Prefill
per step is reported from GenerationStats. History is compacted only at a
turn boundary (a new user task), never inside a run.

Each step's writes are staged and become one ChangeSet, applied through the
surface's Applier (editor WorkspaceEdit, CLI diff approval, ACP permission);
a rejection is reported to the model. A checkpoint precedes each step.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..config import AgentSettings, Settings
from ..context.repo_map import build_repo_map
from ..context.workspace_index import WorkspaceIndex
from ..engine.base import (
    CancelToken,
    ChatResult,
    EngineError,
    GenerationRequest,
    GenerationStats,
    ToolCallingEngine,
    is_small_model,
)
from ..engine.chat import ChatFormat, ChatMessage, ChatTemplateError
from ..engine.grammar import GrammarError
from ..engine.worker import EngineWorker
from .changes import ChangeSet
from .checkpoints import Checkpoint, CheckpointError, CheckpointStore
from .finish_review import finish_review, is_doc, named_files, new_test_request, next_action, untouched_named
from .modes import ApprovalMode
from .server_tool_calls import ServerTurn, read_server_calls, result_messages, text_history
from .shell import ShellPolicy, Verdict
from .toolcall_formats import ToolGrammar, grammar_for, template_format
from .toolcalls import ParseResult, StreamingToolCallParser, ToolCall, tool_specs
from .tools import (
    TOOLS,
    UNCHANGED,
    Tool,
    ToolContext,
    ToolError,
    call_tool,
    run_checks,
    run_doc_examples,
    run_task_calls,
    schema_problems,
)
from .verify import CheckResult, fails_only_in
from .whole_files import EXAMPLE, WholeFileParser, close_cut_listing, elided
from .whole_files import FORMAT as WHOLE
from .whole_files import SYSTEM_PROMPT as WHOLE_SYSTEM_PROMPT
from .workspace import PathError, Staging, Workspace

log = logging.getLogger(__name__)

# "Rename [the function] calc_total [in shop/cart.py] to total_price"
_RENAME = re.compile(r"\brename\s+(?:the\s+)?(?:[a-z]+\s+)?`?(?P<old>[A-Za-z_]\w*)`?(?:\s+in\s+\S+)?\s+to\s+"
                     r"`?(?P<new>[A-Za-z_]\w*)`?(?!\w|\.\w|/)", re.I)
_CODE_SUFFIXES = (".py", ".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java", ".rb", ".php", ".c", ".h", ".cpp", ".cs")


def renames_a_definition(task: str, workspace: Workspace, limit: int = 400) -> bool:
    """The task renames an identifier that a code file of `workspace` defines (a function,
    class or top-level name): a job for `rename_symbol`."""
    m = _RENAME.search(task)
    if m is None or m["old"] == m["new"]:
        return False
    defines = re.compile(rf"^[ \t]*(?:(?:async\s+)?def|class|function|func|fn|const|let|var)\s+{re.escape(m['old'])}\b"
                         rf"|^{re.escape(m['old'])}\s*[:=]", re.M)
    for i, rel in enumerate(workspace.walk()):
        if i >= limit:
            break
        if not rel.endswith(_CODE_SUFFIXES):
            continue
        try:
            text, _ = workspace.read_live(rel)
        except (PathError, OSError, UnicodeDecodeError):
            continue
        if text and defines.search(text):
            return True
    return False


# "Rename the module pkg/strings.py to pkg/text.py", "move util.py into lib/"
_MOVE = re.compile(r"\b(?:rename|move)\s+(?:the\s+)?(?:module|file|package\s+file)?\s*`?(?P<old>[\w./-]+\.[A-Za-z]\w*)`?"
                   r"\s+(?:to|into|as)\s+`?(?P<new>[\w./-]+)`?", re.I)


def moves_a_file(task: str, workspace: Workspace) -> bool:
    """The task renames or moves a file the workspace has: a job for `rename_file`, which
    also updates the imports of a Python module (qwill.agent.module_move). In whole files a
    small model keeps the old file as a copy or a re-export instead (measured: it left
    `textutils/strings.py` re-exporting the new module, so it was still imported)."""
    for m in _MOVE.finditer(task):
        old = m["old"][2:] if m["old"].startswith("./") else m["old"]
        try:
            if m["old"] != m["new"] and workspace.abspath(workspace.rel(old)).is_file():
                return True
        except PathError:
            continue
    return False


_FENCE_LANGUAGES = {".py": "python", ".md": "markdown", ".toml": "toml", ".json": "json", ".ini": "ini",
                    ".cfg": "ini", ".yaml": "yaml", ".yml": "yaml", ".js": "javascript", ".ts": "typescript"}


def _fence_language(path: str) -> str:
    """The info string of a fenced block holding `path` ("" when there is no usual one)."""
    return _FENCE_LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")


_TIMING = re.compile(r"\bin \d+(?:\.\d+)?s\b")  # "1 failed in 0.97s"

# what _land adds to a write's result when its change was applied (a rejection says "NOT applied")
APPLIED = " (applied)"

# a task that says something fails or is broken: its tests run before the first answer (checksFirst auto)
SPEAKS_OF_FAILURE = re.compile(r"\b(fail\w*|bug\w*|broken|breaks?|crash\w*|errors?|wrong|incorrect\w*|"
                               r"regress\w*|traceback|exception)\b", re.I)


# -- events ------------------------------------------------------------------------------
@dataclass
class AgentEvent:
    """One thing that happened in a run, for clients to show as it happens.

    kinds: start, step, text, tool_call, tool_result, changes, applied, rejected,
    checks (the project's tests ran), plan, plan_proposed, mode, stats, notice (the run
    changed how it works, e.g. tool calls in the text formats after the server refused
    them), done, error.
    """

    kind: str
    session: str
    step: int
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sessionId": self.session, "step": self.step, **self.data}


@dataclass
class ApplyResult:
    applied: bool
    reason: str = ""


class Applier(Protocol):
    """How a surface lands a change set: the editor, the terminal, an ACP client."""

    async def apply(self, changes: ChangeSet) -> ApplyResult: ...


@dataclass
class StepRecord:
    step: int
    checkpoint: Checkpoint | None
    changes: list[ChangeSet] = field(default_factory=list)


@dataclass
class StepStats:
    step: int
    prompt_tokens: int
    prompt_eval_tokens: int
    generated_tokens: int
    prompt_seconds: float
    generate_seconds: float
    stop_reason: str

    @property
    def reused_tokens(self) -> int:
        return self.prompt_tokens - self.prompt_eval_tokens


@dataclass
class AgentResult:
    # done (finished; checks passed or there are none), plan (a plan proposed in plan mode
    # and not carried out), max_steps, loop, cancelled, context_full, error
    reason: str
    message: str
    steps: int
    stats: list[StepStats] = field(default_factory=list)
    tool_calls: int = 0
    malformed_calls: int = 0  # turns whose tool calls could not be read
    invalid_calls: int = 0  # calls read, but not valid against their tool's schema
    applied: int = 0
    rejected: int = 0
    checks: str = ""  # the last check's summary
    checks_passed: bool | None = None  # None: no checks ran
    grammar: bool = False  # tool calls were constrained by a grammar
    server_tools: bool = False  # tool calls went as the server's own (OpenAI `tools`)
    reviews: int = 0  # finishes sent back for a review of the changes against the task
    mode: str = "ask"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stats"] = [asdict(s) for s in self.stats]
        return d


# review turns a run's finishes get at most (finish_review): after the first, only for what an
# edit can fix, each with the next file to edit shown (a task naming three files, of which a
# small model changed one before finishing, needs two more)
MAX_REVIEWS = 3
# the temperature of the answer after one that wrote every file back unchanged (whole-file format)
REPEAT_TEMPERATURE = 0.7
# tokens of the answer that writes the test a review asked for (whole-file format)
TEST_ANSWER_TOKENS = 768

SYSTEM_PROMPT = """You are Qwill, a coding agent working in the workspace `{name}`.
Use the tools to read, search, edit and test the code. Paths are relative to the workspace root,
exactly as the file list shows them.
Rules:
- Read a file before editing it. edit_file needs old_text copied exactly from the file (it must match once),
  without the line numbers read_file shows. For many changes in a small file, use write_file with its complete
  new content.
- Make small, focused edits. Every edit is reviewed by the user; if one is rejected, do not repeat it.
- After each change the project's tests run by themselves and you see the result; fix what fails.
- When the task is finished, call finish with a short summary."""

# the share of the context the files shown in the whole-file format's first message may take
WHOLE_FILES_SHARE = 0.45
CHARS_PER_TOKEN = 3.0

PLAN_NOTE = ("\n\n(Plan mode: you can only read. Look at the code, write the steps with todo, then call "
             "finish with the plan as the summary. Nothing is changed until the user approves it.)")

FALLBACK_TOOLS = """

# Tools
You can call these functions:
{tools}

To call a function, answer with:
<tool_call>
{{"name": "<function-name>", "arguments": {{<args-json-object>}}}}
</tool_call>"""


@dataclass
class AgentSession:
    """One conversation with the agent: history, checkpoints, plan; lives across runs."""

    workspace: Workspace
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    messages: list[ChatMessage] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)
    step: int = 0
    store: CheckpointStore | None = None
    plan: list[Any] = field(default_factory=list)
    busy: bool = False
    mode: ApprovalMode = ApprovalMode.ASK
    last_checks: CheckResult | None = None
    failed_calls: set[str] = field(default_factory=set)  # for the "you tried this" nudge
    # files commands wrote outside review since the user last approved running the project's code
    unreviewed: set[str] = field(default_factory=set)
    # tools sent as the server's own (`tools` / `tool_calls`): None not yet, False fell back to
    # the text formats (the server refused them, or its model wrote calls as text)
    server_tools: bool | None = None
    # how the model changes files ("tools" or "whole", see whole_files), chosen at the session's
    # first task (agent.editFormat)
    edit_format: str = ""
    shown: set[str] = field(default_factory=set)  # files whose text a message showed the model

    # -- undo -----------------------------------------------------------------------
    def restore_changes(self, to_step: int | None = None) -> tuple[ChangeSet, int]:
        """The change set that undoes steps from `to_step` on (default: the last step
        that changed files), and the step it rewinds to."""
        if self.store is None:
            raise CheckpointError("checkpoints are off for this session")
        with_changes = [r for r in self.records if r.checkpoint is not None]
        if not with_changes:
            raise CheckpointError("nothing to undo")
        if to_step is None:
            target = next((r for r in reversed(with_changes) if r.changes), with_changes[-1])
        else:
            found = [r for r in with_changes if r.step >= to_step]
            if not found:
                raise CheckpointError(f"no checkpoint at or after step {to_step}")
            target = found[0]
        assert target.checkpoint is not None
        return self.store.restore(target.checkpoint, step=target.step), target.step

    def forget_from(self, step: int) -> None:
        """After an undo/rewind landed: later checkpoints no longer apply."""
        self.records = [r for r in self.records if r.step < step]


class _RunEnds(Exception):
    """A step cannot go on: the run ends with `reason` and `message`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _ServerRefusedTools(Exception):
    """The server answered a request with tools with an error: it does not take them."""


CommandApprover = Callable[[str, str], Awaitable[bool]]
# Shown a proposed plan; answers the mode to carry it out in, or None to stop there.
PlanApprover = Callable[[str], Awaitable["ApprovalMode | None"]]
EventSink = Callable[[AgentEvent], None]


def agent_context_size(settings: Settings) -> int:
    """The context the agent's engine runs with (its own engine's, or the shared one's)."""
    if settings.agent_engine.backend != "same":
        return settings.agent_engine.context_size
    return settings.engine.context_size


def policy_from_settings(settings: AgentSettings) -> ShellPolicy:
    base = ShellPolicy()
    return ShellPolicy(deny=base.deny + tuple(settings.shell_deny),
                       ask=tuple(settings.shell_ask),
                       allow=tuple(settings.shell_allow),
                       default=Verdict(settings.shell_default))


class Agent:
    """Runs tasks in an AgentSession on an engine worker; surfaces plug in the rest."""

    def __init__(self, worker: EngineWorker, settings: AgentSettings, applier: Applier, *,
                 approve_command: CommandApprover | None = None, on_event: EventSink | None = None,
                 context_size: int = 4096, symbol_index: WorkspaceIndex | None = None,
                 fetch: Callable[[str], Awaitable[None]] | None = None,
                 approve_plan: PlanApprover | None = None, extra_tools: Sequence[Tool] = ()) -> None:
        self.worker = worker
        self.settings = settings
        self.applier = applier
        self.approve_command = approve_command
        self.approve_plan = approve_plan
        self.on_event = on_event or (lambda ev: None)
        self.context_size = context_size
        self.symbol_index = symbol_index
        self.fetch = fetch
        self.extra_tools = {t.name: t for t in extra_tools}
        self.all_tools = [*TOOLS, *self.extra_tools.values()]
        self.tools = [t.schema() for t in self.all_tools]
        self.specs = tool_specs(self.tools)
        self._grammars: dict[tuple[str, bool], ToolGrammar | None] = {}

    # -- prompt --------------------------------------------------------------------
    def _format(self) -> ChatFormat:
        engine = self.worker.engine
        if engine is None:
            raise EngineError("no model is loaded")
        return engine.info.chat_format

    @staticmethod
    def _native_tools(fmt: ChatFormat) -> bool:
        return "tools" in fmt.template

    @staticmethod
    def _native_tool_role(fmt: ChatFormat) -> bool:
        return "'tool'" in fmt.template or '"tool"' in fmt.template

    def _system(self, session: AgentSession, fmt: ChatFormat, *, server_tools: bool = False) -> ChatMessage:
        if session.edit_format == WHOLE:
            return ChatMessage("system", WHOLE_SYSTEM_PROMPT.format(name=session.workspace.root.name))
        text = SYSTEM_PROMPT.format(name=session.workspace.root.name)
        if not server_tools and not self._native_tools(fmt):
            lines = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in self.tools)
            text += FALLBACK_TOOLS.format(tools=lines)
        return ChatMessage("system", text)

    def render(self, session: AgentSession, fmt: ChatFormat) -> str:
        tools = self.tools if self._native_tools(fmt) and session.edit_format != WHOLE else None
        return fmt.render(session.messages, tools=tools, add_generation_prompt=True)

    # -- the server's own tool calls ---------------------------------------------------
    def _server_tools(self, session: AgentSession) -> bool:
        """Whether this step sends the tools as the server's own: a remote engine, tool
        calls constrained (the setting), and the server has not refused them."""
        return (self.settings.constrain_tool_calls and isinstance(self.worker.engine, ToolCallingEngine)
                and session.server_tools is not False and session.edit_format != WHOLE)

    def _fall_back(self, session: AgentSession, fmt: ChatFormat, why: str) -> None:
        """From the server's tool calls to the text formats, for the rest of the session: the
        history is rewritten once in the text form (the system turn now lists the tools)."""
        session.server_tools = False
        messages = text_history(session.messages, tool_role=self._native_tool_role(fmt))
        if messages and messages[0].role == "system":
            messages[0] = self._system(session, fmt)
        session.messages = messages
        log.info("agent: %s; tool calls in the text formats from now on", why)
        self._emit(session, "notice", session.step, message=f"{why}; tool calls in the text formats from now on")

    def _prompt_estimate(self, session: AgentSession, fmt: ChatFormat) -> str:
        """What the server will evaluate, near enough to budget the context: the history
        in the text form and the tool list."""
        messages = text_history(session.messages, tool_role=self._native_tool_role(fmt))
        return fmt.render(messages) + json.dumps(self.tools, ensure_ascii=False)

    async def _server_turn(self, session: AgentSession, step: int, parser: StreamingToolCallParser,
                           raw: list[str], max_tokens: int, stats: GenerationStats,
                           cancel: CancelToken) -> tuple[ServerTurn | None, ParseResult]:
        """One turn through the server's chat endpoint with the tools: the calls it parsed
        (a ServerTurn) and the parse; turn None when its model wrote the calls as text
        instead (they are read from the text). Raises _ServerRefusedTools when the server
        answered the request with an error before any text."""
        answer: ChatResult | None = None
        messages = [m.as_dict() for m in session.messages]
        try:
            async for item in self.worker.chat(messages, cancel, tools=self.tools, max_tokens=max_tokens,
                                               temperature=self.settings.temperature):
                if isinstance(item, ChatResult):
                    answer = item
                    continue
                raw.append(item)
                for ev in parser.feed(item):
                    self._stream_event(session, step, ev)
        except EngineError as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and status not in (401, 403, 429) and not raw:
                raise _ServerRefusedTools(str(exc)) from None
            raise
        if answer is not None:
            for f in fields(GenerationStats):
                setattr(stats, f.name, getattr(answer.stats, f.name))
        if answer is not None and answer.tool_calls:
            turn = read_server_calls(answer.tool_calls, self.specs)
            tail, _ = parser.finish()  # prose it held back; calls come from the server only
            for ev in tail:
                if ev.text:
                    self._emit(session, "text", step, text=ev.text)
            for call in turn.calls:
                self._emit(session, "tool_call", step, name=call.name, arguments=call.arguments, format=call.format)
            return turn, ParseResult(text=answer.text, calls=list(turn.calls), errors=list(turn.errors.values()))
        tail, parsed = parser.finish()
        for ev in tail:
            self._stream_event(session, step, ev)
        if parsed.calls or parsed.errors:
            return None, parsed
        return ServerTurn(), parsed

    # -- grammar ---------------------------------------------------------------------
    def _grammar(self, fmt: ChatFormat, mode: ApprovalMode) -> ToolGrammar | None:
        """The grammar tool calls are decoded under (local engines; None: unconstrained)."""
        engine = self.worker.engine
        if not self.settings.constrain_tool_calls or engine is None or not engine.supports_grammar:
            return None
        key = (fmt.template, mode.read_only)
        if key not in self._grammars:
            tools = [t.schema() for t in self.all_tools if t.read_only or not mode.read_only]
            try:
                self._grammars[key] = grammar_for(template_format(fmt.template), tools)
            except GrammarError as exc:
                log.warning("no tool-call grammar: %s", exc)
                self._grammars[key] = None
        return self._grammars[key]

    def _overview(self, session: AgentSession, task: str, limit: int = 2000, attach_chars: int = 6000) -> str:
        """Shown once with the first task: a map of the repository (files and their most
        referenced definitions) and the text of the files the task names (small models
        edit far better when they see them)."""
        files = []
        for rel in session.workspace.walk():
            files.append(rel)
            if len(files) >= limit:
                break
        if not files:
            return "\n\nThe workspace is empty."

        def read(rel: str) -> str | None:
            try:
                return session.workspace.read_live(rel)[0]
            except (PathError, OSError, UnicodeDecodeError):
                return None

        if session.edit_format == WHOLE:
            return self._whole_overview(session, task, files, read)
        repo_map = build_repo_map(files, read, token_budget=self.settings.repo_map_tokens)
        out = "\n\nRepository map (files, and what they define, most used first):\n" + repo_map
        budget = attach_chars
        for rel in files:
            if not re.search(rf"(?<![\w/.-]){re.escape(rel)}(?![\w/-])", task):
                continue
            try:
                text, _ = session.workspace.read_live(rel)
            except PathError:
                continue
            if text is None or len(text) > budget:
                continue
            budget -= len(text)
            self._attached.add(rel)
            numbered = "\n".join(f"{n}| {line}" for n, line in enumerate(text.splitlines(), 1))
            out += f"\n\n{rel}:\n{numbered}"
        return out

    def _files_budget(self) -> int:
        """Characters of file text the whole-file format's first message may show."""
        return int(self.context_size * WHOLE_FILES_SHARE * CHARS_PER_TOKEN)

    def _whole_overview(self, session: AgentSession, task: str, files: list[str],
                        read: Callable[[str], str | None]) -> str:
        """The whole-file format's first message: every text file as the model writes them
        back (path, fenced text), the files the task names first, within the budget; the
        rest by path only."""
        budget = self._files_budget()
        named = named_files(task, files)
        shown: list[str] = []
        for rel in [*named, *(f for f in files if f not in named)]:
            text = read(rel)
            if text is None or "\x00" in text or len(text) > budget:
                continue
            budget -= len(text)
            self._attached.add(rel)
            shown.append(f"{rel}\n{_fence(text)}\n{text.rstrip()}\n{_fence(text)}")
        out = "\n\nThe files of the workspace:\n\n" + "\n\n".join(shown)
        rest = [f for f in files if f not in self._attached]
        if rest:
            out += "\n\nOther files (not shown):\n" + "\n".join(rest[:200])
        if self._attached:
            first = next(iter(p for p in [*named, *files] if p in self._attached))
            out += (f"\n\nWrite each file you change as a file listing, whole: for {first}, the line `{first}`, "
                    "then its new text in a fenced block.")
        return out

    def _decide_format(self, session: AgentSession, task: str = "") -> str:
        """agent.editFormat for this session: `auto` is whole-file for a small local model
        whose workspace's files fit the first message (a read-only plan uses the tools), unless
        the task renames a name the workspace defines: `rename_symbol` does that in one call,
        where whole files make a small model rewrite every file that uses it (measured: it
        looped on a function renamed across two files, and the tools solved it); or it
        renames or moves one of its files (`rename_file`, imports included)."""
        choice = self.settings.edit_format
        if session.mode.read_only:
            return "tools"
        if choice != "auto":
            return choice
        engine = self.worker.engine
        if engine is None or isinstance(engine, ToolCallingEngine) or not is_small_model(engine.info.parameters):
            return "tools"
        if renames_a_definition(task, session.workspace) or moves_a_file(task, session.workspace):
            return "tools"
        total = 0
        for i, rel in enumerate(session.workspace.walk()):
            try:
                total += session.workspace.abspath(rel).stat().st_size
            except OSError:
                continue
            if i >= 400 or total > self._files_budget():
                return "tools"
        return WHOLE

    def _emit(self, session: AgentSession, kind: str, step: int, **data: Any) -> None:
        try:
            self.on_event(AgentEvent(kind, session.id, step, data))
        except Exception:  # a client's display must not stop the agent
            log.exception("agent event sink failed")

    def _compact(self, session: AgentSession, fmt: ChatFormat) -> bool:
        """At a turn boundary: elide old tool results when the history is large."""
        engine = self.worker.engine
        if engine is None or len(session.messages) < 4:
            return False
        tokens = len(engine.tokenize(self.render(session, fmt)))
        if tokens < self.context_size * 0.5:
            return False
        changed = False
        for i, m in enumerate(session.messages):
            if m.role == "tool" or (m.role == "user" and m.content.startswith("<tool_response>")):
                if len(m.content) > 200:
                    session.messages[i] = ChatMessage(m.role, m.content[:120] + "\n[... elided to save context]",
                                                      name=m.name, tool_call_id=m.tool_call_id)
                    changed = True
        return changed

    # -- the run ---------------------------------------------------------------------
    async def run(self, session: AgentSession, task: str, cancel: CancelToken | None = None) -> AgentResult:
        """Work on `task` until the model answers without a tool call, or a cap or loop stops it."""
        cancel = cancel or CancelToken()
        if session.busy:
            raise RuntimeError("this agent session is already running a task")
        session.busy = True
        try:
            return await self._run(session, task, cancel)
        finally:
            session.busy = False

    async def _run(self, session: AgentSession, task: str, cancel: CancelToken) -> AgentResult:
        s = self.settings
        fmt = self._format()
        first_turn = not session.messages
        if first_turn:
            session.edit_format = session.edit_format or self._decide_format(session, task)
            server = self._server_tools(session)
            session.server_tools = True if server else session.server_tools
            session.messages.append(self._system(session, fmt, server_tools=server))
            if session.edit_format == WHOLE:  # one worked example: small models follow a shown format
                session.messages += [ChatMessage(role, text) for role, text in EXAMPLE]
        elif self._compact(session, fmt):
            self._emit(session, "compacted", session.step)
        self._attached: set[str] = session.shown  # files whose text a message showed the model
        before = await self._checks_before(session, task, cancel) if first_turn else ""
        if first_turn and session.edit_format == WHOLE:
            # the files first and the task last, as the example shows: a small model follows what it read last
            text = self._overview(session, task).lstrip("\n") + before + f"\n\nThe task: {task}"
        else:
            text = task + (self._overview(session, task) + before if first_turn else "")
        if session.mode.read_only:
            text += PLAN_NOTE
        session.messages.append(ChatMessage("user", text))
        result = AgentResult("done", "", 0, mode=session.mode.value)
        # what a finish is checked against (finish_review), at most MAX_REVIEWS times a run
        self._task, self._run_from, self._reviews = task, session.step + 1, 0
        self._last_keys: set[str] = set()  # the previous step's calls, for the "you did this" note
        # files read in this run (or shown in its first message), for the next action a note names
        self._read_paths: set[str] = set(self._attached)
        self._reviewed_summary = ""  # what the reviewed finish said, kept if the next one says nothing
        self._whole = session.edit_format == WHOLE
        self._answer_prefix = ""  # the start of the model's next answer, written for it (whole-file format)
        self._sample_next = False  # the next answer is sampled, not greedy (the last one changed nothing)
        self._asked_test = ""  # the new test file a review asked for (finish_review.new_test_request)
        self._asked_test_refusals = 0  # finishes refused because only that test failed
        self._emit(session, "start", session.step, task=task, mode=session.mode.value,
                   editFormat=session.edit_format)
        history: list[list[str]] = []  # call keys per step, for loop detection
        errors: list[str] = []
        for _ in range(s.max_steps):
            if cancel.cancelled:
                return self._finish(session, result, "cancelled", "cancelled by the user")
            session.step += 1
            step = session.step
            result.steps += 1
            checkpoint = None
            if session.store is not None:
                try:
                    checkpoint = await asyncio.to_thread(session.store.snapshot, step, task[:60])
                except CheckpointError as exc:
                    self._emit(session, "error", step, message=f"checkpoint failed: {exc}")
            record = StepRecord(step, checkpoint)
            session.records.append(record)
            self._emit(session, "step", step)

            try:
                text, parsed, turn, stats = await self._turn(session, fmt, step, result, cancel)
            except _RunEnds as end:
                return self._finish(session, result, end.reason, end.message)
            st = StepStats(step, stats.prompt_tokens, stats.prompt_eval_tokens, stats.generated_tokens,
                           round(stats.prompt_seconds, 3), round(stats.generate_seconds, 3), stats.stop_reason)
            result.stats.append(st)
            self._emit(session, "stats", step, promptTokens=st.prompt_tokens,
                       prefillTokens=st.prompt_eval_tokens, reusedTokens=st.reused_tokens,
                       generatedTokens=st.generated_tokens, promptSeconds=st.prompt_seconds,
                       generateSeconds=st.generate_seconds, stopReason=st.stop_reason)
            if cancel.cancelled:
                return self._finish(session, result, "cancelled", "cancelled by the user")
            session.messages.append(ChatMessage("assistant", text, tool_calls=turn.history if turn else ()))

            if parsed.errors and (not parsed.calls or turn is not None):
                result.malformed_calls += 1  # (the server's calls: any that could not be read)
            if not parsed.calls and parsed.errors:
                if turn is not None and turn.history:  # every call the server sent is answered
                    msg = "; ".join(parsed.errors[:3])
                    session.messages.extend(result_messages(turn, [], [], None, msg))
                elif self._whole:
                    msg = ("Nothing was written: " + "; ".join(parsed.errors[:3]) + ". Write each file you change "
                           "whole: its path on a line by itself, then its text in a fenced block, closed with ```.")
                else:
                    msg = ("Your tool call could not be read: " + "; ".join(parsed.errors[:3]) +
                           '. Call a tool as <tool_call>{"name": ..., "arguments": {...}}</tool_call>.')
                if turn is None or not turn.history:
                    self._append_results(session, fmt, [("error", msg)])
                errors.append(msg)
                self._emit(session, "notice", step, message=msg)
                if self._repeated(errors):
                    return self._finish(session, result, "loop", "the model kept writing unreadable tool calls")
                continue

            # An answer without a tool call means the model thinks it is done: as `finish`.
            calls = parsed.calls[: s.max_tool_calls_per_step] or [ToolCall("finish", {"summary": parsed.text})]
            finishing = next((c for c in calls if c.name == "finish"), None)
            calls = [c for c in calls if c.name != "finish"]
            result.tool_calls += len(calls) + (1 if finishing is not None and parsed.calls else 0)
            outputs = await self._execute(session, step, record, calls, cancel, result)
            if self._whole and calls and all(UNCHANGED in o for _, o in outputs[:len(calls)]):
                if finishing is None and self._run_changes(session):
                    # every file written back as this run left it: the model has nothing more to
                    # change, so it is done as far as it can tell; the checks and the review say
                    # whether it is (measured: a small model repeated its answer until the loop
                    # rule stopped the run, where the review's ask for a test found its bug)
                    finishing = ToolCall("finish", {"summary": parsed.text})
                    self._emit(session, "notice", step, message="the answer changed no file: taken as done; "
                                                                "the checks and the review decide")
                else:
                    # greedy decoding would give this answer again
                    self._sample_next = True
                    self._emit(session, "notice", step, message="the answer changed no file; the next one is "
                                                                f"sampled (temperature {REPEAT_TEMPERATURE})")
            if self._whole and parsed.errors:  # blocks that could not be read, beside ones that could
                outputs.append(("error", "error: " + "; ".join(parsed.errors[:3])))
            if len(parsed.calls) > s.max_tool_calls_per_step:
                outputs.append(("note", f"only the first {s.max_tool_calls_per_step} tool calls of a turn are "
                                        f"run; {len(parsed.calls) - s.max_tool_calls_per_step} were skipped"))
            if finishing is not None and not any(o.startswith("error:") for _, o in outputs):
                done = await self._finish_call(session, step, finishing, result, outputs, cancel, record)
                if done is not None:
                    return done
            elif finishing is not None:
                self._finish_output(session, step, outputs,
                                    "error: not finished: a tool call of this turn failed; fix it first")
            if turn is not None and turn.history:
                session.messages.extend(result_messages(
                    turn, calls, outputs, finishing,
                    f"error: not run: only the first {s.max_tool_calls_per_step} tool calls of a turn are run"))
            else:
                self._append_results(session, fmt, outputs)
            # a finish sent back for review is bounded by MAX_REVIEWS, not by the loop rules
            keys = sorted(c.key() for c in calls)
            if keys:
                history.append(keys)
            self._last_keys = {c.key() for c, (_, out) in zip(calls, outputs, strict=False)
                               if not out.startswith("error:")}
            errors.extend(o for name, o in outputs if o.startswith("error:"))
            if not any(o.startswith("error:") for _, o in outputs):
                errors.append("")  # a clean step breaks an error streak
            loop = self._loop_reason(history, errors)
            if loop:
                return self._finish(session, result, "loop", loop)
        return self._finish(session, result, "max_steps",
                            f"stopped after {s.max_steps} steps without finishing")

    async def _turn(self, session: AgentSession, fmt: ChatFormat, step: int, result: AgentResult,
                    cancel: CancelToken) -> tuple[str, ParseResult, ServerTurn | None, GenerationStats]:
        """The model's answer for this step: its text, its calls, the server's calls (None
        in the text formats) and what it cost. Raises _RunEnds when the run cannot go on."""
        s = self.settings
        whole = session.edit_format == WHOLE
        while True:
            server = self._server_tools(session)
            if session.server_tools and not server:  # the agent's engine changed under the session
                self._fall_back(session, fmt, "tool calls no longer go as the server's own")
            try:
                prompt = self._prompt_estimate(session, fmt) if server else self.render(session, fmt)
            except ChatTemplateError as exc:
                raise _RunEnds("error", str(exc)) from None
            engine = self.worker.engine
            n_prompt = len(engine.tokenize(prompt)) if engine is not None else 0
            if n_prompt + 64 >= self.context_size:
                raise _RunEnds("context_full", f"the conversation ({n_prompt} tokens) no longer fits the context "
                               f"of {self.context_size} tokens; start a new task or raise engine.contextSize")
            # a whole-file answer is as long as the files it writes
            per_step = max(s.max_tokens_per_step, 4096) if whole else s.max_tokens_per_step
            max_tokens = min(per_step, self.context_size - n_prompt - 1)
            stats = GenerationStats()
            raw: list[str] = []
            if server:
                try:
                    turn, parsed = await self._server_turn(session, step, StreamingToolCallParser(self.specs), raw,
                                                           max_tokens, stats, cancel)
                except _ServerRefusedTools as exc:
                    self._fall_back(session, fmt, f"the server did not take the tools ({exc})")
                    continue  # this step again, in the text formats
                except EngineError as exc:
                    raise _RunEnds("error", str(exc)) from None
                if turn is None:
                    self._fall_back(session, fmt, "the server's model wrote its tool calls as text")
                else:
                    result.server_tools = True
                return "".join(raw), parsed, turn, stats
            def exists(rel: str) -> bool:
                return self._exists(session, rel)

            parser: StreamingToolCallParser | WholeFileParser = (
                WholeFileParser(exists) if whole else StreamingToolCallParser(self.specs))
            grammar = None if whole else self._grammar(fmt, session.mode)
            result.grammar = result.grammar or grammar is not None
            temperature = max(s.temperature, REPEAT_TEMPERATURE) if self._sample_next else s.temperature
            self._sample_next = False
            prefix, self._answer_prefix = (self._answer_prefix, "") if whole else ("", "")
            if prefix:  # the answer's first characters, as if the model had written them
                raw.append(prefix)
                for ev in parser.feed(prefix):
                    self._stream_event(session, step, ev)
                max_tokens = min(max_tokens, TEST_ANSWER_TOKENS)  # a small model's tests may run on
            request = GenerationRequest(prompt + prefix, max_tokens=max_tokens, stop=fmt.stop,
                                        temperature=temperature, slot="agent",
                                        grammar=grammar.gbnf if grammar else "",
                                        grammar_triggers=grammar.triggers if grammar else ())
            try:
                async for piece in self.worker.generate(request, cancel, stats):
                    raw.append(piece)
                    for ev in parser.feed(piece):
                        self._stream_event(session, step, ev)
            except EngineError as exc:
                raise _RunEnds("error", str(exc)) from None
            closed = close_cut_listing("".join(raw)) if prefix and stats.stop_reason == "length" else None
            if closed is not None:  # cut off inside the test file: its complete tests are kept
                raw[:] = [closed]
                parser = WholeFileParser(exists)
                parser.feed(closed)
                self._emit(session, "notice", step, message=f"the test file was cut off after {max_tokens} tokens; "
                                                            "its complete tests are kept")
            tail, parsed = parser.finish()
            for ev in tail:
                self._stream_event(session, step, ev)
            return "".join(raw), parsed, None, stats

    async def _finish_call(self, session: AgentSession, step: int, call: ToolCall, result: AgentResult,
                           outputs: list[tuple[str, str]], cancel: CancelToken,
                           record: StepRecord) -> AgentResult | None:
        """The model says it is done: verify, then end the run (the result) or tell it why
        not (appended to `outputs`, None). In plan mode the summary is the plan."""
        summary = str(call.arguments.get("summary") or "").strip()
        if session.mode is ApprovalMode.PLAN:
            if not summary:
                self._finish_output(session, step, outputs, "error: write the plan in finish's summary")
                return None
            self._emit(session, "plan_proposed", step, plan=summary)
            mode = await self.approve_plan(summary) if self.approve_plan is not None else None
            if mode is None or mode is ApprovalMode.PLAN:
                return self._finish(session, result, "plan", summary)
            session.mode = result.mode = mode
            self._emit(session, "mode", step, mode=mode.value)
            self._finish_output(session, step, outputs, f"The user approved the plan. Carry it out now; every "
                                                        f"tool is available again (mode: {mode.value}).")
            return None
        checks = await self._run_checks(session, step, cancel)
        dropped = ""
        if checks is not None and checks.blocks_finish and self._asked_test and fails_only_in(checks, self._asked_test):
            self._asked_test_refusals += 1
            if self._asked_test_refusals > 1:
                # the test Qwill asked for fails, the model keeps saying it is done: the user did
                # not ask for that test, so it goes (reviewed like any change) and the run is told
                dropped = await self._drop_asked_test(session, step, record, result, checks)
                if dropped:
                    checks = await self._run_checks(session, step, cancel)
                    if checks is None:  # that was the only test: no failing run to report
                        session.last_checks = None
        if checks is not None and checks.blocks_finish:
            again = ("Fix the failures: write the files that need it again, whole." if self._whole
                     else "Fix the failures, then call finish again.")
            self._finish_output(session, step, outputs, f"error: not finished: {checks.summary()}\n"
                                                        f"{checks.for_model}\n{again}")
            return None
        if self._reviews < MAX_REVIEWS:
            review = await asyncio.to_thread(self._finish_review, session, checks)
            if review is not None:
                self._reviews += 1
                result.reviews += 1
                self._reviewed_summary = summary or self._reviewed_summary
                self._finish_output(session, step, outputs, review)
                return None
        if dropped:
            summary = f"{summary or self._reviewed_summary or 'done'} ({dropped})"
        return self._finish(session, result, "done", summary or self._reviewed_summary or "done")

    async def _drop_asked_test(self, session: AgentSession, step: int, record: StepRecord, result: AgentResult,
                               checks: CheckResult) -> str:
        """Remove the test file the review asked for; what the finish then says ("" when the
        file is not there or the removal was not applied)."""
        path = self._asked_test
        staging = Staging(session.workspace)
        try:
            if staging.read(path) is None:
                return ""
            staging.delete(path)
        except PathError:
            return ""
        if await self._land(session, step, record, staging, result) != APPLIED:
            return ""
        first = next((ln for ln in checks.failures.splitlines() if ln.startswith("E ")), "").strip()
        self._asked_test = ""
        return (f"the test Qwill asked for, {path}, failed and was not fixed, so it was removed"
                + (f"; it said: {first[1:].strip()[:200]}" if first else ""))

    def _run_changes(self, session: AgentSession) -> list[ChangeSet]:
        return [cs for r in session.records if r.step >= self._run_from for cs in r.changes]

    @staticmethod
    def _files(session: AgentSession) -> list[str]:
        files = []
        for rel in session.workspace.walk():
            files.append(rel)
            if len(files) >= 2000:
                break
        return files

    def _changed_paths(self, session: AgentSession) -> set[str]:
        return {p for cs in self._run_changes(session) for p in cs.paths}

    def _repeat_note(self, session: AgentSession) -> str:
        """What a call that repeats the previous step's (and got the same answer) is told."""
        hint = next_action(self._task, self._files(session), self._read_paths, self._changed_paths(session),
                           whole=self._whole)
        return (f"\n(You made this same call in the previous step and got this answer already; repeating it "
                f"does not move the task on. Next: {hint})")

    def _finish_review(self, session: AgentSession, checks: CheckResult | None) -> str | None:
        """The review turn a finish gets when the run's changes do not fit its task."""
        changes = self._run_changes(session)
        files = self._files(session)

        def read(rel: str) -> str | None:
            try:
                return session.workspace.read_live(rel)[0]
            except (PathError, OSError, UnicodeDecodeError):
                return None

        again = self._reviews > 0
        ask = self.settings.ask_for_test == "on" or (self.settings.ask_for_test == "auto" and self._whole)
        test = new_test_request(self._task, changes, files, whole=self._whole) if ask and not again else None
        review = finish_review(self._task, changes, files, checks, read, again=again, whole=self._whole, test=test)
        if review is not None and test is not None and test.action in review:
            self._asked_test = test.path
            if self._whole:
                # the next answer starts as the test's file listing: a small model that was asked for a
                # new file tends to repeat its last answer instead
                self._answer_prefix = f"{test.path}\n```python\n"
        elif review is not None and self._whole:
            untouched = untouched_named(self._task, named_files(self._task, files), self._changed_paths(session),
                                        checks)
            if untouched and f"Next: write the whole new text of {untouched[0]} " in review:
                # the same for a file the task names and the run left alone: asked to write it, a
                # small model answered "README.md was not changed" until the run ended
                self._answer_prefix = f"{untouched[0]}\n```{_fence_language(untouched[0])}\n"
        return review

    def _finish_output(self, session: AgentSession, step: int, outputs: list[tuple[str, str]], text: str) -> None:
        outputs.append(("finish", text))
        self._emit(session, "tool_result", step, name="finish", ok=not text.startswith("error:"), output=text[:4000])

    async def _checks_before(self, session: AgentSession, task: str, cancel: CancelToken) -> str:
        """What the project's tests say before any change, for the first message: the failures
        when they fail (agent.checksFirst), else nothing."""
        when = self.settings.checks_first
        if when == "off" or (when == "auto" and not SPEAKS_OF_FAILURE.search(task)):
            return ""
        out = ""
        ctx = self._tool_context(session, Staging(session.workspace))
        calls = "" if cancel.cancelled else await run_task_calls(ctx, task)
        if calls:
            self._emit(session, "notice", session.step, message="the calls the task names, run first:\n" + calls)
            out += f"\n\nBefore any change, the calls the task names give:\n{calls}"
        docs = [p for p in named_files(task, self._files(session)) if is_doc(p)]
        examples = "" if cancel.cancelled or not docs else await run_doc_examples(ctx, docs)
        if examples:
            self._emit(session, "notice", session.step, message="the examples of the docs the task names:\n" + examples)
            out += f"\n\nBefore any change, these examples in the docs the task names do not give what they show:\n{examples}"
        checks = await self._run_checks(session, session.step, cancel)
        if checks is not None and checks.blocks_finish:
            out += f"\n\nBefore any change, the tests fail ({checks.command}):\n{checks.for_model}"
        return out

    async def _run_checks(self, session: AgentSession, step: int, cancel: CancelToken) -> CheckResult | None:
        """Run the project's tests (the configured command, else one found from its build
        files), approved as `run_tests` is; None when it has none."""
        if cancel.cancelled:
            return None
        checks = await run_checks(self._tool_context(session, Staging(session.workspace)))
        if checks is not None:
            self._emit_checks(session, step, checks)
            session.last_checks = checks
        return checks

    def _emit_checks(self, session: AgentSession, step: int, checks: CheckResult) -> None:
        self._emit(session, "checks", step, command=checks.command, passed=checks.passed, ran=checks.ran,
                   noTests=checks.no_tests, summary=checks.summary(), output=checks.output[-4000:])

    def _stream_event(self, session: AgentSession, step: int, ev: Any) -> None:
        if ev.text:
            self._emit(session, "text", step, text=ev.text)
        if ev.call is not None:
            self._emit(session, "tool_call", step, name=ev.call.name, arguments=ev.call.arguments,
                       format=ev.call.format)

    def _finish(self, session: AgentSession, result: AgentResult, reason: str, message: str) -> AgentResult:
        result.reason = reason
        result.message = message
        if session.last_checks is not None:
            result.checks = session.last_checks.summary()
            result.checks_passed = session.last_checks.passed and session.last_checks.ran
        self._emit(session, "done", session.step, reason=reason, message=message,
                   steps=result.steps, toolCalls=result.tool_calls,
                   applied=result.applied, rejected=result.rejected, checks=result.checks)
        return result

    # -- tools -------------------------------------------------------------------------
    def _tool_context(self, session: AgentSession, staging: Staging) -> ToolContext:
        s = self.settings
        return ToolContext(session.workspace, staging, policy=policy_from_settings(s), test_command=s.test_command,
                           command_timeout=s.command_timeout, sandbox=s.sandbox,
                           approve_command=self.approve_command, plan=session.plan,
                           symbol_index=self.symbol_index, fetch=self.fetch, unreviewed=session.unreviewed,
                           mode=session.mode, extra_tools=self.extra_tools)

    async def _execute(self, session: AgentSession, step: int, record: StepRecord, calls: list[ToolCall],
                       cancel: CancelToken, result: AgentResult) -> list[tuple[str, str]]:
        ws = session.workspace
        staged_by: dict[int, list[int]] = {}  # change-set index -> output indexes of its write calls
        outputs: list[tuple[str, str]] = []
        pending_writes: list[int] = []
        ctx = self._tool_context(session, Staging(ws))

        async def flush() -> str:
            if not ctx.staging:
                return ""
            outcome = await self._land(session, step, record, ctx.staging, result)
            ctx.staging = Staging(ws)
            for i in pending_writes:
                name, out = outputs[i]
                outputs[i] = (name, out + outcome)
            staged_by[len(staged_by)] = list(pending_writes)
            pending_writes.clear()
            return "(staged edits were applied first)" if outcome == APPLIED else ""

        ctx.flush = flush
        for call in calls:
            if schema_problems(next((t for t in self.all_tools if t.name == call.name), None), call.arguments):
                result.invalid_calls += 1
            repeated = call.key() in session.failed_calls
            if cancel.cancelled:
                outputs.append((call.name, "error: cancelled before this call ran"))
                continue
            try:
                if call.format == WHOLE:
                    self._check_whole(session, call)
                out = await call_tool(ctx, call.name, call.arguments)
                text = out
            except ToolError as exc:
                text = f"error: {exc}"
                if repeated:
                    text += (" (You made this exact call before and it failed the same way: change the "
                             "arguments or use another tool, e.g. read_file to see the current text.)")
                session.failed_calls.add(call.key())
            if call.name == "read_file" and not text.startswith("error:"):
                self._read_paths.add(ws.rel(str(call.arguments.get("path", ""))))
            if call.key() in self._last_keys and not text.startswith("error:"):
                text += self._repeat_note(session)
            outputs.append((call.name, text))
            tool = next((t for t in self.all_tools if t.name == call.name), None)
            if tool is not None and tool.writes and not text.startswith("error:"):
                pending_writes.append(len(outputs) - 1)
            if call.name == "todo" and not text.startswith("error:"):
                self._emit(session, "plan", step, items=[{"text": p.text, "done": p.done} for p in ctx.plan])
            self._emit(session, "tool_result", step, name=call.name, ok=not text.startswith("error:"),
                       output=text[:4000])
        applied_before = result.applied
        await flush()
        if result.applied > applied_before:
            files, changed = self._files(session), self._changed_paths(session)
            left = [p for p in named_files(self._task, files) if p not in changed]  # named, not changed yet
            if left:
                hint = next_action(self._task, files, self._read_paths, changed, whole=self._whole)
                outputs.append(("note", f"The task also names {', '.join(left)}, not changed yet. Next: {hint}"))
            checks = await self._run_checks(session, step, cancel)
            if checks is not None and checks.ran and not checks.no_tests:
                verdict = "pass" if checks.passed else "FAIL"
                done = ("answer with a short summary and no code block" if self._whole
                        else "call finish with a short summary")
                note = f"If the task is done, {done}." if checks.passed else "Fix what fails."
                outputs.append(("checks", f"after your change the tests {verdict} ({checks.command}):\n"
                                          f"{checks.for_model}\n{note}"))
        return outputs

    async def _land(self, session: AgentSession, step: int, record: StepRecord, staging: Staging,
                    result: AgentResult) -> str:
        """Review and apply a step's staged writes; the note added to their results."""
        changes = staging.change_set(step)
        if not changes:
            return ""
        if session.store is not None and record.checkpoint is not None:
            try:
                record.checkpoint = await asyncio.to_thread(
                    session.store.include, record.checkpoint, tuple(changes.paths))
            except CheckpointError as exc:
                log.warning("checkpoint include failed: %s", exc)
        self._emit(session, "changes", step, diff=changes.diff(), summary=changes.summary(),
                   files=changes.paths, flagged=changes.flagged)
        try:
            outcome = await self.applier.apply(changes)
        except Exception as exc:
            log.exception("applying changes failed")
            outcome = ApplyResult(False, f"could not apply: {exc}")
        if outcome.applied:
            session.workspace.expect(changes)
            if not session.mode.reviews_edits:  # applied without review (auto-edit, yolo)
                session.unreviewed.update(changes.paths)
            record.changes.append(changes)
            result.applied += 1
            self._emit(session, "applied", step, summary=changes.summary())
            return APPLIED
        result.rejected += 1
        reason = outcome.reason or "the user rejected the change"
        self._emit(session, "rejected", step, reason=reason)
        return f" -- but NOT applied: {reason}. The files are unchanged."

    def _exists(self, session: AgentSession, rel: str) -> bool:
        try:
            return session.workspace.read_live(session.workspace.rel(rel))[0] is not None
        except (PathError, OSError, UnicodeDecodeError):
            return False

    def _check_whole(self, session: AgentSession, call: ToolCall) -> None:
        """A whole-file write of an existing file must come from its text: refused (ToolError)
        when the model has not been shown the file, or left lines out ("# ... rest unchanged");
        the refusal shows the text to write it from."""
        ws = session.workspace
        try:
            rel = ws.rel(str(call.arguments.get("path", "")))
            before = ws.read_live(rel)[0]
        except (PathError, OSError, UnicodeDecodeError):
            return  # the tool reports it
        if before is None:
            # a new file in a new folder, named as an existing file: the model misplaced that file
            name, parent = PurePosixPath(rel).name, PurePosixPath(rel).parent
            if call.name == "create_file" and not ws.abspath(str(parent)).is_dir():
                same = [f for f in self._files(session) if PurePosixPath(f).name == name]
                if same:
                    raise ToolError(f"{rel} was not created: {parent} does not exist, and {same[0]} is the file "
                                    f"of that name. Write a file under its path exactly as shown.")
            return
        unseen = rel not in self._attached and rel not in self._changed_paths(session)
        gap = elided(str(call.arguments.get("content", "")), before)
        if not unseen and not gap:
            return
        self._attached.add(rel)
        why = (f"{rel} was not shown to you yet, so it was not replaced" if unseen else
               f"your text of {rel} leaves lines out (`{gap}`), which would delete them; {rel} was not changed")
        raise ToolError(f"{why}. Write it again whole, every line; it is now:\n{rel}\n{_fence(before)}\n"
                        f"{before.rstrip()}\n{_fence(before)}")

    def _append_results(self, session: AgentSession, fmt: ChatFormat, outputs: list[tuple[str, str]]) -> None:
        if session.edit_format == WHOLE:  # no tools: the results are the user's next message
            session.messages.append(ChatMessage("user", "\n\n".join(out for _, out in outputs)))
            return
        if self._native_tool_role(fmt):
            for name, out in outputs:
                session.messages.append(ChatMessage("tool", out, name=name))
        else:
            body = "\n".join(f"<tool_response>\n[{name}] {out}\n</tool_response>" for name, out in outputs)
            session.messages.append(ChatMessage("user", body))

    # -- loop detection -------------------------------------------------------------------
    @staticmethod
    def _repeated(errors: list[str], n: int = 3) -> bool:
        """The last `n` errors are the same one, or the last four alternate between the same
        two (an unreadable answer, then a refused "done", again and again: measured, it ran
        until the time limit). Test timings (`in 0.97s`) do not make two errors differ."""
        tail = [_TIMING.sub("in Ns", e) for e in errors[-max(n, 4):]]
        if len(tail) >= n and tail[-n] != "" and all(e == tail[-n] for e in tail[-n:]):
            return True
        return len(tail) == 4 and "" not in tail and tail[0] == tail[2] and tail[1] == tail[3] and tail[0] != tail[1]

    def _loop_reason(self, history: list[list[str]], errors: list[str]) -> str:
        if len(history) >= 3 and history[-1] == history[-2] == history[-3]:
            return "the model repeated the same tool call three times; stopping"
        if self._repeated(errors):
            return "the same errors came back again and again; stopping"
        if len(history) >= 4 and history[-1] == history[-3] and history[-2] == history[-4] \
                and history[-1] != history[-2]:
            return "the model is alternating between the same two tool calls; stopping"
        if len(history) >= 6 and history[-3:] == history[-6:-3]:
            return "the model is cycling through the same three tool calls; stopping"
        return ""


def _fence(text: str) -> str:
    """A fence longer than any run of backticks at a line start in `text` (a Markdown file's
    own code blocks stay inside)."""
    runs = [len(m.group()) for m in re.finditer(r"(?m)^`{3,}", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def new_session(root: str | Path, documents: Any = None, *, checkpoints: bool = True,
                store_dir: Path | None = None) -> AgentSession:
    ws = Workspace(root, documents)
    store = CheckpointStore(ws, store_dir) if checkpoints else None
    return AgentSession(ws, store=store)

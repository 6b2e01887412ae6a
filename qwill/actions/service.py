"""Run a code action: prompt the model, read its answer, check the edit.

`ActionService.run(target)` is the whole pipeline for one action the user
picked: freeze the buffer, build chat messages (rendered with the model's own
template), stream the answer (reporting partial text, honouring the cancel
token), turn the answer into edits, and accept them only if

- they apply cleanly to the live buffer (rebased if the user typed meanwhile),
- the file parses no worse than before (tree-sitter ERROR/MISSING nodes).

Anything else comes back as `ActionResult.error`, a message for the user;
nothing is ever half-applied because nothing is applied here at all: the
caller sends the `WorkspaceChange` to the editor.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..context.document import DocumentStore, Position, TextDocument
from ..context.languages import CLASS_LIKE, LanguageSpec
from ..context.syntax import MAX_PARSE_CHARS, Scope, SyntaxStore, SyntaxTree, outline
from ..engine.base import (
    CancelToken,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    is_small_model,
)
from ..engine.chat import ChatMessage, ChatTemplateError
from ..engine.fim import FimParts
from ..engine.worker import EngineWorker
from . import doc_comments, prompts, test_layout
from .answers import AnswerError, code_blocks, replacement_text
from .catalog import ActionOffer, doc_scope, offer_actions, test_subject
from .edits import EditError, FileChange, TextEdit, WorkspaceChange, apply_edits, minimal_edit, rebase
from .regions import (
    Snapshot,
    dedent,
    function_at,
    line_region,
    match_newlines,
    only_definition,
    path_of,
    reindent,
    remove_definitions,
    snapshot,
)
from .syntax_check import spec_for, syntax_errors
from .targets import ActionError, ActionKind, ActionTarget, Diagnostic

log = logging.getLogger(__name__)

MAX_REGION_LINES = 200  # a fix sees the whole function up to this size, else lines around the problem
FIX_CONTEXT_LINES = 8
EXPLAIN_MAX_TOKENS = 512
DOC_MAX_TOKENS = 256
EXISTING_TESTS_MAX_CHARS = 2000
CLASS_OUTLINE_LINES = 60  # a longer class is shown to the docstring prompt as an outline
# Below engine.base.SMALL_MODEL_PARAMETERS a model copies a whole function back unchanged more often than
# it fixes it (Qwen2.5-Coder-0.5B did, for a one-word typo): a fix then asks for the problem's
# lines only, and for an infill of the diagnostic's range when that fails.
INFILL_MAX_TOKENS = 24
LINE_SIMILARITY_MIN = 0.4  # a corrected line keeps at least this much of the line it fixes
_QUOTED_NAME = re.compile(r"""['"`‘“]([A-Za-z_$][\w$]*)['"`’”]""")
_NAME_LIKE = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def small_model(info: ModelInfo) -> bool:
    """Whether the model is small enough to be asked for the narrower answer shapes
    (unknown sizes, e.g. remote models, count as large)."""
    return is_small_model(info.parameters)


@dataclass
class ActionOptions:
    max_tokens: int = 1024
    temperature: float = 0.0


@dataclass
class ActionResult:
    target: ActionTarget
    title: str
    change: WorkspaceChange | None = None
    markdown: str | None = None
    error: str | None = None
    cancelled: bool = False
    answer: str = ""
    stats: GenerationStats = field(default_factory=GenerationStats)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


@dataclass
class _Plan:
    title: str
    messages: list[ChatMessage]
    max_tokens: int
    finish: Callable[[str, GenerationStats], ActionResult]
    # an infill of a range (the engine's FIM format) instead of a chat answer
    fim: FimParts | None = None
    # asked when this plan's answer is refused (a narrower ask), and what it asks for
    retry: _Plan | None = None
    what: str = ""


TextListener = Callable[[str], None]


class ActionService:
    """Code actions over one session's documents and engine."""

    def __init__(self, worker: EngineWorker, documents: DocumentStore,
                 options: ActionOptions | None = None, syntax: SyntaxStore | None = None) -> None:
        self.worker = worker
        self.documents = documents
        self.options = options or ActionOptions()
        self.syntax = syntax

    # -- the list ---------------------------------------------------------------------
    def snapshot(self, doc: TextDocument) -> Snapshot:
        tree = self.syntax.get(doc.uri) if self.syntax is not None else None
        return snapshot(doc, tree)

    def offers(self, doc: TextDocument, start: Position, end: Position, *,
               diagnostics: Sequence[Diagnostic] = (), roots: Sequence[Path] = ()) -> list[ActionOffer]:
        """The actions for the selection `start`..`end` of `doc` (instant: syntax only)."""
        if len(doc.text) > MAX_PARSE_CHARS:
            return []  # parsing it would stall the editor's requests; see run()
        return offer_actions(self.snapshot(doc), start, end, diagnostics, roots)

    # -- running one ------------------------------------------------------------------
    async def run(self, target: ActionTarget, *, cancel: CancelToken | None = None,
                  on_text: TextListener | None = None, roots: Sequence[Path] = ()) -> ActionResult:
        """Run `target`'s action to a checked change, an explanation, or a message."""
        cancel = cancel or CancelToken()
        title = f"Qwill: {target.kind.label}"
        doc = self.documents.get(target.uri)
        if doc is None:
            return ActionResult(target, title, error=f"{target.uri} is not open in the editor")
        if len(doc.text) > MAX_PARSE_CHARS:
            return ActionResult(target, title, error=(
                f"the file is too large for code actions ({len(doc.text):,} characters; "
                f"the limit is {MAX_PARSE_CHARS:,})"))
        engine = self.worker.engine
        if engine is None:
            return ActionResult(target, title, error="the model is not loaded yet; try again when it is ready")
        snap = self.snapshot(doc)
        try:
            plan: _Plan | None = self._plan(target, snap, tuple(roots), small_model(engine.info),
                                            engine.fim is not None)
        except (ActionError, AnswerError, EditError) as exc:
            return ActionResult(target, title, error=str(exc))
        said = ""  # the refusals before the last answer, for the message
        result = ActionResult(target, title)
        while plan is not None:
            result, retryable = await self._attempt(target, plan, snap, engine, cancel, on_text)
            if result.ok or not retryable or plan.retry is None or cancel.cancelled:
                break
            plan = plan.retry
            log.info("action %s: asking again, for %s", target.kind.value, plan.what)
            said += f"{result.error}; asked again for {plan.what}: "
        if said and not result.ok and not result.cancelled:
            result.error = said + (result.error or "")
        return result

    async def _attempt(self, target: ActionTarget, plan: _Plan, snap: Snapshot, engine: Engine,
                       cancel: CancelToken, on_text: TextListener | None) -> tuple[ActionResult, bool]:
        """Ask the model once; the result and whether a refusal may be retried."""
        fmt = engine.info.chat_format
        if plan.fim is not None:
            if engine.fim is None:
                return ActionResult(target, plan.title, error="the model has no fill-in-the-middle format"), False
            prompt = engine.fim.render_parts(plan.fim)
            request = GenerationRequest(fim=plan.fim, max_tokens=plan.max_tokens, stop=("\n",),
                                        temperature=self.options.temperature, slot="actions")
        else:
            try:
                prompt = fmt.render(plan.messages)
            except ChatTemplateError as exc:
                return ActionResult(target, plan.title, error=str(exc)), False
            request = GenerationRequest(prompt=prompt, max_tokens=plan.max_tokens, stop=fmt.stop,
                                        temperature=self.options.temperature, slot="actions")
        n_ctx = _context_size(engine.info.extra, engine.info.context_length)
        try:
            prompt_tokens = await self.worker.call(lambda e: len(e.tokenize(prompt)))
        except EngineError as exc:
            return ActionResult(target, plan.title, error=str(exc)), False
        room = n_ctx - prompt_tokens - 1
        if room < 32:
            return ActionResult(target, plan.title, error=(
                f"the code is too large for the model's context ({prompt_tokens} tokens of {n_ctx}); "
                "select less code or raise engine.contextSize")), plan.fim is None
        request = replace(request, max_tokens=min(plan.max_tokens, room))
        stats = GenerationStats()
        answer = ""
        try:
            async for piece in self.worker.generate(request, cancel, stats):
                answer += piece
                if on_text is not None:
                    on_text(answer)
        except EngineError as exc:
            return ActionResult(target, plan.title, error=str(exc), answer=answer, stats=stats), False
        if cancel.cancelled or stats.stop_reason == "cancelled":
            return ActionResult(target, plan.title, error="cancelled", cancelled=True, answer=answer,
                                stats=stats), False
        retryable = False
        try:
            result = plan.finish(answer, stats)
            if result.change is not None:
                result.change = self._to_live(result.change, snap)
        except (ActionError, AnswerError, EditError) as exc:
            log.info("action %s refused: %s; answer was %r", target.kind.value, exc, answer[:2000])
            result = ActionResult(target, plan.title, error=str(exc))
            # the user typing over the code meanwhile is not the model's fault: no second ask
            retryable = not (isinstance(exc, EditError) and "while the model was working" in str(exc))
        result.answer, result.stats = answer, stats
        return result, retryable

    # -- planning -----------------------------------------------------------------------
    def _plan(self, target: ActionTarget, snap: Snapshot, roots: tuple[Path, ...], small: bool,
              fim: bool) -> _Plan:
        if target.kind is ActionKind.FIX:
            return self._plan_fix(target, snap, small, fim)
        if target.kind is ActionKind.REWRITE:
            return self._plan_rewrite(target, snap)
        if target.kind is ActionKind.EXPLAIN:
            return self._plan_explain(target, snap)
        if target.kind is ActionKind.DOCSTRING:
            return self._plan_docstring(target, snap)
        return self._plan_tests(target, snap, roots)

    def _replace_plan(self, target: ActionTarget, snap: Snapshot, title: str, start: int, end: int,
                      messages: Callable[[str], list[ChatMessage]], *, whole: Scope | None = None,
                      partial_guard: bool = False) -> _Plan:
        """An action whose answer is the new text of `snap.text[start:end]`."""
        region = snap.text[start:end]
        shown, indent = dedent(region.replace("\r\n", "\n"))
        crlf = "\r\n" in region

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            code = replacement_text(answer, shown, stats.stop_reason)
            if whole is not None:
                code = only_definition(code, snap.spec, whole.name)
            if partial_guard and _lines(shown) >= 4 and _lines(code) * 2 < _lines(shown):
                raise AnswerError("the model answered with only part of the code; nothing was changed")
            new = match_newlines(reindent(code, indent), region, crlf)
            edit = minimal_edit(snap.text, start, end, new)
            if edit is None:
                raise AnswerError("the model suggested no change")
            return ActionResult(target, title, change=WorkspaceChange(
                title, (self._checked(snap.uri, snap.text, snap.version, (edit,), snap.spec),)))

        return _Plan(title, messages(shown), self.options.max_tokens, finish)

    def _plan_fix(self, target: ActionTarget, snap: Snapshot, small: bool, fim: bool) -> _Plan:
        """The whole function (or the lines around the problem) asked back fixed; for a small
        model, only the problem's lines. Either way a narrower ask follows a refusal: the
        lines after the whole, an infill of the diagnostic's range after the lines."""
        if not target.diagnostics:
            raise ActionError("there is no problem to fix here (the fix action needs a diagnostic)")
        offsets = [snap.offset(d.start) for d in target.diagnostics]
        ends = [max(snap.offset(d.end), o) for d, o in zip(target.diagnostics, offsets, strict=True)]
        fn = function_at(snap, offsets[0])
        whole: Scope | None = None
        if fn is not None and fn.start <= min(offsets) and max(ends) <= fn.end and (
                snap.text.count("\n", fn.start, fn.end) < MAX_REGION_LINES):
            start, end = line_region(snap.text, fn.start, fn.end)
            whole = fn
        else:
            lines = snap.text.splitlines(keepends=True)
            first = snap.text.count("\n", 0, min(offsets))
            last = snap.text.count("\n", 0, max(ends))
            lo, hi = max(0, first - FIX_CONTEXT_LINES), min(len(lines), last + FIX_CONTEXT_LINES + 1)
            start = sum(len(x) for x in lines[:lo])
            end = start + sum(len(x) for x in lines[lo:hi])
        problems = [(d.describe(), snap.line_of(o)) for d, o in zip(target.diagnostics, offsets, strict=True)]
        title = f"Qwill: Fix “{target.diagnostics[0].message.strip()[:60]}”"
        # the imports above the code shown: what an undefined name or attribute may have meant
        head = _imports_only(snap.text[:start]).strip() if start else ""
        lines_plan = self._fix_lines_plan(target, snap, title, (start, end), (min(offsets), max(ends)),
                                          problems, head)
        if len(target.diagnostics) == 1:
            lines_plan.retry = self._fix_span_plan(target, snap, title, target.diagnostics[0], offsets[0],
                                                   ends[0], head, fim=fim)
        if small:
            return lines_plan
        plan = self._replace_plan(target, snap, title, start, end,
                                  lambda shown: prompts.fix(snap.language, shown, problems, head),
                                  whole=whole, partial_guard=True)
        lines_plan.retry = None  # one retry: the whole, then the lines
        plan.retry = lines_plan
        return plan

    def _fix_lines_plan(self, target: ActionTarget, snap: Snapshot, title: str, shown_span: tuple[int, int],
                        problem_span: tuple[int, int], problems: list[tuple[str, str]], head: str) -> _Plan:
        """Only the problem's lines asked back; the edit must stay inside them."""
        ls, le = line_region(snap.text, *problem_span)
        cs, ce = shown_span
        region = snap.text[ls:le]
        shown_lines, indent = dedent(region.replace("\r\n", "\n"))
        context, ctx_indent = dedent(snap.text[cs:ce].replace("\r\n", "\n"))
        crlf = "\r\n" in region

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            code = replacement_text(answer, shown_lines, stats.stop_reason)
            if _lines(code) == _lines(shown_lines) or _lines(code) < _lines(context) // 2 + 1:
                new = match_newlines(reindent(code, indent), region, crlf)
                edit = minimal_edit(snap.text, ls, le, new)
            else:  # the model answered with the whole code shown: keep it only if it changed the lines
                new = match_newlines(reindent(code, ctx_indent), snap.text[cs:ce], "\r\n" in snap.text[cs:ce])
                edit = minimal_edit(snap.text, cs, ce, new)
                if edit is not None and not (ls <= edit.start and edit.end <= le):
                    raise AnswerError("the model changed lines other than the problem's; nothing was changed")
            if edit is None:
                raise AnswerError("the model suggested no change")
            if difflib.SequenceMatcher(None, edit.old_text.strip(), edit.new_text.strip()).ratio() < (
                    LINE_SIMILARITY_MIN) and _lines(edit.old_text) <= 2:
                raise AnswerError("the model replaced the problem's line with different code; nothing was changed")
            return ActionResult(target, title, change=WorkspaceChange(
                title, (self._checked(snap.uri, snap.text, snap.version, (edit,), snap.spec),)))

        what = "the corrected line only" if _lines(shown_lines) <= 1 else "the corrected lines only"
        return _Plan(title, prompts.fix_lines(snap.language, context, shown_lines, problems, head),
                     self.options.max_tokens, finish, what=what)

    def _fix_span_plan(self, target: ActionTarget, snap: Snapshot, title: str, diag: Diagnostic, start: int,
                       end: int, head: str, *, fim: bool) -> _Plan:
        """An infill of the diagnostic's range (the name a message quotes, when it does):
        the model writes what goes between the code before it and the code after it."""
        s, e = _problem_span(snap.text, diag, start, end)
        old = snap.text[s:e]
        line_end = snap.text.find("\n", e)
        rest = snap.text[e:len(snap.text) if line_end < 0 else line_end].rstrip("\r")
        named = bool(_NAME_LIKE.fullmatch(old))

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            if fim:
                text = answer.split("\n", 1)[0]
            else:
                blocks = code_blocks(answer)
                text = (blocks[0].code if blocks else answer).strip().split("\n", 1)[0]
            if rest.strip() and rest.rstrip() in text:  # the model wrote the rest of the line too
                text = text[:text.index(rest.rstrip())]
            text = text.strip() if old == old.strip() else text
            lead = _NAME_LIKE.match(text)
            if named and lead and lead.end() < len(text) and rest[:1] == text[lead.end():lead.end() + 1]:
                text = lead.group(0)  # a name, then its own version of the rest of the line: the name
            if not text or text == old:
                raise AnswerError("the model suggested no change")
            if named and not _NAME_LIKE.fullmatch(text):
                raise AnswerError(f"the model's replacement for `{old}` is not a name: {text[:60]!r}")
            edit = TextEdit(s, e, text, old)
            return ActionResult(target, title, change=WorkspaceChange(
                title, (self._checked(snap.uri, snap.text, snap.version, (edit,), snap.spec),)))

        what = f"an infill of `{old[:40]}`"
        if fim:
            ctx = snap.text[max(0, s - 6000):s]
            return _Plan(title, [], INFILL_MAX_TOKENS, finish, fim=FimParts(ctx, snap.text[e:e + 2000],
                                                                                 path=snap.path.name if snap.path
                                                                                 else None), what=what)
        return _Plan(title, prompts.fix_span(snap.language, snap.line_of(s), old, diag.message, head),
                     INFILL_MAX_TOKENS * 4, finish, what=what)

    def _plan_rewrite(self, target: ActionTarget, snap: Snapshot) -> _Plan:
        if not target.instruction:
            raise ActionError("qwill.rewrite needs an instruction (what to do with the selection)")
        s, e = snap.offset(target.start), snap.offset(target.end)
        if not snap.text[s:e].strip():
            raise ActionError("select the code to rewrite first")
        if "\n" in snap.text[s:e].rstrip("\n"):
            s, e = line_region(snap.text, s, e)
        title = "Qwill: Rewrite"
        return self._replace_plan(target, snap, title, s, e,
                                  lambda shown: prompts.rewrite(snap.language, shown, target.instruction))

    def _plan_explain(self, target: ActionTarget, snap: Snapshot) -> _Plan:
        s, e = snap.offset(target.start), snap.offset(target.end)
        if snap.text[s:e].strip():
            code, what, title = snap.text[s:e], "the selected code", "Qwill: Explain selection"
        else:
            scope = function_at(snap, s) or doc_scope(snap, s)
            if scope is None:
                raise ActionError("select some code, or put the cursor inside a function, to explain it")
            ls, le = line_region(snap.text, scope.start, scope.end)
            code, what, title = snap.text[ls:le], f"the {scope.kind} `{scope.name}`", (
                f"Qwill: Explain `{scope.name}`")
        shown, _ = dedent(code)

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            text = answer.strip()
            if not text:
                raise AnswerError("the model gave no explanation")
            if stats.stop_reason == "length":
                text += "\n\n*(cut off: the answer reached its length limit)*"
            return ActionResult(target, title, markdown=f"### {title.removeprefix('Qwill: ')}\n\n{text}\n")

        return _Plan(title, prompts.explain(snap.language, shown, what),
                     min(EXPLAIN_MAX_TOKENS, self.options.max_tokens), finish)

    def _plan_docstring(self, target: ActionTarget, snap: Snapshot) -> _Plan:
        lang = snap.language
        if snap.tree is None or not doc_comments.supported(lang):
            raise ActionError(f"documentation comments are not supported for {prompts.display_name(lang)} files")
        scope = doc_scope(snap, snap.offset(target.start))
        if scope is None:
            raise ActionError("put the cursor inside a function or class to document it")
        tree = snap.tree
        place = doc_comments.placement(tree, scope)
        ls, le = line_region(snap.text, scope.start, scope.end)
        code = snap.text[ls:le]
        if scope.kind in CLASS_LIKE and code.count("\n") > CLASS_OUTLINE_LINES:
            # a big class is described by its members' signatures, not their bodies
            code = _indent_of_line(snap.text, scope.start) + outline(tree, scope) + "\n"
        shown, _ = dedent(code)
        noun = doc_comments.doc_noun(lang)
        title = f"Qwill: Document `{scope.name}`"

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            if stats.stop_reason == "length" and not answer.strip():
                raise AnswerError("the model's answer was cut off")
            words = doc_comments.doc_words(answer, lang)
            doc = doc_comments.format_doc(lang, words, place.indent, scope.name)
            new = ("\n" + doc + place.indent) if place.inline_body else doc
            if "\r\n" in snap.text:
                new = new.replace("\n", "\r\n")
            edit = TextEdit(place.start, place.end, new, snap.text[place.start:place.end])
            return ActionResult(target, title, change=WorkspaceChange(
                title, (self._checked(snap.uri, snap.text, snap.version, (edit,), snap.spec),)))

        kind = "method" if scope.kind == "method" else ("class" if scope.kind in CLASS_LIKE else scope.kind)
        return _Plan(title, prompts.document(lang, shown, kind, scope.name, noun), DOC_MAX_TOKENS, finish)

    def _plan_tests(self, target: ActionTarget, snap: Snapshot, roots: tuple[Path, ...]) -> _Plan:
        lang = snap.language
        if snap.path is None:
            raise ActionError("tests can only be generated for files on disk")
        subject = test_subject(snap, snap.offset(target.start))
        if subject is None:
            raise ActionError("put the cursor inside a function to generate tests for it")
        fn, cls = subject
        where = test_layout.locate(snap.path, lang, fn.name, cls.name if cls else "", roots, snap.text)
        if where is None:
            raise ActionError(f"Qwill does not know where {prompts.display_name(lang)} tests go")
        ls, le = line_region(snap.text, fn.start, fn.end)
        shown, _ = dedent(snap.text[ls:le])
        test_uri, base, version, exists = self._file_state(where.path, snap)
        spec = snap.spec if where.same_file else spec_for("", str(where.path))
        existing = ""
        if exists and not where.same_file:
            existing = base if len(base) <= EXISTING_TESTS_MAX_CHARS else _imports_only(base)
        title = f"Qwill: Generate tests for `{fn.name}`"
        kind = "method" if cls else "function"
        messages = prompts.tests(lang, shown, kind if not cls else f"method of `{cls.name}`", fn.name,
                                 where.framework, where.import_line, where.note, existing)

        def finish(answer: str, stats: GenerationStats) -> ActionResult:
            blocks = [b for b in code_blocks(answer) if b.closed or stats.stop_reason != "length"]
            if not blocks:
                if code_blocks(answer):
                    raise AnswerError("the model's answer was cut off before the tests ended "
                                      "(raise actions.maxTokens)")
                raise AnswerError("the model's answer contains no code block with tests")
            code = max(blocks, key=lambda b: len(b.code)).code
            code = _test_code(code, lang, spec, fn.name, cls.name if cls else "", where, base if exists else "")
            if exists:
                edit = _append_edit(base, code, lang)
                change = self._checked(test_uri, base, version, (edit,), spec)
            else:
                change = self._checked(test_uri, "", None, (TextEdit(0, 0, code),), spec, create=True)
            return ActionResult(target, title, change=WorkspaceChange(title, (change,)))

        return _Plan(title, messages, self.options.max_tokens, finish)

    # -- checks ----------------------------------------------------------------------------
    def _file_state(self, path: Path, snap: Snapshot) -> tuple[str, str, int | None, bool]:
        """(uri, text, live version or None, exists) of a file, preferring its open buffer."""
        if snap.path is not None and path == snap.path:
            return snap.uri, snap.text, snap.version, True
        for doc in self.documents:
            if path_of(doc.uri) == path:
                return doc.uri, doc.text, doc.version, True
        uri = path.as_uri()
        if path.is_file():
            try:
                return uri, path.read_text(encoding="utf-8"), None, True
            except (OSError, UnicodeDecodeError) as exc:
                raise ActionError(f"cannot read {path}: {exc}") from None
        return uri, "", None, False

    def _checked(self, uri: str, base: str, version: int | None, edits: tuple[TextEdit, ...],
                 spec: LanguageSpec | None, *, create: bool = False) -> FileChange:
        """A FileChange that applies cleanly and leaves the file parsing no worse."""
        result = apply_edits(base, edits)
        _check_parse(uri, base, result, spec, create)
        return FileChange(uri, base, edits, version, create)

    def _to_live(self, change: WorkspaceChange, snap: Snapshot) -> WorkspaceChange:
        """Rebase each file's edits onto the buffer as it is now (the user may have typed)."""
        files = []
        for fc in change.files:
            live = self.documents.get(fc.uri)
            if fc.version is None:
                if live is not None and live.text != fc.base_text:
                    raise EditError(f"{fc.uri} changed while the model was working; run the action again")
                files.append(fc if live is None else FileChange(fc.uri, fc.base_text, fc.edits, live.version))
                continue
            if live is None:
                raise EditError(f"{fc.uri} was closed while the model was working; nothing was changed")
            if live.version == fc.version and live.text == fc.base_text:
                files.append(fc)
                continue
            edits = rebase(fc.edits, fc.base_text, live.text)
            spec = spec_for(live.language_id, str(path_of(fc.uri) or fc.uri))
            _check_parse(fc.uri, live.text, apply_edits(live.text, edits), spec, False)
            files.append(FileChange(fc.uri, live.text, edits, live.version))
        return WorkspaceChange(change.label, tuple(files))


def _check_parse(uri: str, before: str, after: str, spec: LanguageSpec | None, create: bool) -> None:
    if spec is None:
        return
    b = syntax_errors(SyntaxTree(spec, before)) if not create else None
    a = syntax_errors(SyntaxTree(spec, after))
    allowed = b.count if b is not None else 0
    if a.count > allowed:
        name = uri.rsplit("/", 1)[-1]
        where = f" (line {a.first_line + 1})" if a.first_line is not None else ""
        raise EditError(f"the model's edit would leave {name} with syntax errors{where}; nothing was changed")


def _problem_span(text: str, diag: Diagnostic, start: int, end: int) -> tuple[int, int]:
    """What a diagnostic is about on its line: the name its message quotes (linters often
    mark the whole rest of the line), else its range, else the word at its start."""
    line_start = text.rfind("\n", 0, start) + 1
    nl = text.find("\n", start)
    line_end = len(text) if nl < 0 else nl
    stop = min(max(end, start), line_end)
    for m in _QUOTED_NAME.finditer(diag.message):
        name = m.group(1)
        hits = [h.start() + line_start for h in re.finditer(rf"(?<![\w$]){re.escape(name)}(?![\w$])",
                                                             text[line_start:line_end])]
        inside = [h for h in hits if start <= h < max(stop, start + 1)] or hits
        if inside:
            h = min(inside, key=lambda h: abs(h - start))
            return h, h + len(name)
    if start < stop:
        return start, stop
    word = re.match(r"[\w$]+", text[start:line_end])
    return (start, start + word.end()) if word else (start, start)


def _context_size(extra: dict[str, str], context_length: int | None) -> int:
    try:
        return int(extra.get("n_ctx", "")) if extra.get("n_ctx") else int(context_length or 4096)
    except ValueError:
        return 4096


def _indent_of_line(text: str, offset: int) -> str:
    line = text[text.rfind("\n", 0, offset) + 1:offset]
    return line if not line.strip() else ""


def _lines(code: str) -> int:
    return sum(1 for ln in code.splitlines() if ln.strip())


def _imports_only(text: str) -> str:
    keep = [ln for ln in text.splitlines() if ln.lstrip().startswith(
        ("import ", "from ", "package ", "use ", "require", "const ", "local "))]
    return "\n".join(keep[:30]) + "\n"


def _test_code(code: str, lang: str, spec: LanguageSpec | None, name: str, container: str,
               where: test_layout.TestLocation, existing: str) -> str:
    """The model's tests made to fit: no copy of the code under test, the import it needs,
    nothing the existing test file already has."""
    code, _ = dedent(code.replace("\r\n", "\n"))
    code = remove_definitions(code, spec, container or name)
    if where.same_file:
        if "mod " not in code:
            body = "".join("    " + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))
            code = f"#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{body.rstrip()}\n}}\n"
        if "mod tests" in existing:
            code = code.replace("mod tests", f"mod tests_{name}", 1)
    elif where.import_line and not _imports(code, container or name) and not _imports(existing, container or name):
        code = where.import_line + "\n\n" + code.lstrip("\n")
    if existing and not where.same_file:
        have = {ln.strip() for ln in existing.splitlines() if ln.strip()}
        kept = []
        for ln in code.splitlines(keepends=True):
            s = ln.strip()
            if s in have and _is_header_line(s, lang):
                continue
            kept.append(ln)
        code = "".join(kept).lstrip("\n")
        if lang == "go":
            code = _strip_go_package(code)
    return code.rstrip() + "\n"


def _imports(code: str, name: str) -> bool:
    return bool(re.search(rf"^\s*(from\s+\S+\s+import\b.*\b{re.escape(name)}\b|import\b.*\b{re.escape(name)}\b|"
                          rf"(local|const|let|var)\s+\w+\s*=\s*require|require(_relative)?\b)", code, re.MULTILINE))


def _is_header_line(line: str, lang: str) -> bool:
    return line.startswith(("import ", "from ", "package ", "use ", "require", "#include", "using "))


def _strip_go_package(code: str) -> str:
    lines = code.splitlines(keepends=True)
    return "".join(ln for ln in lines if not ln.startswith("package "))


def _append_edit(base: str, code: str, lang: str) -> TextEdit:
    """Insert `code` at the end of an existing test file (Java/PHP: inside its class)."""
    if lang in ("java", "php"):
        close = base.rstrip().rfind("}")
        if close > 0:
            members = _class_members(code)
            ins = base.rfind("\n", 0, close) + 1
            body = "".join("    " + ln if ln.strip() and not ln.startswith("    ") else ln
                           for ln in members.splitlines(keepends=True))
            return TextEdit(ins, ins, "\n" + body.rstrip() + "\n", "")
    sep = "\n\n\n" if lang == "python" else "\n\n"
    stripped = base.rstrip("\n")
    return TextEdit(len(stripped), len(base), sep + code.rstrip("\n") + "\n", base[len(stripped):])


def _class_members(code: str) -> str:
    """The members of the first class in `code` (or `code` itself when it has no class)."""
    m = re.search(r"\bclass\s+\w+[^{]*\{", code)
    if not m:
        return code
    end = code.rstrip().rfind("}")
    inner = code[m.end():end]
    return dedent(inner.strip("\n") + "\n")[0]


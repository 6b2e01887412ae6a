"""Next-edit prediction: from the user's recent edits to the edit that follows.

`NextEditService.predict(uri, offset)` takes the document's live text, its recent edit
groups (`qwill.context.edit_history`), chooses the editable region around the cursor
and the last edit, renders the prompt in the model's next-edit format, runs the model,
reads the region back, turns it into minimal edits and checks them against the rules
(`rules.py`). A newer request for the same document, or any change to it, cancels the
one running. The last prediction per document is kept (for the code action and the
inline-completion item) while the document stays at the version it was made for.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from ..config import NextEditSettings
from ..context.document import AppliedEdit, DocumentStore, TextDocument
from ..context.edit_history import EditGroup, EditHistory
from ..context.languages import LanguageSpec, language_for
from ..context.text_diff import common_ends
from ..context.workspace_index import uri_to_path
from ..engine.base import CancelToken, EngineError, GenerationRequest, GenerationStats
from ..engine.chat import ChatTemplateError
from ..engine.worker import EngineWorker
from .diffs import TextEdit, changed_lines, hunks, minimal_edits
from .formats import EditDiff, FormatError, NextEditFormat, PromptInputs, choose_format
from .region import Region, editable_region, region_of_lines
from .rules import Rejection, check

log = logging.getLogger(__name__)

# edit groups shown to the model, and how much of each
MAX_EDITS = 5
MAX_DIFF_CHARS = 2000
CONTEXT_ABOVE = 12
CONTEXT_BELOW = 4
# files larger than this are not predicted in (parsing them twice per request would stall)
MAX_DOCUMENT_CHARS = 300_000


@dataclass(frozen=True)
class Prediction:
    """Edits (offsets in the document at `version`) and where the change starts."""

    id: str
    uri: str
    version: int
    edits: tuple[TextEdit, ...]
    jump: int  # offset of the first edit: where a client moves the cursor first
    region: Region
    format: str
    stats: GenerationStats = field(default_factory=GenerationStats)
    seconds: float = 0.0

    @property
    def cursor_after(self) -> int:
        """Offset after the last edit once all are applied (where the cursor goes)."""
        shift = 0
        for e in self.edits[:-1]:
            shift += len(e.text) - (e.end - e.start)
        last = self.edits[-1]
        return last.start + shift + len(last.text)


@dataclass
class NextEditResult:
    prediction: Prediction | None = None
    rejection: Rejection | None = None
    error: str = ""
    cancelled: bool = False
    answer: str = ""  # the model's raw answer (for logs and the benchmark)
    prompt: str = ""
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.error:
            return self.error
        if self.rejection is not None:
            return self.rejection.reason
        return ""


@dataclass
class NextEditCounters:
    requests: int = 0
    predictions: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0
    errors: int = 0
    shown: int = 0
    accepted: int = 0
    dismissed: int = 0


class NextEditService:
    def __init__(self, worker: Callable[[], EngineWorker], documents: DocumentStore, history: EditHistory,
                 settings: NextEditSettings, display_path: Callable[[str | None], str | None] | None = None) -> None:
        self._worker = worker
        self.documents = documents
        self.history = history
        self.settings = settings
        self._display_path = display_path or (lambda p: p)
        self.counters = NextEditCounters()
        self._running: dict[str, CancelToken] = {}
        self._last: dict[str, Prediction] = {}
        self._ids = itertools.count(1)
        # ids handed out and what became of them (shown / accepted / rejected are counted once)
        self._seen: dict[str, set[str]] = {}
        documents.listeners.append(self._on_change)
        documents.close_listeners.append(self._on_close)

    # -- document events ----------------------------------------------------------------
    def _on_change(self, doc: TextDocument, edits: list[AppliedEdit]) -> None:
        token = self._running.pop(doc.uri, None)
        if token is not None:
            token.cancel("the document changed")

    def _on_close(self, uri: str) -> None:
        token = self._running.pop(uri, None)
        if token is not None:
            token.cancel("the document closed")
        self._last.pop(uri, None)

    def cancel_all(self) -> None:
        for token in self._running.values():
            token.cancel("shutting down")
        self._running.clear()

    # -- the last prediction ----------------------------------------------------------------
    def can_follow(self, uri: str) -> bool:
        """Whether `uri` has an edit to follow (a prediction could be asked for now)."""
        doc = self.documents.get(uri)
        last = self.history.last(uri)
        return self.settings.enabled and doc is not None and last is not None and last.after == doc.text

    def current(self, uri: str) -> Prediction | None:
        """The last prediction for `uri` if the document is still at its version."""
        pred = self._last.get(uri)
        doc = self.documents.get(uri)
        if pred is None or doc is None or doc.version != pred.version:
            return None
        return pred

    def find(self, prediction_id: str) -> Prediction | None:
        for pred in self._last.values():
            if pred.id == prediction_id:
                return pred
        return None

    def record(self, prediction_id: str, what: str) -> bool:
        """A client told us a prediction was `shown`, `accepted` or `rejected`; False when the
        id is unknown (counted once per id and outcome)."""
        if what not in ("shown", "accepted", "rejected"):
            raise ValueError(f"unknown outcome {what!r}")
        seen = self._seen.get(prediction_id)
        if seen is None:
            return False
        if what in seen:
            return True
        seen.add(what)
        if what == "shown":
            self.counters.shown += 1
        elif what == "accepted":
            self.counters.accepted += 1
            self._last = {u: p for u, p in self._last.items() if p.id != prediction_id}
        else:
            self.counters.dismissed += 1
            self._last = {u: p for u, p in self._last.items() if p.id != prediction_id}
        return True

    # -- predicting ---------------------------------------------------------------------------
    async def predict(self, uri: str, offset: int, *, cancel: CancelToken | None = None) -> NextEditResult:
        """Predict the edit that follows the user's recent ones in `uri` (cursor at `offset`)."""
        started = time.perf_counter()
        self.counters.requests += 1
        cancel = cancel or CancelToken()
        result = await self._predict(uri, offset, cancel)
        result.seconds = time.perf_counter() - started
        if result.cancelled:
            self.counters.cancelled += 1
        elif result.error:
            self.counters.errors += 1
        elif result.rejection is not None:
            rule = result.rejection.rule
            self.counters.rejected[rule] = self.counters.rejected.get(rule, 0) + 1
            log.info("next edit rejected (%s): %s; answer %r", rule, result.rejection.reason, result.answer[:500])
        elif result.prediction is not None:
            self.counters.predictions += 1
        return result

    async def _predict(self, uri: str, offset: int, cancel: CancelToken) -> NextEditResult:
        if not self.settings.enabled:
            return NextEditResult(error="next-edit prediction is off (nextEdit.enabled)")
        doc = self.documents.get(uri)
        if doc is None:
            return NextEditResult(error=f"{uri} is not open in the editor")
        if not 0 <= offset <= len(doc.text):
            return NextEditResult(error=f"offset {offset} is outside the document")
        if len(doc.text) > MAX_DOCUMENT_CHARS:
            return NextEditResult(error=f"the file is too large for next-edit prediction "
                                        f"({len(doc.text):,} characters; the limit is {MAX_DOCUMENT_CHARS:,})")
        worker = self._worker()
        engine = worker.engine
        if engine is None:
            return NextEditResult(error="the model is not loaded yet; try again when it is ready")
        groups = [g for g in self.history.groups() if g.uri == uri or g.uri in self.documents]
        last = self.history.last(uri)
        if last is None or last.after != doc.text:
            # no edit of this document, or it changed in a way the history did not see
            return NextEditResult(rejection=Rejection("no-history", "no recent edit in this document to follow"))
        text, version = doc.text, doc.version
        path = _uri_path(uri)
        shown_path = self._display_path(path) or "untitled"
        spec = language_for(doc.language_id, path)
        region = editable_region(text, offset, self.settings.region_lines, (last.lo, last.hi))
        inputs = build_inputs(text, offset, region, groups[-MAX_EDITS:], last, shown_path,
                              spec.name if spec is not None else doc.language_id, self._display_path)
        names = (engine.info.name, PurePath(engine.info.path).name, engine.info.extra.get("basename", ""))
        fmt = choose_format(self.settings.prompt_format, names)
        try:
            rendered = fmt.render(inputs, engine.info.chat_format)
        except ChatTemplateError as exc:
            return NextEditResult(error=str(exc))
        n_ctx = _context_size(engine.info.extra, engine.info.context_length)
        try:
            prompt_tokens = await worker.call(lambda e: len(e.tokenize(rendered.prompt)))
        except EngineError as exc:
            return NextEditResult(error=str(exc))
        room = n_ctx - prompt_tokens - 1
        # the region rewritten, with room for what the edit adds
        wanted = min(self.settings.max_tokens, max(64, len(inputs.region) // 2 + 64))
        if room < 32:
            return NextEditResult(error=f"the prompt does not fit the model's context ({prompt_tokens} of {n_ctx} "
                                        "tokens); lower nextEdit.regionLines or raise engine.contextSize")
        request = GenerationRequest(prompt=rendered.prompt, max_tokens=min(wanted, room), stop=rendered.stop,
                                    temperature=0.0, slot="next-edit")
        previous = self._running.pop(uri, None)
        if previous is not None:
            previous.cancel("a newer next-edit request")
        self._running[uri] = cancel
        stats = GenerationStats()
        answer = ""
        try:
            async for piece in worker.generate(request, cancel, stats):
                answer += piece
        except EngineError as exc:
            return NextEditResult(error=str(exc), answer=answer)
        finally:
            if self._running.get(uri) is cancel:
                del self._running[uri]
        if cancel.cancelled or stats.stop_reason == "cancelled":
            return NextEditResult(cancelled=True, answer=answer, prompt=rendered.prompt)
        live = self.documents.get(uri)
        if live is None or live.text != text:
            return NextEditResult(cancelled=True, answer=answer, prompt=rendered.prompt)
        outcome = evaluate(answer, stats, fmt, inputs, text, region, last, spec)
        outcome.prompt = rendered.prompt
        if outcome.rejection is None and outcome.edits:
            pred = Prediction(f"ne-{next(self._ids)}", uri, version, tuple(outcome.edits), outcome.edits[0].start,
                              region, fmt.name, stats)
            self._last[uri] = pred
            self._seen[pred.id] = set()
            if len(self._seen) > 256:
                del self._seen[next(iter(self._seen))]
            return NextEditResult(prediction=pred, answer=answer, prompt=rendered.prompt)
        return NextEditResult(rejection=outcome.rejection, answer=answer, prompt=rendered.prompt)


@dataclass
class Evaluated:
    edits: list[TextEdit]
    rejection: Rejection | None
    new_region: str = ""
    prompt: str = ""


def evaluate(answer: str, stats: GenerationStats, fmt: NextEditFormat, inputs: PromptInputs, text: str,
             region: Region, last: EditGroup | None, spec: LanguageSpec | None) -> Evaluated:
    """Read the model's answer and check it: the edits, or why it is rejected."""
    if stats.stop_reason == "length":
        return Evaluated([], Rejection("cut-off", "the model ran out of tokens before the region's end"))
    try:
        new_region = fmt.parse(answer, inputs)
    except FormatError as exc:
        return Evaluated([], Rejection("format", str(exc)))
    old_region = region.text(text)
    edits = minimal_edits(old_region, new_region, base=region.start)
    rejection = check(text, region, edits, last_before=last.before if last else None,
                      last_after=last.after if last else None, spec=spec, new_region=new_region,
                      above=inputs.above, below=inputs.below)
    return Evaluated(edits, rejection, new_region)


def build_inputs(text: str, offset: int, region: Region, groups: list[EditGroup], last: EditGroup | None,
                 path: str, language: str,
                 display_path: Callable[[str | None], str | None] = lambda p: p) -> PromptInputs:
    """The prompt's parts for a region of `text` and the edit groups (oldest first)."""
    edits = []
    for g in groups:
        diff = hunks(g.before, g.after, context=2)
        if not diff.strip():
            continue
        before, after = changed_lines(g.before, g.after)
        shown = display_path(_uri_path(g.uri)) or "untitled"
        edits.append(EditDiff(shown, _clip(diff), _clip(before), _clip(after)))
    region_text = region.text(text)
    above_region = region_of_lines(text, region.first - CONTEXT_ABOVE, region.first - 1) if region.first > 0 else None
    above = above_region.text(text) if above_region is not None else ""
    below_region = region_of_lines(text, region.last + 1, region.last + CONTEXT_BELOW)
    below = below_region.text(text) if below_region.first > region.last else ""
    original = region_text
    if last is not None and last.after == text:
        original = _region_before(last.before, text, region) or region_text
    at_start = region.first == 0 or (above_region is not None and above_region.first == 0)
    return PromptInputs(path=path, language=language, edits=tuple(edits), region=region_text,
                        cursor=max(0, min(offset - region.start, len(region_text))), original_region=original,
                        above=above, below=below, at_file_start=at_start)


def _region_before(before: str, now: str, region: Region) -> str | None:
    """The region's text before the last edit, when that edit lies inside the region."""
    p, s = common_ends(before, now)
    if p < region.start or len(now) - s > region.end:
        return None
    return before[region.start:region.end + len(before) - len(now)]


def _clip(text: str) -> str:
    if len(text) <= MAX_DIFF_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_DIFF_CHARS)
    return text[:cut + 1 if cut > 0 else MAX_DIFF_CHARS]


def _uri_path(uri: str) -> str | None:
    p = uri_to_path(uri)
    return str(p) if p is not None else None


def _context_size(extra: dict[str, str], context_length: int | None) -> int:
    try:
        return int(extra.get("n_ctx", ""))
    except ValueError:
        return context_length or 4096

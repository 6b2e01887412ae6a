"""`qwill eval`: the harnesses on the user's own repository, model by model, in bounded time.

`run_eval(options, cases, progress)` starts one `qwill serve` per model (and per
context configuration), replays the same mined cases through it over stdio, and
returns an `EvalResult` of plain outcomes. The time budget is shared out as the run
goes: each remaining run gets an equal share of what is left, and within a run the
fill-in-the-middle holes get about half (the typing trace the rest, or all of it
when the holes end early). A run cut short by the budget keeps what it measured
and says so.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics
from .history import NextEditCase
from .lsp_driver import Answer, DriverError, EditAnswer, ServerDriver
from .mining import CaseSet, Corpus, Hole, TypingSite

FIM_SHARE = 0.5  # of a run's time after the model loaded
TYPING_SHARE = 0.75  # of what is left after the holes, when there are next-edit cases
MIN_LOAD_SECONDS = 30.0  # a model is given at least this long to load, budget or not
INDEX_WAIT_SECONDS = 20.0



@dataclass(frozen=True)
class RunSpec:
    """One server to evaluate: a model and a context configuration."""

    model: str
    context: str = "on"  # "on": the configured context sources; "off": the window only

    @property
    def label(self) -> str:
        return self.model if self.context == "on" else f"{self.model} (window only)"


@dataclass(frozen=True)
class EvalOptions:
    root: Path
    runs: tuple[RunSpec, ...]
    seed: int = 0
    budget: float = 600.0
    settings: dict[str, Any] = field(default_factory=dict)  # initializationOptions, as an editor sends them


@dataclass
class FimOutcome:
    hole: str
    path: str
    language: str
    kind: str
    target: str
    prediction: str
    exact: bool
    similarity: float
    seconds: float
    source: str
    context_sources: list[str]
    context_tokens: int


@dataclass
class KeystrokeOutcome:
    site: str
    path: str
    language: str
    typed: int  # characters typed before this request
    suggestion: str
    seconds: float
    source: str
    shown: bool  # a suggestion with text was shown
    first_line: bool
    accepted: bool  # the user then typed the whole suggestion (metrics.typed_through)
    evaluated_tokens: int

    @property
    def outcome(self) -> metrics.Outcome:
        return metrics.Outcome(self.shown, self.first_line, self.accepted)


@dataclass
class NextEditOutcome:
    case: str
    path: str
    language: str
    shown: bool  # a prediction came back
    exact: bool  # it leaves the file exactly as the commit did
    located: bool  # it edits the lines the commit's next change edited
    seconds: float
    reason: str  # why there was no prediction


@dataclass
class RunResult:
    label: str
    model: str
    context: str
    state: str = "ok"  # ok | budget (cut short) | error (did not load or died)
    message: str = ""
    load_seconds: float = 0.0
    model_info: dict[str, Any] = field(default_factory=dict)
    fim: list[FimOutcome] = field(default_factory=list)
    keystrokes: list[KeystrokeOutcome] = field(default_factory=list)
    next_edits: list[NextEditOutcome] = field(default_factory=list)
    sites_done: int = 0
    seconds: float = 0.0


@dataclass
class EvalResult:
    root: str
    seed: int
    budget: float
    machine: dict[str, Any]
    corpus: dict[str, int]  # files per language
    holes: int
    sites: int
    keystrokes: int
    next_edit_cases: int
    runs: list[RunResult]
    notes: list[str]
    started: float
    seconds: float = 0.0

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.runs if r.state == "error"]


@dataclass(frozen=True)
class Progress:
    run: str
    phase: str  # load | fim | typing | next-edit | done
    done: int
    total: int
    message: str = ""


ProgressFn = Callable[[Progress], None]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"system": f"{platform.system()} {platform.machine()}", "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "load_1min": round(load, 2) if load is not None else None}


def _settings_for(spec: RunSpec, options: EvalOptions) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in options.settings.items()}
    if spec.context == "off":
        out.setdefault("context", {})["enabled"] = False
    elif any(r.model == spec.model and r.context == "off" for r in options.runs):
        # compared with the window only: the context sources go in whatever the model's size
        # (as configured, a small model gets none, and both runs would be the same)
        out.setdefault("context", {}).setdefault("smallModels", True)
    return out


def _uri(corpus: Corpus, rel: str) -> str:
    return (corpus.root / rel).as_uri()


def score_fim(hole: Hole, answer: Answer) -> FimOutcome:
    pred = answer.text
    kind = "single" if hole.kind == "line" else "multi"
    got, want = metrics.normalise(pred, kind), metrics.normalise(hole.target, kind)
    return FimOutcome(
        hole.id, hole.path, hole.language, hole.kind, hole.target, pred, got == want,
        round(metrics.similarity(got, want), 4), round(answer.seconds, 4), answer.source,
        list(answer.context_sources), answer.context_tokens)


def score_keystroke(site: TypingSite, n: int, answer: Answer) -> KeystrokeOutcome:
    scored = metrics.Outcome.score(answer.text, site.truth_after(n))
    return KeystrokeOutcome(
        site.id, site.path, site.language, n, answer.text, round(answer.seconds, 4), answer.source,
        scored.shown, scored.first_line, scored.accepted, answer.evaluated_tokens)


def score_next_edit(case: NextEditCase, answer: EditAnswer) -> NextEditOutcome:
    shift = case.shift(case.second)
    lo, hi = case.second.start + shift, case.second.end + shift  # the next change's lines, after the user's
    located = any(a <= hi and b >= lo - 1 for a, b in answer.lines)
    return NextEditOutcome(case.id, case.path, case.language, answer.predicted is not None,
                           answer.predicted == case.truth, located, round(answer.seconds, 4), answer.reason)


async def _run_one(spec: RunSpec, options: EvalOptions, corpus: Corpus, cases: CaseSet,
                   edits: Sequence[NextEditCase], deadline: float, progress: ProgressFn) -> RunResult:
    res = RunResult(spec.label, spec.model, spec.context)
    t0 = time.monotonic()
    driver = ServerDriver(spec.model, corpus.root, init_options=_settings_for(spec, options))
    progress(Progress(spec.label, "load", 0, 1, "loading the model"))
    try:
        ready = await driver.start(max(MIN_LOAD_SECONDS, deadline - time.monotonic()))
        res.load_seconds = round(ready.seconds, 2)
        res.model_info = ready.model
        if ready.state != "ready":
            res.state, res.message = "error", ready.message
            return res
        progress(Progress(spec.label, "load", 1, 1, ready.message))
        if spec.context == "on":
            await driver.wait_index(min(INDEX_WAIT_SECONDS, max(0.0, deadline - time.monotonic())))
        # fill-in-the-middle holes
        later = bool(cases.sites or edits)
        fim_deadline = time.monotonic() + (FIM_SHARE if later else 1.0) * max(0.0, deadline - time.monotonic())
        total = len(cases.holes)
        for i, hole in enumerate(cases.holes):
            left = fim_deadline - time.monotonic()
            if left <= 0:
                res.state, res.message = "budget", f"time budget reached after {i} of {total} holes"
                break
            progress(Progress(spec.label, "fim", i, total, hole.id))
            answer = await driver.fim(hole, corpus.file(hole.path).text, _uri(corpus, hole.path), left)
            if answer is None:
                res.state, res.message = "budget", f"time budget reached after {i} of {total} holes"
                break
            res.fim.append(score_fim(hole, answer))
        progress(Progress(spec.label, "fim", len(res.fim), total))
        # typing traces
        typing_deadline = time.monotonic() + (TYPING_SHARE if edits else 1.0) * max(
            0.0, deadline - time.monotonic())
        keys = sum(len(s.typed) + 1 for s in cases.sites)
        done = 0
        for site in cases.sites:
            def record(n: int, answer: Answer, site: TypingSite = site) -> None:
                nonlocal done
                res.keystrokes.append(score_keystroke(site, n, answer))
                done += 1
                progress(Progress(spec.label, "typing", done, keys, site.id))

            finished = await driver.type_site(site, corpus.file(site.path).text, _uri(corpus, site.path),
                                              typing_deadline, record)
            if not finished:
                res.state = "budget"
                res.message = "; ".join(x for x in (res.message, (
                    f"time budget reached after {done} of {keys} keystrokes")) if x)
                break
            res.sites_done += 1
        # next edits from the git history
        for i, case in enumerate(edits):
            left = deadline - time.monotonic()
            edit = await driver.next_edit(case, (corpus.root / case.path).as_uri(), left) if left > 0 else None
            if edit is None:
                res.state = "budget"
                res.message = "; ".join(x for x in (res.message, (
                    f"time budget reached after {i} of {len(edits)} next-edit cases")) if x)
                break
            res.next_edits.append(score_next_edit(case, edit))
            progress(Progress(spec.label, "next-edit", i + 1, len(edits), case.id))
        progress(Progress(spec.label, "done", 1, 1, res.message))
    except DriverError as exc:
        res.state, res.message = "error", str(exc)
    finally:
        await driver.close()
        res.seconds = round(time.monotonic() - t0, 2)
    return res


async def run_eval(options: EvalOptions, corpus: Corpus, cases: CaseSet, edits: Sequence[NextEditCase] = (),
                   progress: ProgressFn | None = None, notes: Sequence[str] = ()) -> EvalResult:
    """Every run of `options` over the same cases, within `options.budget` seconds."""
    progress = progress or (lambda p: None)
    started = time.time()
    t0 = time.monotonic()
    end = t0 + options.budget
    result = EvalResult(
        root=str(corpus.root), seed=options.seed, budget=options.budget, machine=machine(),
        corpus=corpus.languages, holes=len(cases.holes), sites=len(cases.sites),
        keystrokes=sum(len(s.typed) + 1 for s in cases.sites), next_edit_cases=len(edits), runs=[],
        notes=list(notes), started=started)
    specs: Sequence[RunSpec] = options.runs
    for i, spec in enumerate(specs):
        share = max(0.0, end - time.monotonic()) / (len(specs) - i)
        result.runs.append(await _run_one(spec, options, corpus, cases, edits, time.monotonic() + share,
                                          progress))
    result.seconds = round(time.monotonic() - t0, 2)
    return result

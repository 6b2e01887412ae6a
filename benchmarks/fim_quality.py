"""Fill-in-the-middle quality with and without code context, on code nobody here wrote.

Corpora:
- Python: a multi-file package of the running interpreter's standard library
  (default `email`), or a PyPI sdist (`--python-sdist tomlkit==0.15.2`, fetched with
  `pip download` into benchmarks/.work/);
- TypeScript: rxjs 7.8.1's `src/internal`, fetched with `npm pack` into
  benchmarks/.work/ (git-ignored).

Cursor positions are chosen deterministically (seeded) on code lines inside
functions. Single-line cases hide the rest of the line from a token boundary;
multi-line cases hide a short function's body after its first statement's
indentation. Each case goes through the real pipeline: a Session with the real
default model, the document opened in its DocumentStore (with the hidden text
removed: the index sees the buffer, not the file on disk), a few files it
imports opened too, the workspace index built over the package, and
CompletionService.complete(). Scores: exact match and edit similarity
(1 - Levenshtein / longer length), per language, per configuration, and per
source present. Configurations: `qwill` (Qwill's defaults: its window, context
as configured for the model's size), `off` (no context), `all` (every source,
whatever the model's size), one source alone, and `window`: the window-only
baseline, llama.cpp FIM as llama.vim asks for it (256 lines before / 64 after,
no context, the model's raw answer up to 128 tokens, none of Qwill's
post-processing) on the same engine and model; `heal` / `noheal`: Qwill's defaults with
`completion.invokedTokenHealing` on / off. `--cases 3,7` re-runs a few cases of the seeded choice.

    .venv/bin/python -m benchmarks.fim_quality --single 40 --multi 12
    .venv/bin/python -m benchmarks.fim_quality --langs python --python-sdist tomlkit==0.15.2 \
        --single 40 --multi 0 --configs window,qwill,all
    .venv/bin/python -m benchmarks.fim_quality --single 40 --multi 12 --summarise benchmarks/.work/fim_quality-N.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qwill.completion.prompt import window_bounds
from qwill.completion.service import CompletionRequest
from qwill.config import parse_settings
from qwill.context.languages import language_for
from qwill.context.syntax import SyntaxTree, definitions, enclosing_scopes, scope_facts
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import FimParts
from qwill.evaluation.metrics import normalise, similarity
from qwill.session import ModelState, Session

WORK = Path(__file__).resolve().parent / ".work"
RXJS = "rxjs@7.8.1"

# context settings per configuration ("window" is not Qwill's pipeline: see run_window)
_ON = {"enabled": True, "smallModels": True}
CONFIGS: dict[str, dict[str, Any]] = {
    "qwill": {},
    "off": {"enabled": False},
    "all": _ON,
    "definitions": {**_ON, "scopeOutlines": False, "recentEdits": False, "similarSnippets": False},
    "scope": {**_ON, "definitions": False, "recentEdits": False, "similarSnippets": False},
    "similar": {**_ON, "definitions": False, "scopeOutlines": False, "recentEdits": False},
    "window": {"enabled": False},
}
# completion settings of a configuration, over Qwill's defaults (and --lines-before/--lines-after)
COMPLETION: dict[str, dict[str, Any]] = {
    "wide": {"linesBefore": 256, "windowTokens": 3072},
}
# an invoked completion heals the piece of a token before the cursor (completion.invokedTokenHealing)
COMPLETION["heal"] = {"invokedTokenHealing": True}
COMPLETION["noheal"] = {"invokedTokenHealing": False}
CONFIGS["heal"] = {}
CONFIGS["noheal"] = {}
# the whole file as far as a 7,000-token window holds it (needs --ctx 8192): is more of the
# file worth its prompt cost to an invoked completion?
COMPLETION["xl"] = {"invokedLinesBefore": 4000, "invokedLinesAfter": 400, "invokedWindowTokens": 7000}
CONFIGS["xl"] = {}
CONFIGS["wide"] = {}  # 256 lines before / 3,072 window tokens for every request: the window an invoked completion gets
# llama.vim's request: 256 lines before the cursor's line, 64 after it, 128 tokens
PEER_LINES_BEFORE, PEER_LINES_AFTER, PEER_MAX_TOKENS = 256, 64, 128
PEER_PREFIX_TOKENS, PEER_SUFFIX_TOKENS = 1536, 510


@dataclass
class Case:
    lang: str
    kind: str  # "single" or "multi"
    path: str
    offset: int  # cursor in the original text
    target: str  # the hidden text
    end: int  # end of the hidden text in the original


@dataclass
class Outcome:
    case: int
    config: str
    prediction: str
    exact: bool
    similarity: float
    sources: list[str]
    context_tokens: int
    seconds: float
    prompt_tokens: int


# -- corpora -------------------------------------------------------------------

def python_corpus(package: str) -> Path:
    root = Path(sysconfig.get_paths()["stdlib"]) / package
    if not root.is_dir():
        sys.exit(f"no standard-library package {package} at {root}")
    return root


def sdist_corpus(spec: str) -> Path:
    """The package directory of a PyPI sdist (`name==version`), fetched once into WORK."""
    name, _, version = spec.partition("==")
    if not name or not version:
        sys.exit(f"--python-sdist wants name==version, not {spec!r}")
    dest = WORK / "sdist"
    unpacked = dest / f"{name.replace('-', '_')}-{version}"
    if not unpacked.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                              "-d", str(dest), spec], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"pip download {spec} failed: {out.stderr.strip()[-500:]}")
        archives = sorted(dest.glob(f"{name.replace('-', '_')}-{version}.tar.gz")) + sorted(
            dest.glob(f"{name}-{version}.tar.gz"))
        if not archives:
            sys.exit(f"no sdist archive for {spec} in {dest}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(dest, filter="data")
        if not unpacked.is_dir():
            unpacked = dest / f"{name}-{version}"
    for pkg in (unpacked / "src" / name.replace("-", "_"), unpacked / name.replace("-", "_"), unpacked / "src"):
        if pkg.is_dir():
            return pkg
    return unpacked


def typescript_corpus() -> Path:
    dest = WORK / "npm"
    src = dest / "package" / "src" / "internal"
    if src.is_dir():
        return src
    dest.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", RXJS, "--silent"], cwd=dest, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"npm pack {RXJS} failed: {out.stderr.strip()}")
    tgz = dest / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    return src


def corpus_files(root: Path, lang: str) -> list[Path]:
    exts = {"python": (".py",), "typescript": (".ts",)}[lang]
    files = [p for p in sorted(root.rglob("*")) if p.suffix in exts and "test" not in p.name
             and not p.name.endswith(".d.ts") and "__pycache__" not in p.parts]
    return [p for p in files if 40 <= p.read_text(encoding="utf-8", errors="replace").count("\n") <= 4000]


# -- cases ---------------------------------------------------------------------

_TOKEN_BOUNDARY = re.compile(r"(?<=[\w)\]}'\"])(?=[^\w])|(?<=[^\w\s])(?=[\w])|(?<=\s)(?=\S)")


def choose_cases(root: Path, lang: str, n_single: int, n_multi: int, seed: int) -> list[Case]:
    rng = random.Random(f"{seed}:{lang}")
    spec = language_for(lang)
    assert spec is not None
    singles: list[tuple[str, int, int, list[int]]] = []  # path, line start, line end, cut points
    multis: list[Case] = []
    texts: dict[str, str] = {}
    for path in corpus_files(root, lang):
        text = texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        tree = SyntaxTree(spec, text)
        offset = 0
        for line in text.split("\n"):
            start, offset = offset, offset + len(line) + 1
            stripped = line.strip()
            indent = len(line) - len(line.lstrip())
            if not (12 <= len(stripped) <= 90) or stripped.startswith(("#", "//", "*", "/*", "import", "from ", "\"", "'", "`")):
                continue
            facts = scope_facts(tree, text, start + indent)
            if facts.in_comment or facts.in_string or facts.function is None:
                continue
            cuts = [m.start() for m in _TOKEN_BOUNDARY.finditer(line) if indent < m.start() < len(line.rstrip()) - 2]
            if cuts:
                singles.append((str(path), start, start + len(line.rstrip()), cuts))
        for d in definitions(tree, with_snippets=False):
            if d.kind not in ("function", "method") or not (3 <= d.end_line - d.line <= 9):
                continue
            scopes = enclosing_scopes(tree, d.start + 1)
            body_start = scopes[-1].body_start if scopes else None
            if body_start is None:
                continue
            first_nl = text.find("\n", body_start if lang == "python" else body_start + 1)
            if first_nl < 0:
                continue
            cursor = first_nl + 1
            cursor += len(text[cursor:]) - len(text[cursor:].lstrip(" \t"))
            body_end = d.end - (1 if lang == "typescript" else 0)
            target = text[cursor:body_end].rstrip()
            if 10 <= len(target) <= 400 and '"""' not in target and "'''" not in target:
                multis.append(Case(lang, "multi", str(path), cursor, target, cursor + len(target)))
    rng.shuffle(singles)
    rng.shuffle(multis)
    chosen: list[Case] = []
    per_file: dict[str, int] = defaultdict(int)
    # spread the cases over the package: a few per file, more when it has few files
    cap = max(2, n_single // 10, -(-n_single // max(1, len({p for p, *_ in singles}))))
    for path_s, line_start, line_end, cuts in singles:
        if len(chosen) >= n_single:
            break
        if per_file[path_s] >= cap:
            continue
        per_file[path_s] += 1
        cursor = line_start + rng.choice(cuts[: len(cuts) // 2 + 1])  # early in the line: a real target
        chosen.append(Case(lang, "single", path_s, cursor, texts[path_s][cursor:line_end], line_end))
    per_file.clear()
    for c in multis:
        if sum(x.kind == "multi" for x in chosen) >= n_multi:
            break
        if per_file[c.path] >= 2:
            continue
        per_file[c.path] += 1
        chosen.append(c)
    return chosen


# -- scoring: qwill.evaluation.metrics (normalise, similarity), shared with `qwill eval` --


# -- running -------------------------------------------------------------------

_IMPORT = {
    "python": re.compile(r"^\s*from\s+(\.+)?([\w.]*)\s+import|^\s*import\s+([\w.]+)", re.M),
    "typescript": re.compile(r"""from\s+['"](\.{1,2}/[^'"]+)['"]"""),
}


def imported_files(path: Path, root: Path, lang: str, limit: int = 3) -> list[Path]:
    """Files of the corpus that `path` imports (opened in the editor beside it)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    out: list[Path] = []
    for m in _IMPORT[lang].finditer(text):
        if lang == "typescript":
            cand = (path.parent / m.group(1)).resolve().with_suffix(".ts")
        else:
            mod = (m.group(2) or m.group(3) or "").split(".")[-1]
            cand = root / f"{mod}.py" if mod else root / "__init__.py"
        if cand.is_file() and cand != path and cand not in out:
            out.append(cand)
        if len(out) >= limit:
            break
    return out


async def run_case(session: Session, case: Case, idx: int, config: str, root: Path) -> Outcome:
    original = Path(case.path).read_text(encoding="utf-8", errors="replace")
    text = original[:case.offset] + original[case.end:]
    uri = Path(case.path).as_uri() + f"#case{idx}-{config}"
    session.documents.open(uri, text, 1, case.lang)
    others = [p.as_uri() for p in imported_files(Path(case.path), root, case.lang)]
    for o in others:
        session.documents.open(o, Path(o[7:]).read_text(encoding="utf-8", errors="replace"), 1, case.lang)
    try:
        req = CompletionRequest(uri=uri, text=text, offset=case.offset, path=case.path,
                                language_id=case.lang, invoked=True)
        t0 = time.perf_counter()
        s = await session.completion.complete(req)
        seconds = time.perf_counter() - t0
        explained = session.context.explain(uri)
        sources = sorted({i.source for i in explained.items if i.included}) if explained else []
        ctx_tokens = explained.tokens if explained else 0
    finally:
        session.documents.close(uri)
        for o in others:
            session.documents.close(o)
    pred = s.text if s else ""
    exact = normalise(pred, case.kind) == normalise(case.target, case.kind)
    sim = similarity(normalise(pred, case.kind), normalise(case.target, case.kind))
    return Outcome(idx, config, pred, exact, round(sim, 4), sources, ctx_tokens, round(seconds, 3),
                   s.stats.prompt_tokens if s else 0)


async def run_window(session: Session, case: Case, idx: int) -> Outcome:
    """The window-only baseline: llama.cpp FIM with llama.vim's window (256 lines before the
    cursor's line, 64 after it), no context, and the model's answer as it comes (up to 128
    tokens, the FIM format's stops): what a plain llama.cpp FIM client shows."""
    original = Path(case.path).read_text(encoding="utf-8", errors="replace")
    text = original[:case.offset] + original[case.end:]
    start, end = window_bounds(text, case.offset, PEER_LINES_BEFORE, PEER_LINES_AFTER)
    prefix, suffix = text[start:case.offset], text[case.offset:end]
    # llama-server keeps the prefix's last 3/4 and the suffix's first 1/4 of a 2048-token batch
    engine = session.worker.engine
    assert engine is not None
    while "\n" in prefix and len(engine.tokenize(prefix)) > PEER_PREFIX_TOKENS:
        prefix = prefix.split("\n", 1)[1]
    while "\n" in suffix.rstrip("\n") and len(engine.tokenize(suffix)) > PEER_SUFFIX_TOKENS:
        suffix = suffix.rstrip("\n").rsplit("\n", 1)[0] + "\n"
    parts = FimParts(prefix, suffix)
    stats = GenerationStats()
    raw = ""
    t0 = time.perf_counter()
    async for piece in session.worker.generate(GenerationRequest(fim=parts, max_tokens=PEER_MAX_TOKENS,
                                                                 temperature=0.0), CancelToken(), stats):
        raw += piece
    seconds = time.perf_counter() - t0
    pred = raw.rstrip()
    exact = normalise(pred, case.kind) == normalise(case.target, case.kind)
    sim = similarity(normalise(pred, case.kind), normalise(case.target, case.kind))
    return Outcome(idx, "window", pred, exact, round(sim, 4), [], 0, round(seconds, 3), stats.prompt_tokens)


def summarise(cases: list[Case], outcomes: list[Outcome], configs: list[str]) -> list[dict[str, Any]]:
    rows = []
    by = {(o.case, o.config): o for o in outcomes}
    for lang in sorted({c.lang for c in cases}):
        for kind in ("single", "multi"):
            idxs = [i for i, c in enumerate(cases) if c.lang == lang and c.kind == kind]
            if not idxs:
                continue
            for cfg in configs:
                got = [by[(i, cfg)] for i in idxs if (i, cfg) in by]
                if not got:
                    continue
                rows.append({"lang": lang, "kind": kind, "config": cfg, "n": len(got),
                             "exact": round(100 * sum(o.exact for o in got) / len(got), 1),
                             "similarity": round(100 * sum(o.similarity for o in got) / len(got), 1),
                             "ctx_tokens": round(sum(o.context_tokens for o in got) / len(got)),
                             "seconds": round(sum(o.seconds for o in got) / len(got), 2)})
            if "off" in configs and "all" in configs:
                for source in ("definitions", "scope", "similar", "recent-edits"):
                    with_src = [i for i in idxs if (i, "all") in by and source in by[(i, "all")].sources]
                    if not with_src:
                        continue
                    off = [by[(i, "off")] for i in with_src if (i, "off") in by]
                    on = [by[(i, "all")] for i in with_src]
                    rows.append({"lang": lang, "kind": kind, "config": f"cases with {source}: off -> all",
                                 "n": len(on),
                                 "exact": f"{100 * sum(o.exact for o in off) / max(1, len(off)):.1f} -> "
                                          f"{100 * sum(o.exact for o in on) / len(on):.1f}",
                                 "similarity": f"{100 * sum(o.similarity for o in off) / max(1, len(off)):.1f} -> "
                                               f"{100 * sum(o.similarity for o in on) / len(on):.1f}",
                                 "ctx_tokens": "", "seconds": ""})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| language | target | configuration | cases | exact match % | edit similarity % | context tokens | s/case |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['lang']} | {r['kind']} | {r['config']} | {r['n']} | {r['exact']} | {r['similarity']} "
                   f"| {r['ctx_tokens']} | {r['seconds']} |")
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> int:
    configs = args.configs.split(",")
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"unknown configuration {c}; known: {', '.join(CONFIGS)}")
    corpora: dict[str, Path] = {}
    if "python" in args.langs:
        corpora["python"] = (sdist_corpus(args.python_sdist) if args.python_sdist
                             else python_corpus(args.python_package))
    if "typescript" in args.langs:
        corpora["typescript"] = typescript_corpus()
    cases: list[Case] = []
    for lang, root in corpora.items():
        cases += choose_cases(root, lang, args.single, args.multi, args.seed)
    print(f"{len(cases)} cases: " + ", ".join(
        f"{lang} {sum(c.lang == lang and c.kind == k for c in cases)} {k}"
        for lang in corpora for k in ("single", "multi")), file=sys.stderr)
    window = {**({"linesBefore": args.lines_before} if args.lines_before is not None else {}),
              **({"linesAfter": args.lines_after} if args.lines_after is not None else {})}
    raw = {"engine": {"model": args.model, **({"nThreads": args.threads} if args.threads else {}),
                      **({"contextSize": args.ctx} if args.ctx else {})},
           "completion": window, "context": {"tokenBudget": args.budget}}
    settings = parse_settings(raw).settings
    session = Session(settings)
    session.completion.speculate = False  # measure the request, not background work
    status = await session.load_model()
    if status.state is not ModelState.READY or not session.completion.ready:
        sys.exit(f"model not ready: {status.message}")
    only = {int(i) for i in args.cases.split(",")} if args.cases else None
    outcomes: list[Outcome] = []
    t_start = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    stream = (WORK / f"fim_quality-{int(time.time())}-{os.getpid()}.jsonl").open("w")
    for lang, root in corpora.items():
        stats = session.context.index_roots([root])
        print(f"{lang}: indexed {stats.files} files, {stats.symbols} definitions in {stats.seconds:.2f}s",
              file=sys.stderr)
        for idx, case in enumerate(cases):
            if case.lang != lang or (only is not None and idx not in only):
                continue
            for cfg in configs:
                if cfg == "window":
                    o = await run_window(session, case, idx)
                else:
                    chosen = parse_settings({"context": {"tokenBudget": args.budget, **CONFIGS[cfg]},
                                             "completion": {**window, **COMPLETION.get(cfg, {})}}).settings
                    session.context.settings = chosen.context
                    session.completion.settings = chosen.completion
                    o = await run_case(session, case, idx, cfg, root)
                outcomes.append(o)
                stream.write(json.dumps({**asdict(o), "case_info": asdict(case)}) + "\n")
                stream.flush()
                if args.verbose:
                    print(f"[{idx} {case.kind} {cfg}] {'OK ' if o.exact else '   '} {o.similarity:.2f} "
                          f"{o.seconds:.1f}s ctx={o.context_tokens} {o.sources} "
                          f"want={case.target[:60]!r} got={o.prediction[:60]!r}", file=sys.stderr)
    session.close()
    stream.close()
    rows = summarise(cases, outcomes, configs)
    table = markdown(rows)
    print(table)
    out = WORK / f"fim_quality-{int(time.time())}-{os.getpid()}.json"
    out.write_text(json.dumps({"args": vars(args), "cases": [asdict(c) for c in cases],
                               "outcomes": [asdict(o) for o in outcomes], "rows": rows,
                               "seconds": round(time.perf_counter() - t_start, 1)}, indent=1))
    print(f"\nraw results: {out} ({time.perf_counter() - t_start:.0f}s)", file=sys.stderr)
    return 0


def summarise_file(path: Path, args: argparse.Namespace) -> int:
    """Print the tables of a (possibly partial) run from its .jsonl stream; the cases are
    re-chosen from the same arguments (the choice is deterministic)."""
    cases: list[Case] = []
    for lang in args.langs.split(","):
        if lang == "python":
            root = sdist_corpus(args.python_sdist) if args.python_sdist else python_corpus(args.python_package)
        else:
            root = typescript_corpus()
        cases += choose_cases(root, lang, args.single, args.multi, args.seed)
    outcomes: list[Outcome] = []
    configs: list[str] = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec.pop("case_info", None)
        outcomes.append(Outcome(**rec))
        if rec["config"] not in configs:
            configs.append(rec["config"])
    done = {o.case for o in outcomes if o.config == configs[-1]}
    outcomes = [o for o in outcomes if o.case in done]  # only cases run in every configuration
    print(markdown(summarise(cases, outcomes, configs)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--langs", default="python,typescript")
    p.add_argument("--python-package", default="email")
    p.add_argument("--python-sdist", metavar="NAME==VERSION",
                   help="Python corpus from a PyPI sdist instead of the standard library")
    p.add_argument("--single", type=int, default=40, help="single-line cases per language")
    p.add_argument("--multi", type=int, default=12, help="multi-line cases per language")
    p.add_argument("--configs", default="window,qwill,off,all", help=f"comma-separated: {', '.join(CONFIGS)}")
    p.add_argument("--budget", type=int, default=512, help="context token budget")
    p.add_argument("--lines-before", type=int, default=None,
                   help="Qwill's completion.linesBefore (default: Qwill's own)")
    p.add_argument("--lines-after", type=int, default=None,
                   help="Qwill's completion.linesAfter (default: Qwill's own)")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=0, help="engine threads (0: all cores)")
    p.add_argument("--ctx", type=int, default=0, help="engine.contextSize (0: Qwill's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", metavar="I,J,...",
                   help="run only these cases (their indices in the seeded choice), e.g. to re-check a few")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--summarise", metavar="JSONL", help="print the tables of an earlier (partial) run")
    args = p.parse_args(argv)
    if args.summarise:
        return summarise_file(Path(args.summarise), args)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

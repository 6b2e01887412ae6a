"""Next-edit prediction on changes real maintainers made: consecutive PyPI releases.

    python -m benchmarks.next_edit [--models default,default-1.5b] [--max-cases 30] [--json out.json]

The cases come from history the Qwill team did not write: the sdists of two consecutive
releases of a few pure-Python packages (`pip download --no-deps --no-binary :all:`,
cached in --work), the same file diffed across the two, split into multi-hunk changes
(`qwill.evaluation.history.split_cases`): the hunk(s) above are the user's edit, sent as
didChange, and the next small hunk close below is the target. Each model is a real
`qwill serve` over stdio driven as an editor drives it (`qwill.evaluation.lsp_driver`,
the driver `qwill eval` uses for its next-edit cases), asked `qwill/nextEdit` at the end
of the user's edit. A "predict nothing" baseline scores the file left as the user left it.

Per model: exact match of the edited region (the lines where the prediction or the truth
differ from the user's file, which is the same as the whole file being right), edit
similarity over that region (`qwill.evaluation.metrics.similarity`, so the baseline scores
what leaving it alone is worth), how often nothing was predicted (and why), how often the
prediction was a no-op, how often it was harmful (the file parses worse, or it changes
lines the real change did not), and the latency of every request (p50/p95). Decoding is
greedy, so every figure but the latency is independent of the machine's load; the load
is recorded at the start and the end of each model's run.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwill.context.languages import language_for
from qwill.evaluation import metrics
from qwill.evaluation.history import NextEditCase, split_cases
from qwill.evaluation.lsp_driver import DriverError, EditAnswer, ServerDriver
from qwill.evaluation.mining import MAX_FILE_CHARS
from qwill.evaluation.report import pct
from qwill.evaluation.runner import machine, score_next_edit
from qwill.nextedit.rules import error_count

# (package, older release, the release after it): pure Python, sdists on PyPI
RELEASES: tuple[tuple[str, str, str], ...] = (
    ("attrs", "23.1.0", "23.2.0"),
    ("click", "8.1.6", "8.1.7"),
    ("idna", "3.6", "3.7"),
    ("packaging", "23.1", "23.2"),
    ("requests", "2.31.0", "2.32.0"),
    ("more-itertools", "10.1.0", "10.2.0"),
)
# the target starts at most this many lines below the user's edit: inside the editable
# region the server chooses by default (nextEdit.regionLines 15, most of it below the cursor)
MAX_GAP = 8
MAX_EARLIER = 1  # user's edits above the last one, sent first
PER_RELEASE = 12  # cases one release pair gives at the most (one package does not decide the result)
BASELINE = "predict-nothing"
LOAD_TIMEOUT = 900.0
INDEX_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """A release could not be fetched or read (message for the user)."""


# -- the releases -----------------------------------------------------------------------
def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _cached_sdist(cache: Path, package: str, version: str) -> Path | None:
    want = f"{_normalised(package)}-{version}"
    for p in sorted(cache.glob("*")):
        stem = p.name.removesuffix(".tar.gz").removesuffix(".zip")
        if stem != p.name and _normalised(stem.rsplit("-", 1)[0]) + "-" + stem.rsplit("-", 1)[-1] == want:
            return p
    return None


def fetch_sdist(package: str, version: str, cache: Path) -> Path:
    """The sdist of `package==version`, downloaded by pip into `cache` once."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached_sdist(cache, package, version)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--no-binary", ":all:", "-d", str(cache), f"{package}=={version}"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    found = _cached_sdist(cache, package, version)
    if found is None:
        tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
        raise BenchError(f"pip could not download the sdist of {package}=={version}: " + " / ".join(tail))
    return found


def read_sdist(path: Path) -> dict[str, str]:
    """The Python files of an sdist, by path below its top folder."""
    out: dict[str, str] = {}
    members: list[tuple[str, bytes]] = []
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                members = [(i.filename, z.read(i)) for i in z.infolist()
                           if i.filename.endswith(".py") and i.file_size <= MAX_FILE_CHARS]
        else:
            with tarfile.open(path) as t:
                for m in t.getmembers():
                    f = t.extractfile(m) if m.isfile() and m.name.endswith(".py") and m.size <= MAX_FILE_CHARS \
                        else None
                    if f is not None:
                        members.append((m.name, f.read()))
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    for name, data in members:
        parts = name.split("/", 1)
        if len(parts) != 2:
            continue
        try:
            out[parts[1]] = data.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            continue
    return out


def _worth_predicting(case: NextEditCase) -> bool:
    """A target that only adds or removes blank lines, or only touches comments, is not an
    edit anyone would want predicted."""
    old = case.before.splitlines(keepends=True)[case.second.start:case.second.end]
    changed = [ln.strip() for ln in [*old, *case.second.new.splitlines()] if ln.strip()]
    return bool(changed) and not all(ln.startswith("#") for ln in changed)


def mine_release(package: str, old_version: str, new_version: str, old: dict[str, str],
                 new: dict[str, str], *, max_gap: int = MAX_GAP, max_earlier: int = MAX_EARLIER) -> list[NextEditCase]:
    """Next-edit cases from every Python file both releases have and that changed
    between them. The path of a case is `package-old/file` (where the benchmark writes
    the older release as the workspace)."""
    cases = []
    for rel in sorted(set(old) & set(new)):
        before, after = old[rel], new[rel]
        spec = language_for("", rel)
        if before == after or spec is None or spec.name != "python":
            continue
        path = f"{package}-{old_version}/{rel}"
        for case in split_cases(f"{package} {old_version}->{new_version}:{rel}", path, spec.name, before, after,
                                max_gap=max_gap, max_earlier=max_earlier):
            if _worth_predicting(case):
                cases.append(NextEditCase(f"{case.id}@{case.second.start + 1}", case.path, case.language,
                                          case.before, case.first, case.second, case.earlier))
    return cases


def choose(cases_by_release: Sequence[list[NextEditCase]], max_cases: int, seed: int,
           per_release: int = PER_RELEASE) -> list[NextEditCase]:
    """Up to `per_release` cases of each release pair, at most `max_cases` in all, drawn with `seed`."""
    rng = random.Random(f"next-edit-bench:{seed}")
    pools = []
    for cases in cases_by_release:
        pool = list(cases)
        rng.shuffle(pool)
        pools.append(pool[:per_release])
    out: list[NextEditCase] = []
    while len(out) < max_cases and any(pools):
        for pool in pools:  # round robin: every package is in a short run too
            if pool and len(out) < max_cases:
                out.append(pool.pop(0))
    return out


# -- scoring ----------------------------------------------------------------------------
def _common_head(a: list[str], b: list[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _common_tail(a: list[str], b: list[str], head: int) -> int:
    n = 0
    while n < min(len(a), len(b)) - head and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def edited_region(edited: str, predicted: str, truth: str) -> tuple[str, str]:
    """The lines where the prediction or the truth differ from the user's file: that span
    of the prediction and of the truth. Outside it all three files are the same, so the
    two are equal exactly when the prediction leaves the file as the real change did."""
    e, p, t = (x.splitlines(keepends=True) for x in (edited, predicted, truth))
    head = min(_common_head(e, p), _common_head(e, t))
    tail = min(_common_tail(e, p, head), _common_tail(e, t, head))
    return "".join(p[head:len(p) - tail]), "".join(t[head:len(t) - tail])


def _changed_spans(a: str, b: str) -> list[tuple[int, int]]:
    """Lines [i, j) of `a` that `b` replaces or deletes; an insertion before line i is (i, i)."""
    ops = difflib.SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False).get_opcodes()
    return [(i1, i2) for tag, i1, i2, _, _ in ops if tag != "equal"]


def touches_other_lines(edited: str, predicted: str, truth: str) -> bool:
    """Whether the prediction changes a line (or inserts between lines) of the user's file
    that the real change leaves alone."""
    wanted = _changed_spans(edited, truth)
    for i, j in _changed_spans(edited, predicted):
        if i == j:  # an insertion: where the truth inserts too, or inside lines it replaces
            covered = any((lo == hi == i) or lo < i < hi for lo, hi in wanted)
        else:
            covered = any(lo <= i and j <= hi for lo, hi in wanted)
        if not covered:
            return True
    return False


@dataclass
class Row:
    case: str
    model: str
    shown: bool  # a prediction came back
    exact: bool  # the edited region (and so the file) is exactly as the real change left it
    similarity: float  # of the edited region, prediction against truth
    located: bool  # it edits the lines the real change edits
    noop: bool  # it came back and changes nothing, or the server dropped it as changing nothing
    harmful: bool  # the file parses worse than the user's, or lines the real change keeps are changed
    parse_worse: bool
    seconds: float
    reason: str  # why nothing was shown
    diff: str = ""  # the prediction against the user's file (for reading the cases)


def score(case: NextEditCase, model: str, answer: EditAnswer) -> Row:
    edited, truth = case.edited, case.truth
    predicted = answer.predicted if answer.predicted is not None else edited
    got, want = edited_region(edited, predicted, truth)
    base = score_next_edit(case, answer)
    shown = answer.predicted is not None
    parse_worse = False
    harmful = False
    if shown and predicted != edited:
        spec = language_for(case.language, case.path)
        parse_worse = spec is not None and error_count(predicted, spec) > error_count(edited, spec)
        harmful = parse_worse or touches_other_lines(edited, predicted, truth)
    noop = (shown and predicted == edited) or "changes nothing" in answer.reason
    diff = "".join(difflib.unified_diff(edited.splitlines(True), predicted.splitlines(True), n=1))
    return Row(case.id, model, shown, got == want, round(metrics.similarity(got, want), 4), base.located, noop,
               harmful, parse_worse, round(answer.seconds, 4), answer.reason, diff)


def _share(flags: list[bool]) -> float | None:
    return round(100.0 * sum(flags) / len(flags), 1) if flags else None


def summary(rows: list[Row]) -> dict[str, Any]:
    lat = [r.seconds for r in rows]
    shown = [r for r in rows if r.shown]
    return {
        "n": len(rows),
        "exact_pct": _share([r.exact for r in rows]),
        "similarity_mean": round(sum(r.similarity for r in rows) / len(rows), 4) if rows else None,
        "shown_pct": _share([r.shown for r in rows]),
        "located_pct": _share([r.located for r in rows]),
        "noop_pct": _share([r.noop for r in rows]),
        "harmful_pct": _share([r.harmful for r in rows]),
        "harmful_of_shown_pct": _share([r.harmful for r in shown]),
        "parse_worse_pct": _share([r.parse_worse for r in rows]),
        "p50_s": round(p, 3) if (p := pct(lat, 0.5)) is not None else None,
        "p95_s": round(p, 3) if (p := pct(lat, 0.95)) is not None else None,
        "not_shown": dict(Counter(_reason_kind(r.reason) for r in rows if not r.shown).most_common()),
    }


def _reason_kind(reason: str) -> str:
    """The server's reasons without the numbers and names in them (for counting)."""
    return re.sub(r"\(.*?\)", "(...)", reason)[:80] or "no prediction"


# -- running ----------------------------------------------------------------------------
@dataclass
class ModelRun:
    model: str
    state: str = "ok"
    message: str = ""
    load_seconds: float = 0.0
    model_info: dict[str, Any] = field(default_factory=dict)
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def write_workspace(root: Path, releases: Sequence[tuple[str, str, dict[str, str]]]) -> None:
    """The older release of each package as files below `root` (the server's workspace)."""
    for package, version, files in releases:
        for rel, text in files.items():
            p = root / f"{package}-{version}" / rel
            if not p.exists() or p.read_text(encoding="utf-8", errors="replace") != text:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text, encoding="utf-8")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


async def run_all(models: Sequence[str], root: Path, cases: Sequence[NextEditCase], timeout: float,
                  budget: float, after_case: Any = lambda runs: None, log: Any = print,
                  settings: dict[str, Any] | None = None) -> tuple[list[ModelRun], int]:
    """One server per model, all loaded at once; each case asked of every model in turn,
    so that a run the budget cuts short has the same cases for every model. Returns the
    runs and how many cases were done."""
    deadline = time.monotonic() + budget
    runs = [ModelRun(m, load_before=_load()) for m in models]
    drivers = [ServerDriver(m, root, init_options=settings) for m in models]
    done = 0
    try:
        for run, driver in zip(runs, drivers, strict=True):
            try:
                ready = await driver.start(LOAD_TIMEOUT)
            except DriverError as exc:
                run.state, run.message = "error", str(exc)
                continue
            run.load_seconds, run.model_info = round(ready.seconds, 2), ready.model
            if ready.state != "ready":
                run.state, run.message = "error", ready.message
                continue
            await driver.wait_index(INDEX_TIMEOUT)
            log(f"  [{run.model}] loaded in {ready.seconds:.1f} s")
        for i, case in enumerate(cases):
            if time.monotonic() > deadline:
                log(f"  the budget of {budget:.0f} s is spent after {i} of {len(cases)} cases")
                break
            for run, driver in zip(runs, drivers, strict=True):
                if run.state != "ok":
                    continue
                try:
                    answer = await driver.next_edit(case, (root / case.path).as_uri(), timeout)
                except DriverError as exc:
                    run.state, run.message = "error", str(exc)
                    continue
                if answer is None:
                    answer = EditAnswer(None, f"no answer within {timeout:.0f} s", timeout)
                row = score(case, run.model, answer)
                run.rows.append(row)
                log(f"  [{run.model}] {i + 1}/{len(cases)} {case.id}: "
                    f"{'exact' if row.exact else f'sim {row.similarity:.2f}'}"
                    f"{' harmful' if row.harmful else ''}{'' if row.shown else ' (' + row.reason[:60] + ')'}"
                    f" {row.seconds:.1f}s load {_load()[:1]}")
            done = i + 1
            for run in runs:
                run.load_after = _load()
            after_case(runs)
    finally:
        for driver in drivers:
            await driver.close()
    return runs, done


def baseline(cases: Sequence[NextEditCase]) -> ModelRun:
    run = ModelRun(BASELINE, load_before=_load())
    run.rows = [score(c, BASELINE, EditAnswer(None, "the baseline predicts nothing", 0.0)) for c in cases]
    run.load_after = run.load_before
    return run


def table(runs: Sequence[ModelRun]) -> str:
    head = ["model", "cases", "exact", "similarity", "shown", "at the place", "no-op", "harmful",
            "p50 s", "p95 s", "load (1 min) before/after"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        s = summary(r.rows)

        def f(x: Any, suffix: str = "") -> str:
            return "-" if x is None else f"{x}{suffix}"

        latency = r.model != BASELINE
        lines.append("| " + " | ".join([
            r.model + ("" if r.state == "ok" else f" ({r.state}: {r.message[:60]})"), str(s["n"]),
            f(s["exact_pct"], "%"), f(s["similarity_mean"]), f(s["shown_pct"], "%"), f(s["located_pct"], "%"),
            f(s["noop_pct"], "%"), f(s["harmful_pct"], "%"),
            f(s["p50_s"]) if latency else "-", f(s["p95_s"]) if latency else "-",
            f"{r.load_before[0] if r.load_before else '-'} / {r.load_after[0] if r.load_after else '-'}"
            if latency else "-"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--models", default="default,default-1.5b",
                    help="comma-separated models as `qwill serve --model` takes them (default: default,default-1.5b)")
    ap.add_argument("--max-cases", type=int, default=30, help="cases in all (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one prediction may take (default 600)")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "qwill-bench" / "next-edit", help="where the sdists are cached and the workspace is written")
    ap.add_argument("--threads", type=int, default=0,
                    help="engine.nThreads of the servers (0: Qwill's default; 1 is faster on a machine other "
                         "work keeps busy)")
    ap.add_argument("--budget", type=float, default=3600.0,
                    help="seconds for all models together; the cases not reached by then are left out of "
                         "every model's figures alike (default 3600)")
    ap.add_argument("--json", type=Path, help="write every case's outcome and the summaries here "
                                              "(rewritten after every case)")
    ap.add_argument("--list", action="store_true", help="print the cases and exit (no model runs)")
    args = ap.parse_args(argv)
    if args.max_cases < 1:
        ap.error("--max-cases must be at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    t0 = time.monotonic()
    mined, trees = [], []
    try:
        for package, old_v, new_v in RELEASES:
            old = read_sdist(fetch_sdist(package, old_v, args.work / "sdists"))
            new = read_sdist(fetch_sdist(package, new_v, args.work / "sdists"))
            found = mine_release(package, old_v, new_v, old, new)
            print(f"{package} {old_v} -> {new_v}: {len(found)} cases", file=sys.stderr)
            mined.append(found)
            trees.append((package, old_v, old))
    except BenchError as exc:
        print(f"next_edit: {exc}", file=sys.stderr)
        return 2
    cases = choose(mined, args.max_cases, args.seed)
    if args.list:
        for c in cases:
            print(f"{c.id}\n{''.join(difflib.unified_diff(c.before.splitlines(True), c.truth.splitlines(True)))}")
        return 0
    root = args.work / "workspace"
    write_workspace(root, trees)
    print(f"{len(cases)} cases; models: {', '.join(models)}; machine: {machine()}", file=sys.stderr)
    command = " ".join(["python", "-m", "benchmarks.next_edit", *(argv if argv is not None else sys.argv[1:])])

    def write(runs: list[ModelRun], done: int) -> None:
        if not args.json:
            return
        reached = cases[:done]
        base = baseline(reached)
        out = {"command": command, "nice": os.nice(0), "machine": machine(), "threads": args.threads or "default",
               "seconds": round(time.monotonic() - t0, 1), "cases_done": done, "cases_chosen": len(cases),
               "releases": [list(r) for r in RELEASES], "max_gap": MAX_GAP, "max_earlier": MAX_EARLIER,
               "cases": [{"id": c.id, "path": c.path, "diff": "".join(difflib.unified_diff(
                   c.before.splitlines(True), c.truth.splitlines(True)))} for c in reached],
               "runs": [{"model": r.model, "state": r.state, "message": r.message, "load_seconds": r.load_seconds,
                         "model_info": r.model_info, "load_before": r.load_before, "load_after": r.load_after,
                         "summary": summary(r.rows), "rows": [asdict(x) for x in r.rows]}
                        for r in [base, *runs]]}
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, args.json)

    counter = {"done": 0}

    def after_case(runs: list[ModelRun]) -> None:
        counter["done"] += 1
        write(runs, counter["done"])

    runs, done = asyncio.run(run_all(models, root, cases, args.timeout, args.budget, after_case,
                                     lambda s: print(s, file=sys.stderr, flush=True),
                                     {"engine": {"nThreads": args.threads}} if args.threads else None))
    write(runs, done)
    print(table([baseline(cases[:done]), *runs]))
    return 1 if any(r.state != "ok" for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

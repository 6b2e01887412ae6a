"""Code actions: how long the list takes, and what an action costs on the real model.

1. The list (textDocument/codeAction without the model): ActionService.offers at
   many cursor positions of a 2,000-line real module (default
   `email/_header_value_parser.py`), each with one diagnostic under the cursor.
2. With `--model`: fix and docstring on a small Python snippet with the default
   GGUF, each run `--runs` times: prompt tokens, generated tokens, seconds.

    .venv/bin/python -m benchmarks.code_actions [--model] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sysconfig
import time
from pathlib import Path

from qwill.actions.service import ActionService
from qwill.actions.targets import ActionKind, ActionTarget, Diagnostic
from qwill.context.document import DocumentStore, Position
from qwill.context.syntax import SyntaxStore
from qwill.engine.worker import EngineWorker

SNIPPET = '''import json


def load_config(path):
    with open(path) as f:
        data = json.load(f)
    return data["settings"]


def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(value)
'''


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_list(path: Path, lines: int, positions: int, seed: int) -> None:
    text = "".join(path.read_text().splitlines(keepends=True)[:lines])
    docs = DocumentStore()
    svc = ActionService(EngineWorker(), docs, syntax=SyntaxStore(docs))
    doc = docs.open(path.resolve().as_uri(), text, 1, "python")
    rng = random.Random(seed)
    n_lines = text.count("\n")
    times, counts = [], []
    for _ in range(positions):
        line = rng.randrange(n_lines)
        pos = Position(line, 4)
        diag = Diagnostic("undefined name 'x'", pos, Position(line, 5), "pyflakes")
        t0 = time.perf_counter()
        offers = svc.offers(doc, pos, pos, diagnostics=[diag], roots=[path.parent])
        times.append(time.perf_counter() - t0)
        counts.append(len(offers))
    svc.worker.shutdown()
    print(f"list: {positions} positions in {lines} lines of {path.name}: "
          f"p50 {pct(times, 0.5) * 1000:.1f} ms, p95 {pct(times, 0.95) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms; {statistics.mean(counts):.1f} actions on average")


async def bench_model(runs: int) -> None:
    from qwill.config import EngineSettings
    from qwill.engine.loader import load_engine
    from qwill.engine.resolve import resolve_model

    worker = EngineWorker()
    worker.load(lambda: load_engine(EngineSettings(model=str(resolve_model("default")), context_size=4096))).result()
    docs = DocumentStore()
    svc = ActionService(worker, docs, syntax=SyntaxStore(docs))
    doc = docs.open("file:///bench/util.py", SNIPPET, 1, "python")
    diag = Diagnostic("undefined name 'value'", Position(13, 23), Position(13, 28), "pyflakes", "F821")
    cases = {
        "fix": ActionTarget(ActionKind.FIX, doc.uri, diag.start, diag.end, 1, (diag,)),
        "docstring": ActionTarget(ActionKind.DOCSTRING, doc.uri, Position(11, 4), Position(11, 4), 1),
    }
    for name, target in cases.items():
        rows = []
        for _ in range(runs):
            t0 = time.perf_counter()
            result = await svc.run(target)
            rows.append((time.perf_counter() - t0, result))
        secs = [r[0] for r in rows]
        last = rows[-1][1]
        ok = sum(1 for _, r in rows if r.ok)
        print(f"{name}: {ok}/{runs} accepted; prompt {last.stats.prompt_tokens} tokens "
              f"({last.stats.prompt_eval_tokens} evaluated on the last run), "
              f"{statistics.mean(r.stats.generated_tokens for _, r in rows):.0f} generated; "
              f"median {statistics.median(secs):.1f} s (min {min(secs):.1f}, max {max(secs):.1f})")
    worker.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", default=str(Path(sysconfig.get_paths()["stdlib"]) / "email/_header_value_parser.py"))
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--positions", type=int, default=300)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--model", action="store_true", help="also run fix and docstring on the default model")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    bench_list(Path(args.file), args.lines, args.positions, args.seed)
    if args.model:
        asyncio.run(bench_model(args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

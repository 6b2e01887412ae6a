"""Incremental re-parse cost per keystroke on a 2,000-line file, and context assembly cost.

Takes the first 2,000 lines of a real standard-library module (default
`email/_header_value_parser.py`), opens it in a DocumentStore with a
SyntaxStore attached, and types keystrokes at several places (insertions and
backspaces, as an editor sends them). Reports the time of the syntax update
per keystroke (tree edit + incremental parse), a full parse for comparison,
and the time ContextProvider.build takes for a prompt at the cursor.

    .venv/bin/python -m benchmarks.reparse_speed
"""

from __future__ import annotations

import argparse
import random
import statistics
import sysconfig
import time
from pathlib import Path

from qwill.completion.prompt import make_window
from qwill.context.document import DocumentStore, Position, Range, TextChange
from qwill.context.languages import get_language, parser_for
from qwill.context.provider import ContextProvider
from qwill.context.syntax import SyntaxStore


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", default=str(Path(sysconfig.get_paths()["stdlib"]) / "email/_header_value_parser.py"))
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--keystrokes", type=int, default=600)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)

    text = "".join(Path(args.file).read_text().splitlines(keepends=True)[: args.lines])
    spec = get_language("python")
    assert spec is not None
    docs = DocumentStore()
    syntax = SyntaxStore(docs)
    provider = ContextProvider(docs, syntax)
    provider.index_roots([Path(args.file).parent])
    uri = "file://" + str(Path(args.file).resolve())
    doc = docs.open(uri, text, 1, "python")

    full: list[float] = []
    for _ in range(10):
        t0 = time.perf_counter()
        parser_for(spec).parse(text.encode())
        full.append(time.perf_counter() - t0)

    # Time the syntax listener and the re-parse separately: wrap the listener.
    timings: list[float] = []  # document update + tree edit (what a keystroke costs)
    reparses: list[float] = []  # the incremental re-parse, when the tree is read after it
    listener = syntax._on_change  # the bound method DocumentStore calls

    def timed(d, edits):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        listener(d, edits)
        timings.append(time.perf_counter() - t0)
        tree = syntax.get(uri)
        t0 = time.perf_counter()
        tree.reparse()
        reparses.append(time.perf_counter() - t0)

    docs.listeners[docs.listeners.index(listener)] = timed
    rng = random.Random(args.seed)
    typed = "value = self.parse(token) + 1"
    builds: list[float] = []
    version = 2
    line = rng.randrange(doc.line_count)
    col = len(doc.line(line)) - len(doc.line(line).lstrip())
    i = 0
    while len(timings) < args.keystrokes:
        if i % 40 == 0:  # move to another place, as a user does
            line = rng.randrange(50, doc.line_count - 50)
            col = len(doc.line(line))
            docs.change(uri, version, [TextChange("\n" + " " * 8, Range(Position(line, col), Position(line, col)))])
            version += 1
            line, col = line + 1, 8
            if i == 0:
                timings.clear()
                reparses.clear()
        ch = typed[i % len(typed)]
        if i % 9 == 8:  # a backspace now and then
            docs.change(uri, version, [TextChange("", Range(Position(line, col - 1), Position(line, col)))])
            col -= 1
        else:
            docs.change(uri, version, [TextChange(ch, Range(Position(line, col), Position(line, col)))])
            col += 1
        version += 1
        i += 1
        if i % 10 == 0:
            offset = doc.offset_at(Position(line, col))
            w = make_window(doc.text, offset, 80, 30)
            t0 = time.perf_counter()
            provider.build(uri, doc.text, offset, w.start, w.end, path=uri[7:], language_id="python")
            builds.append(time.perf_counter() - t0)
    tree = syntax.get(uri)
    assert tree is not None and str(tree.root) == str(parser_for(spec).parse(doc.text.encode()).root_node)
    ms = [t * 1000 for t in timings]
    print(f"file: {args.file} (first {args.lines} lines, {len(text):,} chars)")
    print(f"full parse: median {statistics.median(full) * 1000:.2f} ms")
    print(f"syntax update per keystroke, tree edit only ({len(ms)} keystrokes): median "
          f"{statistics.median(ms):.3f} ms, p95 {pct(ms, 0.95):.3f} ms")
    rp = [t * 1000 for t in reparses]
    print(f"incremental re-parse per keystroke (tree read after every keystroke): median "
          f"{statistics.median(rp):.2f} ms, p95 {pct(rp, 0.95):.2f} ms, max {max(rp):.2f} ms")
    bms = [t * 1000 for t in builds]
    print(f"context build per request ({len(bms)} requests): median {statistics.median(bms):.2f} ms, "
          f"p95 {pct(bms, 0.95):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

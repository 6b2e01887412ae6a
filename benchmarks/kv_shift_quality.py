"""Evidence for the re-anchoring decision: move the cached FIM suffix (KV shift) or
evaluate it again?

When the user has typed a line and the prompt is re-anchored, the new prompt is
the old one with the typed text inserted before the suffix. The engine can move
the suffix's cached K/V to its new position (the K/V were computed without the
inserted text: an approximation) or evaluate the suffix again (exact). For real
functions of the Python standard library this script replays exactly that and
compares, on the default model:

- how often the two give the same suggestion,
- exact match of each against the line the author actually wrote next,
- prompt tokens evaluated and time to the suggestion.

    python -m benchmarks.kv_shift_quality [--sites 40]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from qwill.completion.kv_planner import PlannerLimits, new_anchor
from qwill.config import EngineSettings
from qwill.engine.base import CancelToken, GenerationRequest, GenerationStats
from qwill.engine.fim import TEMPLATES
from qwill.engine.llama import LlamaEngine
from qwill.engine.loader import load_engine

FILES = ["textwrap.py", "shlex.py", "fractions.py", "statistics.py", "difflib.py", "csv.py",
         "configparser.py", "heapq.py", "json/decoder.py", "argparse.py", "calendar.py"]
_DEF = re.compile(r"^[ \t]*def \w+\(.*\).*:\s*$")


def sites(n: int) -> list[tuple[str, int, str, str]]:
    """(document, cursor after the typed line, typed line, the author's next line)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for rel in FILES:
        text = (lib / rel).read_text(encoding="utf-8")
        lines = text.split("\n")
        for i, line in enumerate(lines[:-3]):
            if not _DEF.match(line):
                continue
            # first two simple body lines (no docstring, same indent)
            a, b = lines[i + 1], lines[i + 2]
            ind = re.match(r"[ \t]*", a).group(0)  # type: ignore[union-attr]
            if not a.strip() or a.strip().startswith(('"', "'", "#")) or not b.startswith(ind) \
                    or not b.strip() or b[len(ind)] in " \t":
                continue
            before = "\n".join(lines[: i + 1]) + "\n"
            after = "\n" + "\n".join(lines[i + 3:])
            doc = before + a + "\n" + ind + after
            cursor = len(before) + len(a) + 1 + len(ind)
            out.append((doc, cursor, a + "\n" + ind, b[len(ind):]))
            if len(out) >= n:
                return out
    return out


def run(engine: LlamaEngine, prompt: str, shift: bool = False) -> tuple[str, GenerationStats, float]:
    stats = GenerationStats()
    t0 = time.perf_counter()
    request = GenerationRequest(prompt, max_tokens=32, stop=(*TEMPLATES["qwen"].stop, "\n"), kv_shift=shift)
    text = "".join(engine.generate(request, CancelToken(), stats))
    return text, stats, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=40)
    ap.add_argument("--json")
    args = ap.parse_args()
    engine = load_engine(EngineSettings(context_size=4096))
    assert isinstance(engine, LlamaEngine)
    tpl = TEMPLATES["qwen"]
    limits = PlannerLimits(lines_before=120, lines_after=40, window_tokens=1536)
    rows: list[dict[str, Any]] = []
    for doc, cursor, typed, truth in sites(args.sites):
        start = cursor - len(typed)
        # the prompt before the user typed the line (anchored where typing began)
        a0 = new_anchor("u", doc[:start] + doc[cursor:], start, limits)
        p0 = tpl.render(a0.prefix, a0.suffix)
        # the re-anchored prompt after typing it
        a1 = new_anchor("u", doc, cursor, limits)
        p1 = tpl.render(a1.prefix, a1.suffix)
        result: dict[str, Any] = {"truth": truth.strip()}
        for mode in ("shift", "exact"):
            run(engine, p0)  # the cache holds the old prompt, as in the editor
            text, stats, seconds = run(engine, p1, shift=mode == "shift")
            result[mode] = {"text": text.strip(), "evaluated": stats.prompt_eval_tokens,
                            "shifted": stats.shifted_tokens, "seconds": round(seconds, 3)}
        rows.append(result)
        print(json.dumps(result), flush=True)
    n = len(rows)
    summary = {
        "sites": n,
        "same_suggestion": sum(r["shift"]["text"] == r["exact"]["text"] for r in rows) / n,
        "exact_match_shift": sum(r["shift"]["text"] == r["truth"] for r in rows) / n,
        "exact_match_exact": sum(r["exact"]["text"] == r["truth"] for r in rows) / n,
        "evaluated_shift_mean": statistics.fmean(r["shift"]["evaluated"] for r in rows),
        "evaluated_exact_mean": statistics.fmean(r["exact"]["evaluated"] for r in rows),
        "seconds_shift_p50": statistics.median(r["shift"]["seconds"] for r in rows),
        "seconds_exact_p50": statistics.median(r["exact"]["seconds"] for r in rows),
    }
    print("summary:", json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

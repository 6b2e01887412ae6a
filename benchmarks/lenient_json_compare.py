"""qwill.agent.lenient_json against json-repair and partial-json-parser, on broken tool calls.

The corpus is the agent's own tool calls (reads, edits whose old/new text is code with
quotes, backslashes, newlines and non-ASCII, commands, whole-file writes, plans), each
written the ways models break JSON: trailing commas, single quotes, Python literals,
raw newlines and tabs in strings, unquoted keys, comments, missing commas, missing
closing brackets (a generation cut at max tokens), a string cut short, inner quotes left
unescaped, regex backslashes left unescaped. Every case has the value the model meant,
so each parser's answer is right, an error (told to the model, which can retry), or a
wrong value returned silently (the agent would act on it: the worst outcome).

    python -m benchmarks.lenient_json_compare [--repeat 20] [--json out.json]

Speed is the time per parse over the whole corpus, and over the valid cases alone
(most model output is valid JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwill.agent import lenient_json

EDIT_OLD = 'def greet(name):\n    print("hello, " + name)\n'
EDIT_NEW = 'def greet(name: str) -> None:\n\tprint(f"hello, {name}!")  # Grüße 😀\n'
REGEX = r"^\s*(\d+)\.(\d+)$"
WHOLE_FILE = ('"""Settings."""\n\nimport json\n\n\nDEFAULTS = {"indent": 4, "quote": \'"\'}\n\n\n'
              'def load(path):\n    with open(path) as fh:\n        return {**DEFAULTS, **json.load(fh)}\n')

CALLS: list[dict[str, Any]] = [
    {"name": "read_file", "arguments": {"path": "src/app.py", "start_line": 10, "end_line": 40}},
    {"name": "edit_file", "arguments": {"path": "greet.py", "old_text": EDIT_OLD, "new_text": EDIT_NEW}},
    {"name": "run_command", "arguments": {"command": "pytest -q tests/test_app.py -k 'not slow'",
                                          "timeout": 120}},
    {"name": "write_file", "arguments": {"path": "settings.py", "content": WHOLE_FILE}},
    {"name": "todo", "arguments": {"items": ["read the tests", "fix parse()", "run pytest"], "done": False}},
    {"name": "grep", "arguments": {"pattern": REGEX, "glob": "**/*.py"}},
    {"name": "rename_symbol", "arguments": {"old": "fetch_data", "new": "load_data", "path": None}},
    {"name": "create_file", "arguments": {"path": "docs/NOTES.md", "content": "# Notes\n\n- first: `x`\n"}},
]


# -- writing a value the ways models do --------------------------------------------------------
def _string(s: str, *, quote: str = '"', raw_newlines: bool = False, raw_quotes: bool = False,
            raw_backslashes: bool = False) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\" if raw_backslashes else "\\\\")
        elif ch == quote:
            out.append(ch if raw_quotes else "\\" + ch)
        elif ch == "\n":
            out.append("\n" if raw_newlines else "\\n")
        elif ch == "\t":
            out.append("\t" if raw_newlines else "\\t")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def write(v: Any, **style: Any) -> str:
    """`v` as text in a style: quote, raw_newlines, raw_quotes, raw_backslashes, bare_keys,
    trailing_comma, python, comments, no_commas."""
    if isinstance(v, dict):
        sep = " " if style.get("no_commas") else ", "
        items = []
        for k, x in v.items():
            key = k if style.get("bare_keys") else _string(k, quote=style.get("quote", '"'))
            items.append(f"{key}: {write(x, **style)}")
        body = sep.join(items) + ("," if style.get("trailing_comma") and items else "")
        head = "{ // the call\n" if style.get("comments") else "{"
        return head + body + "}"
    if isinstance(v, list):
        return "[" + ", ".join(write(x, **style) for x in v) + ("," if style.get("trailing_comma") else "") + "]"
    if isinstance(v, str):
        return _string(v, quote=style.get("quote", '"'), raw_newlines=style.get("raw_newlines", False),
                       raw_quotes=style.get("raw_quotes", False),
                       raw_backslashes=style.get("raw_backslashes", False))
    if v is None:
        return "None" if style.get("python") else "null"
    if isinstance(v, bool):
        return ("True" if v else "False") if style.get("python") else ("true" if v else "false")
    return json.dumps(v)


@dataclass
class Case:
    kind: str
    text: str
    expected: Any


def _cut_string(call: dict[str, Any]) -> Case | None:
    """The generation stopped inside the last string argument."""
    args = call["arguments"]
    last = list(args)[-1]
    if not isinstance(args[last], str) or len(args[last]) < 4:
        return None
    keep = len(args[last]) // 2
    while keep > 0 and args[last][keep - 1] in "\\\n\t\"":
        keep -= 1
    short = {**call, "arguments": {**args, last: args[last][:keep]}}
    text = json.dumps(short, ensure_ascii=False).rstrip("}]")
    return Case("string cut short", text[:-1], short)  # the closing quote too


def corpus() -> list[Case]:
    cases: list[Case] = []
    for call in CALLS:
        strings = json.dumps(call)
        has = {"newline": "\\n" in strings or "\\t" in strings, "quote": '\\"' in strings,
               "backslash": "\\\\" in strings}
        cases.append(Case("valid", json.dumps(call, ensure_ascii=False), call))
        cases.append(Case("valid, indented", json.dumps(call, ensure_ascii=False, indent=2), call))
        cases.append(Case("trailing commas", write(call, trailing_comma=True), call))
        cases.append(Case("single quotes", write(call, quote="'"), call))
        cases.append(Case("Python literals (repr)", repr(call), call))
        cases.append(Case("unquoted keys", write(call, bare_keys=True), call))
        cases.append(Case("comments", write(call, comments=True), call))
        cases.append(Case("missing commas", write(call, no_commas=True), call))
        if has["newline"]:
            cases.append(Case("raw newlines and tabs in strings", write(call, raw_newlines=True), call))
        if has["quote"]:
            cases.append(Case("inner quotes unescaped", write(call, raw_quotes=True), call))
        if has["backslash"]:
            cases.append(Case("backslashes unescaped", write(call, raw_backslashes=True), call))
        full = json.dumps(call, ensure_ascii=False)
        closers = len(full) - len(full.rstrip("}]"))
        for k in range(1, closers + 1):
            cases.append(Case("missing closing brackets", full[:-k], call))
        cut = _cut_string(call)
        if cut is not None:
            cases.append(cut)
    return cases


# -- the parsers ----------------------------------------------------------------------------------
def parsers() -> dict[str, Callable[[str], Any]]:
    import json_repair
    import partial_json_parser

    def repair(text: str) -> Any:
        value = json_repair.loads(text)
        if value == "" and text.strip():  # its answer for "nothing readable"
            raise ValueError("json-repair found no value")
        return value

    return {"qwill lenient_json": lenient_json.loads, "json-repair": repair,
            "partial-json-parser": partial_json_parser.loads}


def evaluate(cases: list[Case], fns: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, fn in fns.items():
        by_kind: dict[str, dict[str, int]] = {}
        wrong_examples: list[str] = []
        for case in cases:
            row = by_kind.setdefault(case.kind, {"right": 0, "error": 0, "wrong": 0})
            try:
                value = fn(case.text)
            except Exception:
                row["error"] += 1
                continue
            if value == case.expected:
                row["right"] += 1
            else:
                row["wrong"] += 1
                if len(wrong_examples) < 3:
                    wrong_examples.append(f"{case.kind}: {case.text[:70]!r} -> {str(value)[:70]!r}")
        total = {k: sum(r[k] for r in by_kind.values()) for k in ("right", "error", "wrong")}
        out[name] = {"total": total, "by_kind": by_kind, "wrong_examples": wrong_examples}
    return out


def timing(cases: list[Case], fns: dict[str, Callable[[str], Any]], repeat: int) -> dict[str, dict[str, float]]:
    valid = [c for c in cases if c.kind.startswith("valid")]
    out: dict[str, dict[str, float]] = {}
    for name, fn in fns.items():
        row: dict[str, float] = {}
        for label, group in (("all", cases), ("valid", valid)):
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                for case in group:
                    try:
                        fn(case.text)
                    except Exception:
                        pass
                best = min(best, time.perf_counter() - t0)
            row[f"us_per_parse_{label}"] = round(best / len(group) * 1e6, 1)
        out[name] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="timing runs (the best is kept)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    cases = corpus()
    fns = parsers()
    quality = evaluate(cases, fns)
    speed = timing(cases, fns, args.repeat)
    kinds = list(dict.fromkeys(c.kind for c in cases))
    print(f"{len(cases)} cases, {len(CALLS)} tool calls; {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    names = list(fns)
    print(f"{'':36}" + "".join(f"{n:>24}" for n in names))
    for kind in kinds:
        cells = []
        for n in names:
            r = quality[n]["by_kind"][kind]
            cells.append(f"{r['right']}/{sum(r.values())} ({r['wrong']} wrong)")
        print(f"{kind:36}" + "".join(f"{c:>24}" for c in cells))
    print(f"{'right / error / silently wrong':36}" + "".join(
        f"{'{right} / {error} / {wrong}'.format(**quality[n]['total']):>24}" for n in names))
    print(f"{'us per parse (all / valid)':36}" + "".join(
        f"{speed[n]['us_per_parse_all']:>14} / {speed[n]['us_per_parse_valid']:<7}" for n in names))
    for n in names:
        for ex in quality[n]["wrong_examples"]:
            print(f"  {n} wrong: {ex}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cases": len(cases), "quality": quality, "speed": speed}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`qwill eval`'s scoring and report: summaries per run, language and context source, the
JSON, the terminal table, and the HTML page with its SVG plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

from qwill.evaluation.lsp_driver import Answer
from qwill.evaluation.mining import Hole, TypingSite
from qwill.evaluation.report import (
    by_source,
    fim_summary,
    render_html,
    render_terminal,
    source_ablation,
    svg_bars,
    svg_cdf,
    table_rows,
    to_json,
    typing_summary,
    write_json,
)
from qwill.evaluation.runner import EvalResult, RunResult, score_fim, score_keystroke

LINE = Hole("a.py:3:9", "a.py", "python", "line", 0, 0, "x + y)")
BLOCK = Hole("b.ts:2:block", "b.ts", "typescript", "block", 0, 0, "let s = 0;\n  return s;")
SITE = TypingSite("a.py:4:typing", "a.py", "python", 0, "return a", "return a + b\n")


def _answer(text: str, seconds: float = 0.5, sources: tuple[str, ...] = ()) -> Answer:
    return Answer(text, seconds, "model", 10, 100, sources, 40 if sources else 0)


def test_fim_holes_are_scored_as_the_benchmarks_score_them() -> None:
    exact = score_fim(LINE, _answer("x + y)\n\nprint(1)"))  # a line hole is its first line
    assert exact.exact and exact.similarity == 1.0
    near = score_fim(LINE, _answer("x+y)"))
    assert not near.exact and 0.5 < near.similarity < 1
    block = score_fim(BLOCK, _answer("let s = 0;   \n  return s;\n\n"))  # trailing space and lines
    assert block.exact
    assert not score_fim(BLOCK, _answer("")).exact


def test_keystrokes_are_scored_against_what_the_user_types_next() -> None:
    # after "return " the user types "a + b"
    agree = score_keystroke(SITE, 7, _answer("a + b"))
    assert agree.shown and agree.first_line and agree.accepted
    prefix = score_keystroke(SITE, 7, _answer("a"))  # shorter, still typed through
    assert prefix.first_line and prefix.accepted
    wrong = score_keystroke(SITE, 7, _answer("b - a"))
    assert wrong.shown and not wrong.first_line and not wrong.accepted
    empty = score_keystroke(SITE, 7, _answer(""))
    assert not empty.shown and not empty.first_line


def _result() -> EvalResult:
    a = RunResult("m1", "m1", "on", fim=[
        score_fim(LINE, _answer("x + y)", 0.2, ("definitions",))),
        score_fim(BLOCK, _answer("nope", 0.4)),
    ], keystrokes=[
        score_keystroke(SITE, 0, _answer("return a + b", 1.0)),  # the site's first request: cold
        score_keystroke(SITE, 7, _answer("a + b", 0.1)),
        score_keystroke(SITE, 8, _answer("", 0.3)),
    ])
    b = RunResult("m1 (window only)", "m1", "off", fim=[
        score_fim(LINE, _answer("x", 0.1)), score_fim(BLOCK, _answer("nope", 0.1))])
    return EvalResult(root="/repo", seed=3, budget=60, machine={"cores": 2}, corpus={"python": 1, "typescript": 1},
                      holes=2, sites=1, keystrokes=3, next_edit_cases=0, runs=[a, b], notes=["next-edit: not measured"], started=0.0,
                      seconds=12.0)


def test_summaries() -> None:
    res = _result()
    run = res.runs[0]
    f = fim_summary(run.fim)
    assert f["n"] == 2 and f["exact_pct"] == 50.0 and f["empty_pct"] == 0.0
    t = typing_summary(run.keystrokes)
    # the first request of a site is not a keystroke: two keystrokes, one agreeing, one empty
    assert t["keystrokes"] == 2 and t["first_line_pct"] == 50.0 and t["empty_pct"] == 50.0
    assert t["accepted_pct"] == 100.0 and t["first_request_p50_s"] == 1.0 and t["p50_s"] == 0.1
    assert set(by_source(run)) == {"definitions", "none"}
    assert by_source(run)["definitions"]["exact_pct"] == 100.0
    (ablation, any_source) = source_ablation(res)
    assert ablation["source"] == "definitions" and any_source["source"] == "any"
    assert ablation["exact_off_pct"] == 0.0 and ablation["exact_on_pct"] == 100.0


def test_json_report_holds_every_outcome_and_the_summary(tmp_path: Path) -> None:
    res = _result()
    write_json(res, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data == json.loads(json.dumps(to_json(res)))
    assert len(data["runs"][0]["keystrokes"]) == 3 and data["runs"][0]["fim"][0]["prediction"] == "x + y)"
    assert data["summary"]["runs"][1]["context"] == "off"
    assert data["notes"] == ["next-edit: not measured"]


def test_terminal_table_without_a_terminal_is_markdown() -> None:
    out: list[str] = []
    render_terminal(_result(), out.append, rich=False)
    text = "\n".join(out)
    _, rows = table_rows(_result())
    assert "| model | holes | exact % |" in text and len(rows) == 2
    assert "| m1 | 2 | 50.0 |" in text and "| m1 (window only) | 2 | 0.0 |" in text
    assert "By context source" in text


def test_html_is_self_contained_with_svg_plots() -> None:
    page = render_html(_result())
    assert page.startswith("<!doctype html>") and page.count("<svg") == 7
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "<script" not in page
    assert "FIM exact match by context source in the prompt" in page
    assert "The same holes without context (window only) and with it" in page


def test_svg_plots_draw_what_they_are_given() -> None:
    cdf = svg_cdf([("a", [0.1, 0.2, 0.3, 0.4]), ("b", [1.0, 2.0])], "latency")
    assert cdf.count("<polyline") == 2 and "a: p50 0.20 s, n=4" in cdf and "b: p50 1.00 s, n=2" in cdf
    assert "nothing measured" in svg_cdf([("a", [])], "latency")
    bars = svg_bars(["python", "typescript"], [("m1", [50.0, None]), ("m2", [25.0, 75.0])], "exact")
    assert bars.count("<rect") == 3 + 2  # three bars (one not measured) and two legend keys
    assert "m2 typescript: 75.0%" in bars
    assert "<svg" in svg_bars([], [], "empty") and "nothing measured" in svg_bars([], [], "empty")

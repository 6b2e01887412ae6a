"""What `qwill eval` measured, summarised: numbers per run, per language and per
context source; the JSON report, the terminal table, and a self-contained HTML
page whose plots are SVG drawn here (no plotting library)."""

from __future__ import annotations

import html
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from . import metrics
from .runner import EvalResult, FimOutcome, KeystrokeOutcome, NextEditOutcome, RunResult

SOURCES = ("definitions", "scope", "similar", "recent-edits")
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")


# -- numbers --------------------------------------------------------------------------------

def pct(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def _share(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 4) if values else None


def fim_summary(rows: Sequence[FimOutcome]) -> dict[str, Any]:
    lat = [r.seconds for r in rows]
    sim = _mean(r.similarity for r in rows)
    return {
        "n": len(rows),
        "exact_pct": _share(r.exact for r in rows),
        "similarity_pct": round(100 * sim, 1) if sim is not None else None,
        "empty_pct": _share(not r.prediction.strip() for r in rows),
        "p50_s": _round(pct(lat, 0.5)), "p95_s": _round(pct(lat, 0.95)),
        "context_tokens_mean": round(statistics.fmean(r.context_tokens for r in rows)) if rows else None,
    }


def typing_summary(rows: Sequence[KeystrokeOutcome]) -> dict[str, Any]:
    """Latency and usefulness over keystrokes (metrics.Usefulness: rates over every keystroke,
    an empty answer a miss; the accepted rate over the suggestions shown)."""
    # the request before the first keystroke (n == 0) opens the site: its latency is the
    # cold start, reported apart, as the typing-trace benchmark does
    keys = [r for r in rows if r.typed > 0]
    first = [r.seconds for r in rows if r.typed == 0]
    lat = [r.seconds for r in keys]
    model = [r.seconds for r in keys if r.source == "model"]
    use = metrics.Usefulness.of(r.outcome for r in keys)
    rates = use.as_dict() if keys else {}
    return {
        "keystrokes": len(keys),
        "p50_s": _round(pct(lat, 0.5)), "p95_s": _round(pct(lat, 0.95)),
        "first_request_p50_s": _round(pct(first, 0.5)),
        "model_call_p50_s": _round(pct(model, 0.5)),
        "empty_pct": rates.get("empty_pct"),
        "first_line_pct": rates.get("first_line_agreement_pct"),
        "whole_pct": rates.get("whole_agreement_pct"),
        "accepted_pct": rates.get("accepted_pct") if use.shown else None,
        "cache_pct": _share(r.source != "model" for r in keys),
        "evaluated_tokens_mean": round(statistics.fmean(r.evaluated_tokens for r in keys), 1) if keys else None,
    }


def next_edit_summary(rows: Sequence[NextEditOutcome]) -> dict[str, Any]:
    lat = [r.seconds for r in rows]
    return {"n": len(rows), "shown_pct": _share(r.shown for r in rows), "exact_pct": _share(r.exact for r in rows),
            "located_pct": _share(r.located for r in rows), "p50_s": _round(pct(lat, 0.5))}


def _round(x: float | None) -> float | None:
    return round(x, 3) if x is not None else None


def by_language(run: RunResult) -> dict[str, dict[str, Any]]:
    langs = sorted({r.language for r in run.fim} | {r.language for r in run.keystrokes})
    return {lang: {"fim": fim_summary([r for r in run.fim if r.language == lang]),
                   "typing": typing_summary([r for r in run.keystrokes if r.language == lang])}
            for lang in langs}


def by_kind(run: RunResult) -> dict[str, dict[str, Any]]:
    return {k: fim_summary([r for r in run.fim if r.kind == k]) for k in ("line", "block")
            if any(r.kind == k for r in run.fim)}


def by_source(run: RunResult) -> dict[str, dict[str, Any]]:
    """FIM outcomes grouped by the context sources that were in the prompt ("none": the
    window alone)."""
    out: dict[str, dict[str, Any]] = {}
    for src in SOURCES:
        rows = [r for r in run.fim if src in r.context_sources]
        if rows:
            out[src] = fim_summary(rows)
    none = [r for r in run.fim if not r.context_sources]
    if none:
        out["none"] = fim_summary(none)
    return out


def source_ablation(result: EvalResult) -> list[dict[str, Any]]:
    """For a model run both with context and window-only: on the holes where a source was
    in the prompt, exact match and similarity without it and with it."""
    rows: list[dict[str, Any]] = []
    on = {r.model: r for r in result.runs if r.context == "on"}
    off = {r.model: r for r in result.runs if r.context == "off"}
    for model in on:
        if model not in off:
            continue
        base = {f.hole: f for f in off[model].fim}
        for src in (*SOURCES, "any"):
            with_src = [f for f in on[model].fim if f.hole in base and (
                src in f.context_sources if src != "any" else bool(f.context_sources))]
            if not with_src:
                continue
            without = [base[f.hole] for f in with_src]
            a, b = fim_summary(without), fim_summary(with_src)
            rows.append({"model": model, "source": src, "n": len(with_src),
                         "exact_off_pct": a["exact_pct"], "exact_on_pct": b["exact_pct"],
                         "similarity_off_pct": a["similarity_pct"], "similarity_on_pct": b["similarity_pct"]})
    return rows


def summarise(result: EvalResult) -> dict[str, Any]:
    return {
        "runs": [{"label": r.label, "model": r.model, "context": r.context, "state": r.state,
                  "message": r.message, "load_s": r.load_seconds, "seconds": r.seconds,
                  "model_info": r.model_info,
                  "fim": fim_summary(r.fim), "typing": typing_summary(r.keystrokes),
                  "next_edit": next_edit_summary(r.next_edits),
                  "by_language": by_language(r), "by_kind": by_kind(r), "by_source": by_source(r)}
                 for r in result.runs],
        "source_ablation": source_ablation(result),
    }


def to_json(result: EvalResult) -> dict[str, Any]:
    data = asdict(result)
    data["summary"] = summarise(result)
    data["started_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.started))
    return data


def write_json(result: EvalResult, path: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json(result), f, indent=2)


# -- terminal -------------------------------------------------------------------------------

def _fmt(x: Any, suffix: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.2f}{suffix}" if suffix == " s" else f"{x:.1f}{suffix}"
    return f"{x}{suffix}"


def table_rows(result: EvalResult) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per run."""
    head = ["model", "holes", "exact %", "similarity %", "FIM p50", "keystrokes", "p50", "p95",
            "first-line %", "whole %", "accepted %", "empty %", "next edits", "exact %", "at the place %",
            "state"]
    rows = []
    for r in result.runs:
        f, t, n = fim_summary(r.fim), typing_summary(r.keystrokes), next_edit_summary(r.next_edits)
        rows.append([r.label, _fmt(f["n"]), _fmt(f["exact_pct"]), _fmt(f["similarity_pct"]),
                     _fmt(f["p50_s"], " s"), _fmt(t["keystrokes"]), _fmt(t["p50_s"], " s"),
                     _fmt(t["p95_s"], " s"), _fmt(t["first_line_pct"]), _fmt(t["whole_pct"]),
                     _fmt(t["accepted_pct"]), _fmt(t["empty_pct"]),
                     _fmt(n["n"]) if result.next_edit_cases else "-", _fmt(n["exact_pct"]), _fmt(n["located_pct"]),
                     r.state if not r.message else f"{r.state}: {r.message}"])
    return head, rows


def language_rows(result: EvalResult) -> tuple[list[str], list[list[str]]]:
    head = ["model", "language", "holes", "exact %", "similarity %", "keystrokes", "first-line %", "p50"]
    rows = []
    for r in result.runs:
        for lang, s in by_language(r).items():
            f, t = s["fim"], s["typing"]
            rows.append([r.label, lang, _fmt(f["n"]), _fmt(f["exact_pct"]), _fmt(f["similarity_pct"]),
                         _fmt(t["keystrokes"]), _fmt(t["first_line_pct"]), _fmt(t["p50_s"], " s")])
    return head, rows


def source_rows(result: EvalResult) -> tuple[list[str], list[list[str]]]:
    head = ["model", "context in the prompt", "holes", "exact %", "similarity %", "context tokens"]
    rows = []
    for r in result.runs:
        for src, f in by_source(r).items():
            rows.append([r.label, src, _fmt(f["n"]), _fmt(f["exact_pct"]), _fmt(f["similarity_pct"]),
                         _fmt(f["context_tokens_mean"])])
    return head, rows


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_terminal(result: EvalResult, print_fn: Callable[[Any], None], *, rich: bool) -> None:
    """The tables, with rich on a terminal, as Markdown otherwise."""
    tables = [("Qwill eval", table_rows(result)), ("By language", language_rows(result)),
              ("By context source (FIM holes)", source_rows(result))]
    for title, (head, rows) in tables:
        if not rows:
            continue
        if rich:
            from rich.table import Table

            t = Table(title=title)
            for i, h in enumerate(head):
                t.add_column(h, justify="left" if i == 0 or h in ("language", "state", "context in the prompt")
                             else "right")
            for row in rows:
                t.add_row(*row)
            print_fn(t)
        else:
            print_fn(f"\n{title}\n\n{markdown_table(head, rows)}")


# -- HTML and SVG ---------------------------------------------------------------------------

def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def svg_cdf(series: Sequence[tuple[str, Sequence[float]]], title: str, xlabel: str = "seconds",
            width: int = 640, height: int = 300) -> str:
    """Cumulative distribution lines, one per series (share of requests answered within x)."""
    series = [(n, sorted(v)) for n, v in series if v]
    left, right, top, bottom = 56, 16, 28, 44
    w, h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{_esc(title)}</text>']
    if not series:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12">'
                     "nothing measured</text></svg>")
        return "".join(parts)
    xmax = max(pct(v, 0.99) or 0 for _, v in series) or 1.0
    xmax = _nice(xmax)
    for i in range(5):  # grid and axes
        y = top + h - h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{25 * i}%</text>')
        x = left + w * i / 4
        parts.append(f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle" font-size="11">'
                     f"{xmax * i / 4:.2g}</text>")
    parts.append(f'<text x="{left + w / 2}" y="{height - 8}" text-anchor="middle" font-size="11">'
                 f"{_esc(xlabel)}</text>")
    for k, (name, values) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        pts = [f"{left:.1f},{top + h:.1f}"]
        n = len(values)
        for i, v in enumerate(values):
            x = left + w * min(v, xmax) / xmax
            pts.append(f"{x:.1f},{top + h - h * i / n:.1f}")
            pts.append(f"{x:.1f},{top + h - h * (i + 1) / n:.1f}")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(pts)}"/>')
        p50 = pct(values, 0.5) or 0
        parts.append(f'<text x="{left + w - 4}" y="{top + h - 10 - 14 * k}" text-anchor="end" font-size="11" '
                     f'fill="{color}">{_esc(name)}: p50 {p50:.2f} s, n={n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(x: float) -> float:
    if x <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if x <= m * exp:
            return m * exp
    return 10.0 * exp


def svg_bars(groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], title: str,
             ymax: float = 100.0, unit: str = "%", width: int = 640, height: int = 300) -> str:
    """Grouped bars: one group per category, one bar per series (None: not measured)."""
    left, right, top, bottom = 48, 16, 28, 64
    w, h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{_esc(title)}</text>']
    if not groups or not series:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12">'
                     "nothing measured</text></svg>")
        return "".join(parts)
    for i in range(5):
        y = top + h - h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                     f"{ymax * i / 4:g}{unit}</text>")
    gw = w / len(groups)
    bw = gw * 0.8 / len(series)
    for g, group in enumerate(groups):
        gx = left + g * gw + gw * 0.1
        parts.append(f'<text x="{left + g * gw + gw / 2:.1f}" y="{top + h + 16}" text-anchor="middle" '
                     f'font-size="11">{_esc(group)}</text>')
        for k, (_, values) in enumerate(series):
            v = values[g]
            if v is None:
                continue
            bh = h * min(v, ymax) / ymax
            x = gx + k * bw
            parts.append(f'<rect x="{x:.1f}" y="{top + h - bh:.1f}" width="{max(bw - 2, 1):.1f}" '
                         f'height="{bh:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{_esc(series[k][0])} '
                         f"{_esc(group)}: {v:.1f}{unit}</title></rect>"
                         f'<text x="{x + bw / 2:.1f}" y="{top + h - bh - 3:.1f}" text-anchor="middle" '
                         f'font-size="10">{v:.0f}</text>')
    for k, (name, _) in enumerate(series):  # legend
        x = left + k * (w / max(1, len(series)))
        parts.append(f'<rect x="{x:.1f}" y="{height - 22}" width="10" height="10" '
                     f'fill="{PALETTE[k % len(PALETTE)]}"/><text x="{x + 14:.1f}" y="{height - 13}" '
                     f'font-size="11">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def plots(result: EvalResult) -> list[str]:
    runs = result.runs
    out = [svg_cdf([(r.label, [k.seconds for k in r.keystrokes if k.typed > 0]) for r in runs],
                   "Typing trace: latency per keystroke (share answered within x)"),
           svg_cdf([(r.label, [f.seconds for f in r.fim]) for r in runs],
                   "Fill-in-the-middle holes: latency (share answered within x)")]
    langs = sorted({f.language for r in runs for f in r.fim} | {k.language for r in runs for k in r.keystrokes})
    per_lang = [by_language(r) for r in runs]
    out.append(svg_bars(langs, [(r.label, [pl.get(lang, {}).get("fim", {}).get("exact_pct") for lang in langs])
                                for r, pl in zip(runs, per_lang, strict=True)],
                        "FIM exact match by language"))
    out.append(svg_bars(langs, [(r.label, [pl.get(lang, {}).get("fim", {}).get("similarity_pct")
                                           for lang in langs]) for r, pl in zip(runs, per_lang, strict=True)],
                        "FIM edit similarity by language"))
    out.append(svg_bars(langs, [(r.label, [pl.get(lang, {}).get("typing", {}).get("first_line_pct")
                                           for lang in langs]) for r, pl in zip(runs, per_lang, strict=True)],
                        "Typing trace: first-line agreement by language"))
    per_src = [by_source(r) for r in runs]
    srcs = [s for s in (*SOURCES, "none") if any(s in ps for ps in per_src)]
    out.append(svg_bars(srcs, [(r.label, [ps.get(s, {}).get("exact_pct") for s in srcs])
                               for r, ps in zip(runs, per_src, strict=True)],
                        "FIM exact match by context source in the prompt"))
    out.append(svg_bars(srcs, [(r.label, [ps.get(s, {}).get("similarity_pct") for s in srcs])
                               for r, ps in zip(runs, per_src, strict=True)],
                        "FIM edit similarity by context source in the prompt"))
    return out


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f4f4f4}td{text-align:right}td:first-child{text-align:left}.plots svg{margin:0.5em;
border:1px solid #eee}pre{background:#f8f8f8;padding:4px;white-space:pre-wrap;font-size:12px;margin:0}
.note{color:#555}"""


def render_html(result: EvalResult) -> str:
    m = result.machine
    head = (f"<h1>qwill eval: {_esc(result.root)}</h1><p class='note'>"
            f"{_esc(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(result.started)))} · {_esc(m.get('system'))}, "
            f"{_esc(m.get('cpu'))}, {_esc(m.get('cores'))} cores, load {_esc(m.get('load_1min'))} · seed "
            f"{result.seed} · budget {result.budget:.0f} s, took {result.seconds:.0f} s · "
            f"{result.holes} holes, {result.sites} typing sites ({result.keystrokes} requests) from files: "
            f"{_esc(', '.join(f'{k} {v}' for k, v in result.corpus.items()))}</p>")
    parts = [head, "<h2>Summary</h2>", _html_table(*table_rows(result)),
             "<h2>Plots</h2><div class='plots'>", *plots(result), "</div>",
             "<h2>By language</h2>", _html_table(*language_rows(result)),
             "<h2>By context source</h2>", _html_table(*source_rows(result))]
    ablation = source_ablation(result)
    if ablation:
        parts += ["<h3>The same holes without context (window only) and with it</h3>", _html_table(
            ["model", "source in the prompt", "holes", "exact % without", "exact % with",
             "similarity % without", "similarity % with"],
            [[a["model"], a["source"], str(a["n"]), _fmt(a["exact_off_pct"]), _fmt(a["exact_on_pct"]),
              _fmt(a["similarity_off_pct"]), _fmt(a["similarity_on_pct"])] for a in ablation])]
    if any(r.next_edits for r in result.runs):
        parts.append("<h2>Next edits (from git history)</h2>" + _html_table(
            ["model", "case", "prediction", "exact", "at the place", "s"],
            [[r.label, n.case, "shown" if n.shown else (n.reason or "none"), "yes" if n.exact else "",
              "yes" if n.located else "", f"{n.seconds:.2f}"] for r in result.runs for n in r.next_edits]))
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in result.notes) + "</ul>")
    for r in result.runs:
        parts.append(f"<h2>Holes: {_esc(r.label)}</h2>")
        parts.append("<table><thead><tr><th>hole</th><th>target</th><th>suggestion</th><th>exact</th>"
                     "<th>similarity</th><th>s</th><th>context</th></tr></thead><tbody>" + "".join(
                         f"<tr><td>{_esc(f.hole)}</td><td><pre>{_esc(f.target)}</pre></td><td><pre>"
                         f"{_esc(f.prediction)}</pre></td><td>{'yes' if f.exact else ''}</td>"
                         f"<td>{f.similarity:.2f}</td><td>{f.seconds:.2f}</td>"
                         f"<td>{_esc(', '.join(f.context_sources) or 'none')}</td></tr>" for f in r.fim)
                     + "</tbody></table>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>qwill eval</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")

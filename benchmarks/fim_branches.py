"""Could a reranker beat greedy decoding at single-line fill-in-the-middle holes?

For each single-line hole of benchmarks/fim_quality.py's seeded choice, the window-only prompt
(llama.cpp FIM as llama.vim asks for it: the `window` configuration there) is evaluated once;
the model's K most likely first tokens are then each continued greedily to the end of the line
(or the end of the middle), with every token's log-probability. The first branch is the greedy
answer, so its score is the `window` baseline's. Printed: how many holes have the right line
among the K branches (the ceiling of any reranker of these candidates), and what choosing by
total or mean log-probability (end of the middle included) would score.

    .venv/bin/python -m benchmarks.fim_branches --python-sdist click==8.1.7 --threads 1
    .venv/bin/python -m benchmarks.fim_branches --summarise benchmarks/.work/fim_branches-click.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.fim_quality import (
    PEER_LINES_AFTER,
    PEER_LINES_BEFORE,
    PEER_PREFIX_TOKENS,
    PEER_SUFFIX_TOKENS,
    WORK,
    choose_cases,
    sdist_corpus,
)
from qwill.completion.prompt import window_bounds
from qwill.config import parse_settings
from qwill.engine.base import CancelToken, GenerationStats
from qwill.engine.fim import FimParts
from qwill.evaluation.metrics import normalise, similarity
from qwill.session import Session

Branch = dict[str, Any]


class Brancher:
    """Greedy continuations of the K most likely first tokens, on the loaded llama.cpp engine
    (its own KV sequence, rewound between branches)."""

    def __init__(self, engine: Any) -> None:
        import llama_cpp
        import numpy as np

        self.np, self.lib, self.engine, self.llm = np, llama_cpp, engine, engine.llm
        self.n_vocab = self.llm.n_vocab()
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.seq = engine._sequence("branches")

    def tokenize(self, text: str) -> list[int]:
        return list(self.engine.tokenize(text))

    def _eog(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def _piece(self, token: int) -> str:
        return bytes(self.llm.detokenize([token], special=True)).decode("utf-8", errors="replace")

    def _logprobs(self) -> Any:
        a = self.np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.n_vocab,))
        a = a.astype(self.np.float64)
        m = a.max()
        return a - (m + math.log(self.np.exp(a - m).sum()))

    def _at(self, pos: int, tokens: list[int]) -> None:
        self.engine._truncate_cache(self.seq, pos)
        self.engine._decode_at(self.seq, tokens, pos, CancelToken())
        self.seq.tokens.extend(tokens)

    def branches(self, prompt: str, k: int, max_tokens: int = 40) -> list[Branch]:
        tokens = self.tokenize(prompt)
        self.engine._truncate_cache(self.seq, 0)
        assert self.engine._prepare(self.seq, tokens, CancelToken(), GenerationStats())
        base = len(self.seq.tokens)
        first = self._logprobs()
        out = []
        for t in (int(x) for x in self.np.argsort(-first)[:k]):
            if self._eog(t):
                out.append({"line": "", "lps": [], "end": "eos", "end_lp": float(first[t])})
                continue
            toks, lps, text = [t], [float(first[t])], self._piece(t)
            end, end_lp = "length", 0.0
            while len(toks) < max_tokens and "\n" not in text:
                self._at(base + len(toks) - 1, [toks[-1]])
                lp = self._logprobs()
                nxt = int(lp.argmax())
                if self._eog(nxt):
                    end, end_lp = "eos", float(lp[nxt])
                    break
                toks.append(nxt)
                lps.append(float(lp[nxt]))
                text += self._piece(nxt)
            if "\n" in text:
                end = "newline"
            out.append({"line": text.split("\n", 1)[0], "lps": lps, "end": end, "end_lp": end_lp})
        return out


def window_prompt(brancher: Brancher, path: str, offset: int, end: int, template: Any) -> str:
    """benchmarks.fim_quality.run_window's prompt."""
    original = Path(path).read_text(encoding="utf-8", errors="replace")
    text = original[:offset] + original[end:]
    start, stop = window_bounds(text, offset, PEER_LINES_BEFORE, PEER_LINES_AFTER)
    prefix, suffix = text[start:offset], text[offset:stop]
    while "\n" in prefix and len(brancher.tokenize(prefix)) > PEER_PREFIX_TOKENS:
        prefix = prefix.split("\n", 1)[1]
    while "\n" in suffix.rstrip("\n") and len(brancher.tokenize(suffix)) > PEER_SUFFIX_TOKENS:
        suffix = suffix.rstrip("\n").rsplit("\n", 1)[0] + "\n"
    return str(template.render_parts(FimParts(prefix, suffix)))


def _score(b: Branch) -> float:
    return float(sum(b["lps"]) + b["end_lp"])


def _length(b: Branch) -> int:
    return len(b["lps"]) + (b["end"] == "eos")


RULES: dict[str, Callable[[list[Branch]], Branch]] = {
    "greedy (the `window` baseline)": lambda bs: bs[0],
    "highest total log-probability": lambda bs: max(bs, key=_score),
    "highest mean log-probability": lambda bs: max(bs, key=lambda b: _score(b) / max(1, _length(b))),
    "highest mean, non-empty lines": lambda bs: max([b for b in bs if b["line"].strip()] or bs,
                                                    key=lambda b: _score(b) / max(1, _length(b))),
}


def summarise(results: list[dict[str, Any]]) -> str:
    n = len(results)
    rows = [f"holes {n}; the right line among the branches at {sum(any(b['exact'] for b in r['branches']) for r in results)}",
            "| choice | exact match | edit similarity |", "|---|---|---|"]
    for name, rule in RULES.items():
        chosen = [rule(r["branches"]) for r in results]
        exact = sum(b["exact"] for b in chosen)
        rows.append(f"| {name} | {100 * exact / n:.1f} % ({exact}) | {100 * sum(b['sim'] for b in chosen) / n:.1f} % |")
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> int:
    root = sdist_corpus(args.python_sdist)
    cases = [c for c in choose_cases(root, "python", args.single, 0, args.seed) if c.kind == "single"]
    session = Session(parse_settings({"engine": {"model": args.model,
                                                 **({"nThreads": args.threads} if args.threads else {})}}).settings)
    session.completion.speculate = False
    await session.load_model()
    engine = session.worker.engine
    if engine is None or not hasattr(engine, "llm"):
        sys.exit("this probe needs the in-process llama.cpp engine")
    brancher = Brancher(engine)
    out = WORK / f"fim_branches-{args.python_sdist.split('==')[0]}.json"
    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    for idx, case in enumerate(cases):
        t0 = time.perf_counter()
        bs = brancher.branches(window_prompt(brancher, case.path, case.offset, case.end, engine.fim), args.k)
        want = normalise(case.target, "single")
        for b in bs:
            got = normalise(b["line"], "single")
            b["exact"], b["sim"] = got == want, round(similarity(got, want), 4)
        results.append({"case": idx, "target": case.target, "branches": bs})
        print(f"[{idx}] {time.perf_counter() - t0:.1f}s want={want[:50]!r} "
              f"branches={[b['line'][:30] for b in bs]}", file=sys.stderr)
        out.write_text(json.dumps(results, indent=1))
    session.close()
    print(summarise(results))
    print(f"\nraw results: {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python-sdist", metavar="NAME==VERSION", default="tomlkit==0.15.2")
    p.add_argument("--single", type=int, default=40)
    p.add_argument("--k", type=int, default=5, help="first tokens to branch on")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--summarise", metavar="JSON", help="print the table of an earlier run")
    args = p.parse_args(argv)
    if args.summarise:
        print(summarise(json.loads(Path(args.summarise).read_text())))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

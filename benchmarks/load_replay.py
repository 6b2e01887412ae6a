"""Load replay: thousands of keystrokes at editor speed through the real `qwill serve`.

The editor's pattern, over stdio, one keystroke at a time: `didChange` (the
character typed), then `textDocument/inlineCompletion` at the cursor; when the
next keystroke comes while that request is still pending, it is cancelled
with `$/cancelRequest` first (as VS Code does). Keystrokes come 20-60 ms apart
(uniform), with a short pause now and then (the user reads) and a wait for the
suggestion at the end of each edited spot (cancelled if it has not come when
the user moves on). The text typed is the bodies of
real functions of the running Python's standard library (the typing-trace
benchmark's trace), each in its own open document.

Recorded: requests sent / answered / cancelled / failed / never answered (every
request must end answered or cancelled: no unbounded queue), the most requests
in flight at once, answer latency p50/p95, how long a cancel takes to be
acknowledged, and the resident memory of the server and its engine process at
the start, the middle and the end (memory must stay flat).

    python -m benchmarks.load_replay [--model default] [--keystrokes 10000]
    python -m benchmarks.load_replay --fake-token-delay 0.02   # fake engine, 50 tokens/s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.typing_trace import Site, _pos_after, make_trace
from tests.lsp.raw_client import RawServer

REQUEST_CANCELLED = -32800
# What the fake engine answers: 16 word pieces, each costing --fake-token-delay.
FAKE_SUGGESTION = ("result = compute(value, options) if value is not None "
                   "else default_value  # fall back when nothing was given")


@dataclass
class Sent:
    id: int
    at: float
    cancelled_at: float | None = None


@dataclass
class Run:
    sent: list[Sent] = field(default_factory=list)
    max_in_flight: int = 0
    rss: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> {"server": KiB, "engine": KiB}
    seconds: float = 0.0
    keystrokes: int = 0


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(terse=True)}
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                info["cpu"] = row.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def memory(srv: RawServer) -> dict[str, int]:
    tree = srv.rss_tree_kib()
    server = tree.pop(srv.pid, 0)
    return {"server_kib": server, "engine_kib": max(tree.values(), default=0),
            "children_kib": sum(tree.values())}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 4)


def in_flight(srv: RawServer, run: Run) -> int:
    with srv._cond:
        return sum(1 for s in run.sent if s.id not in srv.responses)


def replay(srv: RawServer, sites: list[Site], keystrokes: int, rng: random.Random, *,
           gap: tuple[float, float], pause_every: float, pause: tuple[float, float],
           settle: float) -> Run:
    run = Run()
    version = 1
    pending: Sent | None = None
    t_start = time.monotonic()
    next_at = t_start
    middle_done = False
    for n_site, site in enumerate(sites):
        uri = site.path.as_uri() + f"#load{n_site}"
        version = 1
        srv.open(uri, site.text, version=version)
        for n in range(1, len(site.typed) + 1):
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            with srv._cond:
                answered = pending is not None and pending.id in srv.responses
            if pending is not None and not answered:
                srv.cancel(pending.id)
                pending.cancelled_at = time.monotonic()
            line, col = _pos_after(site, n - 1)
            version += 1
            pos = {"line": line, "character": col}
            srv.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": pos, "end": pos}, "text": site.typed[n - 1]}]})
            line, col = _pos_after(site, n)
            msg_id = srv.start_request("textDocument/inlineCompletion", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": col},
                "context": {"triggerKind": 2}})
            pending = Sent(msg_id, time.monotonic())
            run.sent.append(pending)
            run.keystrokes += 1
            run.max_in_flight = max(run.max_in_flight, in_flight(srv, run))
            next_at = time.monotonic() + rng.uniform(*gap)
            if rng.random() < pause_every:
                next_at += rng.uniform(*pause)
            if not middle_done and run.keystrokes >= keystrokes // 2:
                run.rss["middle"] = memory(srv)
                middle_done = True
            if run.keystrokes >= keystrokes:
                break
            if run.keystrokes % 500 == 0:
                print(f"  {run.keystrokes} keystrokes, {time.monotonic() - t_start:.0f} s", file=sys.stderr)
        # the user stops typing at the end of the spot and looks at the suggestion;
        # then moves on to another file (the editor cancels what is still pending)
        deadline = time.monotonic() + settle
        while pending is not None and time.monotonic() < deadline:
            with srv._cond:
                if pending.id in srv.responses:
                    break
            time.sleep(0.01)
        with srv._cond:
            answered = pending is not None and pending.id in srv.responses
        if pending is not None and not answered:
            srv.cancel(pending.id)
            pending.cancelled_at = time.monotonic()
        pending = None
        srv.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        next_at = time.monotonic()
        if run.keystrokes >= keystrokes:
            break
    run.seconds = time.monotonic() - t_start
    return run


def summarize(srv: RawServer, run: Run) -> dict[str, Any]:
    answered, cancelled, failed, missing = [], [], [], []
    nonempty = 0
    cancel_ack = []
    late_answers = 0
    with srv._cond:
        for s in run.sent:
            resp = srv.responses.get(s.id)
            if resp is None:
                missing.append(s.id)
                continue
            at = srv.arrived[s.id]
            if "result" in resp:
                answered.append(at - s.at)
                nonempty += bool((resp["result"] or {}).get("items"))
                late_answers += s.cancelled_at is not None
            elif resp["error"]["code"] == REQUEST_CANCELLED:
                cancelled.append(s.id)
                if s.cancelled_at is not None:
                    cancel_ack.append(at - s.cancelled_at)
            else:
                failed.append(resp["error"])
    return {
        "keystrokes": run.keystrokes,
        "seconds": round(run.seconds, 1),
        "requests_sent": len(run.sent),
        "answered": len(answered),
        "answered_with_suggestion": nonempty,
        "answered_after_cancel_sent": late_answers,
        "cancelled": len(cancelled),
        "failed": len(failed),
        "never_answered": len(missing),
        "cancel_requests_sent": sum(1 for s in run.sent if s.cancelled_at is not None),
        "max_in_flight": run.max_in_flight,
        "answer_latency_p50_s": pct(answered, 0.5),
        "answer_latency_p95_s": pct(answered, 0.95),
        "answer_latency_mean_s": round(statistics.fmean(answered), 4) if answered else None,
        "cancel_ack_p50_s": pct(cancel_ack, 0.5),
        "cancel_ack_p95_s": pct(cancel_ack, 0.95),
        "failures": failed[:5],
        "rss": run.rss,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="model for qwill serve (default: the default model)")
    ap.add_argument("--fake-token-delay", type=float, default=None,
                    help="use the fake engine instead, this many seconds per generated piece")
    ap.add_argument("--threads", type=int, default=None, help="engine.nThreads (default: all cores)")
    ap.add_argument("--keystrokes", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--min-gap", type=float, default=0.020)
    ap.add_argument("--max-gap", type=float, default=0.060)
    ap.add_argument("--pause-every", type=float, default=0.04, help="chance of a pause after a keystroke")
    ap.add_argument("--pause", type=float, nargs=2, default=(0.3, 0.9), help="pause length range (s)")
    ap.add_argument("--settle", type=float, default=3.0, help="wait for the suggestion at the end of a spot (s)")
    ap.add_argument("--out", type=Path, help="write the JSON result here too")
    ap.add_argument("--log-level", choices=["error", "warning", "info", "debug"],
                    help="the server's logLevel setting (its log goes to a temporary file)")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    sites = make_trace(args.keystrokes, seed=args.seed, lines_typed=2)
    total = sum(len(s.typed) for s in sites)
    if total < args.keystrokes:
        print(f"the trace has {total} keystrokes; replaying those", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="qwill-load-") as tmp:
        if args.fake_token_delay is not None:
            script = Path(tmp) / "fake.json"
            script.write_text(json.dumps({"responses": [], "default": FAKE_SUGGESTION,
                                          "delay": args.fake_token_delay}))
            model = f"fake:{script}"
        else:
            model = args.model
        srv = RawServer(model, stderr_path=Path(tmp) / "server.log").start()
        try:
            engine: dict[str, Any] = {"model": model}
            if args.threads:
                engine["nThreads"] = args.threads
            init: dict[str, Any] = {"engine": engine}
            if args.log_level:
                init["logLevel"] = args.log_level
            srv.initialize(init_options=init, timeout=120)
            status = srv.wait_ready(timeout=900)
            if status["state"] != "ready":
                print(f"the model did not load: {status['message']}", file=sys.stderr)
                return 2
            rss: dict[str, dict[str, int]] = {"start": memory(srv)}
            run = replay(srv, sites, args.keystrokes, rng, gap=(args.min_gap, args.max_gap),
                         pause_every=args.pause_every, pause=tuple(args.pause), settle=args.settle)
            # let what is still in flight end (answered or cancelled)
            deadline = time.monotonic() + 60
            while in_flight(srv, run) and time.monotonic() < deadline:
                time.sleep(0.05)
            run.rss = {"start": rss["start"], "middle": run.rss.get("middle", {}), "end": memory(srv)}
            stats = srv.request("qwill/completionStats", {}, timeout=30).get("result")
            result = {"engine": model if args.fake_token_delay is None else
                      f"fake engine, {args.fake_token_delay * 1000:.0f} ms per piece",
                      "model": (status.get("model") or {}).get("name"),
                      "machine": machine(), **summarize(srv, run), "server_counters": stats,
                      "settings": {"threads": args.threads, "gap_s": [args.min_gap, args.max_gap], "pause_every": args.pause_every,
                                   "pause_s": list(args.pause), "settle_s": args.settle, "seed": args.seed}}
        finally:
            srv.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = result["never_answered"] == 0 and result["failed"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

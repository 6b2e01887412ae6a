"""Agent evaluation: small multi-file tasks on real mini repositories, a real model.

Each task lays out a tiny repository (benchmarks/agent_tasks/<name>/repo), runs
the agent on its instruction with every change approved, then checks the
result with the task's own tests (benchmarks/agent_tasks/<name>/check_*.py,
copied in only after the agent is done, so the agent cannot edit them) plus
any tests the repository already had.

Reported per task and overall: success, steps, tool calls, well-formed
tool-call rate (turns whose tool calls parsed / turns that tried to call a
tool), prompt tokens and prefill (evaluated) tokens per step, and how much of
each step's prompt came from the KV cache.

    python -m benchmarks.agent_eval                      # default-1.5b, every task
    python -m benchmarks.agent_eval --model default --tasks rename_setting
    python -m benchmarks.agent_eval --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwill.agent.appliers import DiskApplier
from qwill.agent.loop import Agent, AgentEvent, new_session
from qwill.config import parse_settings
from qwill.session import ModelState, Session

TASKS_DIR = Path(__file__).parent / "agent_tasks"


@dataclass
class TaskResult:
    name: str
    success: bool
    reason: str
    steps: int
    tool_calls: int
    tool_turns: int  # turns whose tool calls parsed
    malformed_turns: int  # turns that tried to call a tool and could not be read
    applied: int
    rejected: int
    seconds: float
    per_step: list[dict[str, Any]] = field(default_factory=list)
    check_output: str = ""
    answer: str = ""


def load_tasks(names: list[str] | None) -> list[dict[str, Any]]:
    tasks = []
    for d in sorted(TASKS_DIR.iterdir()):
        if not (d / "task.json").is_file() or (names and d.name not in names):
            continue
        spec = json.loads((d / "task.json").read_text())
        spec["name"] = d.name
        spec["dir"] = d
        tasks.append(spec)
    return tasks


def lay_out(task: dict[str, Any], into: Path) -> Path:
    repo = into / task["name"]
    shutil.copytree(task["dir"] / "repo", repo)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def check(task: dict[str, Any], repo: Path) -> tuple[bool, str]:
    checks = sorted(task["dir"].glob("check_*.py"))
    for c in checks:
        shutil.copy(c, repo / c.name)
    targets = [c.name for c in checks] + (["tests"] if (repo / "tests").is_dir() else [])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets],
                       cwd=repo, capture_output=True, text=True, timeout=120)
    return r.returncode == 0, (r.stdout + r.stderr)[-1500:]


async def run_task(session: Session, task: dict[str, Any], workdir: Path, *, max_steps: int,
                   context_size: int, verbose: bool) -> TaskResult:
    repo = lay_out(task, workdir)
    settings = session.settings.agent.model_copy(update={
        "max_steps": max_steps,
        "test_command": f"{sys.executable} -m pytest -q -p no:cacheprovider -p no:asyncio",
        "max_tokens_per_step": 512,
    })
    agent_session = new_session(repo, store_dir=workdir / f".checkpoints-{task['name']}")
    events: list[AgentEvent] = []

    def on_event(ev: AgentEvent) -> None:
        events.append(ev)
        if verbose:
            if ev.kind == "text":
                sys.stderr.write(ev.data["text"])
            elif ev.kind == "tool_call":
                sys.stderr.write(f"\n  -> {ev.data['name']} {json.dumps(ev.data['arguments'])[:160]}\n")
            elif ev.kind == "tool_result":
                sys.stderr.write(f"  <- {ev.data['output'][:160]!r}\n")

    async def approve(command: str, why: str) -> bool:
        return True  # the eval runs in a throwaway directory (and bwrap's sandbox when present)

    agent = Agent(session.agent_worker, settings, DiskApplier(repo), approve_command=approve,
                  on_event=on_event, context_size=context_size)
    t0 = time.perf_counter()
    result = await agent.run(agent_session, task["instruction"])
    seconds = time.perf_counter() - t0
    ok, output = check(task, repo)
    steps_with_calls = len({e.step for e in events if e.kind == "tool_call"})
    per_step = [{"step": s.step, "prompt": s.prompt_tokens, "prefill": s.prompt_eval_tokens,
                 "reused": s.reused_tokens, "generated": s.generated_tokens,
                 "prefill_s": s.prompt_seconds, "generate_s": s.generate_seconds} for s in result.stats]
    return TaskResult(task["name"], ok, result.reason, result.steps, result.tool_calls, steps_with_calls,
                      result.malformed_calls, result.applied, result.rejected, round(seconds, 1), per_step,
                      output if not ok else "", result.message[:300])


def summarize(results: list[TaskResult]) -> dict[str, Any]:
    n = len(results)
    tried = sum(r.tool_turns + r.malformed_turns for r in results)
    steps = [s for r in results for s in r.per_step]
    later = [s for r in results for s in r.per_step[1:]]
    return {
        "tasks": n,
        "success_rate": round(sum(r.success for r in results) / n, 3) if n else 0.0,
        "well_formed_tool_call_rate": round(sum(r.tool_turns for r in results) / tried, 3) if tried else None,
        "mean_steps": round(sum(r.steps for r in results) / n, 2) if n else 0.0,
        "mean_prompt_tokens_per_step": round(sum(s["prompt"] for s in steps) / len(steps), 1) if steps else 0,
        "mean_prefill_tokens_first_step": round(sum(r.per_step[0]["prefill"] for r in results if r.per_step)
                                                / max(1, sum(1 for r in results if r.per_step)), 1),
        "mean_prefill_tokens_later_steps": round(sum(s["prefill"] for s in later) / len(later), 1) if later else 0,
        "kv_reuse_later_steps": round(sum(s["reused"] for s in later) / max(1, sum(s["prompt"] for s in later)), 3),
        "seconds": round(sum(r.seconds for r in results), 1),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def main_async(args: argparse.Namespace) -> int:
    raw = {"engine": {"model": args.model, "contextSize": args.ctx}}
    if args.threads:
        raw["engine"]["nThreads"] = args.threads
    settings = parse_settings(raw).settings
    session = Session(settings)
    t0 = time.perf_counter()
    status = await session.load_model()
    if status.state is not ModelState.READY or session.agent_status.state is not ModelState.READY:
        print(f"model not ready: {session.agent_status.message or status.message}", file=sys.stderr)
        return 2
    print(f"model {args.model} loaded in {time.perf_counter() - t0:.1f}s on {machine()}", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory(prefix="qwill-agent-eval-") as tmp:
        for task in load_tasks(args.tasks):
            print(f"\n### {task['name']}: {task['instruction']}", file=sys.stderr)
            r = await run_task(session, task, Path(tmp), max_steps=args.max_steps, context_size=args.ctx,
                               verbose=args.verbose)
            results.append(r)
            print(f"--> {'PASS' if r.success else 'FAIL'} ({r.reason}) steps={r.steps} calls={r.tool_calls} "
                  f"malformed={r.malformed_turns} applied={r.applied} {r.seconds}s; prefill/step "
                  f"{[s['prefill'] for s in r.per_step]} of {[s['prompt'] for s in r.per_step]}", file=sys.stderr)
            if not r.success and args.verbose:
                print(r.check_output, file=sys.stderr)
    session.close()
    summary = summarize(results)
    report = {"model": args.model, "machine": machine(), "summary": summary,
              "tasks": [asdict(r) for r in results]}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default-1.5b")
    p.add_argument("--tasks", nargs="*", help="task names (default: all)")
    p.add_argument("--max-steps", type=int, default=10)
    p.add_argument("--ctx", type=int, default=8192)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write the full report here")
    p.add_argument("-v", "--verbose", action="store_true")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
